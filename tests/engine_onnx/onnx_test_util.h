#pragma once
// Shared by the ONNX tests: layout conversion between ONNX (channel first) and the engine (NHWC),
// random inputs, and reading protobuf files.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "tinynas/engine/graph.h"

namespace tinynas_test {

// Element (c, y, x) of a channel-first tensor to the engine's (y, x, c), and back.
template <typename T>
std::vector<T> chw_to_hwc(const std::vector<T>& chw, const tinynas::engine::Tensor& t) {
  std::vector<T> hwc(chw.size());
  for (int c = 0; c < t.c; ++c)
    for (int y = 0; y < t.h; ++y)
      for (int x = 0; x < t.w; ++x) hwc[(size_t(y) * t.w + x) * t.c + c] = chw[(size_t(c) * t.h + y) * t.w + x];
  return hwc;
}

template <typename T>
std::vector<T> hwc_to_chw(const std::vector<T>& hwc, const tinynas::engine::Tensor& t) {
  std::vector<T> chw(hwc.size());
  for (int c = 0; c < t.c; ++c)
    for (int y = 0; y < t.h; ++y)
      for (int x = 0; x < t.w; ++x) chw[(size_t(c) * t.h + y) * t.w + x] = hwc[(size_t(y) * t.w + x) * t.c + c];
  return chw;
}

inline std::vector<float> random_input(const tinynas::engine::Graph& g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(size_t(g.tensors[size_t(g.input)].elements()));
  for (float& v : x) v = u(rng);
  return x;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses a protobuf message (ModelProto, TensorProto) from a file; fails the test when it cannot.
template <typename Proto>
Proto load_proto(const std::string& path) {
  Proto proto;
  EXPECT_TRUE(proto.ParseFromString(read_bytes(path))) << path;
  return proto;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// A small ONNX model written by hand: one float input, initializers, nodes, one float output.
struct OnnxBuilder {
  onnx::ModelProto model;
  onnx::GraphProto& graph = *model.mutable_graph();

  OnnxBuilder(const std::vector<int64_t>& input_dims, int opset = 13) {
    model.set_ir_version(7);
    auto* op = model.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    graph.set_name("hand");
    declare(graph.add_input(), "x", input_dims);
  }

  static void declare(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* type = v->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) type->mutable_shape()->add_dim()->set_dim_value(d);
  }

  // A float initializer with seeded random values in [lo, hi] (`values` when given).
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, uint64_t seed, float lo = -1.0f,
                       float hi = 1.0f) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) v = u(rng);
    return constant(name, dims, values);
  }
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
    auto* t = graph.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return name;
  }
  std::string int64_constant(const std::string& name, const std::vector<int64_t>& values) {
    auto* t = graph.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(int64_t(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                        const std::string& name = "") {
    auto* n = graph.add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? output : name);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return *n;
  }

  static void ints(onnx::NodeProto& n, const char* name, const std::vector<int64_t>& values) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  static void text(onnx::NodeProto& n, const char* name, const std::string& value) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(value);
  }
  static void integer(onnx::NodeProto& n, const char* name, int64_t value) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }

  // Declares the graph output, of rank `rank` with its dimensions left to shape inference, and returns
  // the model.
  onnx::ModelProto finish(const std::string& output, int rank = 4) {
    declare(graph.add_output(), output, {});
    auto* shape = graph.mutable_output(graph.output_size() - 1)->mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int i = 0; i < rank; ++i) shape->add_dim();
    return model;
  }
};

}  // namespace tinynas_test
