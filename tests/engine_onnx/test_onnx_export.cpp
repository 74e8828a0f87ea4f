// Export: float and quantized (QDQ) files that import back to the same network, and that an
// independent runtime (OpenCV's DNN module) runs to the engine's float reference.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cmath>
#include <set>
#include <sstream>

#include "onnx_test_util.h"
#include "test_helpers.h"
#include "tinynas/engine/codegen.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/search_space/space.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::hwc_to_chw;
using tinynas_test::load_proto;
using tinynas_test::max_abs_diff;
using tinynas_test::random_input;
using tinynas_test::read_bytes;
using tinynas_test::TempDir;

namespace {

// Every op kind and activation on a non-square input: a strided conv, depthwise and pointwise convs, a
// grouped conv with a non-square dilated kernel, a residual add, a channel map joining halves of two tensors, a hard-swish, both poolings (asymmetric padding), a squeeze-and-excite gate (global
// pooling, sigmoid, per-channel mul), a fully connected layer on a 3x2x8 tensor (NCHW vs NHWC order),
// an add of two 1x1 tensors, a tanh, a pointwise conv on a fully connected output, another fully
// connected layer, a leaky ReLU, a PRelu with a slope per channel and a softmax.
FloatModel every_op_model() {
  Graph g;
  g.name = "every_op";
  g.input = g.add_tensor(9, 7, 3);
  auto op = [&](OpKind kind, int in, Tensor out_shape, int kernel, int stride, Activation act, int in2 = -1) {
    const int out = g.add_tensor(out_shape.h, out_shape.w, out_shape.c);
    g.ops[size_t(g.add_op(kind, in, out, kernel, stride, in2))].activation = act;
    return out;
  };
  auto unary = [&](int in, UnaryFunction f, float alpha) {
    const Tensor t = g.tensors[size_t(in)];
    const int out = op(OpKind::Unary, in, t, 1, 1, Activation::None);
    g.ops.back().unary = f;
    g.ops.back().alpha = alpha;
    return out;
  };
  const int stem = op(OpKind::Conv2D, g.input, {5, 4, 8}, 3, 2, Activation::Relu6);
  const int dw = op(OpKind::DepthwiseConv2D, stem, {5, 4, 8}, 5, 1, Activation::Relu);
  const int pw = op(OpKind::PointwiseConv2D, dw, {5, 4, 8}, 1, 1, Activation::None);
  const int grouped = op(OpKind::Conv2D, pw, {5, 4, 8}, 1, 1, Activation::None);
  {
    Op& o = g.ops.back();  // 3x2 taps, rows 2 apart, in 4 groups of 2 channels
    o.kernel_h = 3, o.kernel_w = 2, o.dilation_h = 2, o.groups = 4, o.pad_h = 2, o.pad_w = 0;
  }
  const int sum = op(OpKind::Add, grouped, {5, 4, 8}, 1, 1, Activation::Relu, stem);
  const int mixed = op(OpKind::ChannelMap, sum, {5, 4, 8}, 1, 1, Activation::None, stem);
  g.ops.back().channel_map = {4, 5, 6, 7, 8, 9, 10, 11};  // the last half of one, the first of the other
  const int swish = unary(mixed, UnaryFunction::HardSwish, 0.0f);
  const int max_pool = op(OpKind::MaxPool2D, swish, {5, 4, 8}, 3, 1, Activation::None);
  const int gap = op(OpKind::GlobalAvgPool, max_pool, {1, 1, 8}, 5, 1, Activation::None);
  const int gate = unary(gap, UnaryFunction::Sigmoid, 0.0f);
  const int scaled = op(OpKind::Mul, max_pool, {5, 4, 8}, 1, 1, Activation::None, gate);
  const int avg_pool = op(OpKind::AvgPool2D, scaled, {3, 2, 8}, 2, 2, Activation::None);
  const int fc = op(OpKind::FullyConnected, avg_pool, {1, 1, 8}, 1, 1, Activation::Relu);
  const int head = op(OpKind::Add, fc, {1, 1, 8}, 1, 1, Activation::None, gap);
  const int squashed = unary(head, UnaryFunction::Tanh, 0.0f);
  const int mix = op(OpKind::PointwiseConv2D, squashed, {1, 1, 12}, 1, 1, Activation::Relu6);
  const int logits = op(OpKind::FullyConnected, mix, {1, 1, 10}, 1, 1, Activation::None);
  const int leaky = unary(logits, UnaryFunction::LeakyRelu, 0.125f);
  const int prelu = op(OpKind::PRelu, leaky, {1, 1, 10}, 1, 1, Activation::None);
  g.output = op(OpKind::Softmax, prelu, {1, 1, 10}, 1, 1, Activation::None);
  FloatModel m = random_float_model(g, 11);
  m.op_names = {"stem", "dw",   "pw", "grouped", "",  "mixed",   "swish",    "max_pool", "gap",   "gate",   "scaled",
                "avg_pool", "fc", "head", "tanh", "mix", "logits", "leaky", "prelu", "softmax"};
  m.input_mean = 127.5f;
  m.input_std = 64.0f;
  return m;
}

// A sampled subnet of the MCUNet space (w 0.3, r 48, 10 classes) with random weights.
FloatModel search_space_model() {
  search_space::SearchSpace space;
  space.num_classes = 10;
  core::Rng rng(5);
  const search_space::NetworkDesc net = space.describe(space.sample(rng, 0.3, 48));
  return random_float_model(build_graph(net), 3);
}

void expect_same_graph(const FloatModel& a, const FloatModel& b) {
  ASSERT_EQ(a.graph.ops.size(), b.graph.ops.size());
  for (size_t i = 0; i < a.graph.ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i));
    const Op& x = a.graph.ops[i];
    const Op& y = b.graph.ops[i];
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.activation, y.activation);
    EXPECT_EQ(x.channel_map, y.channel_map);
    EXPECT_EQ(x.resize_rows, y.resize_rows);
    EXPECT_EQ(x.resize_cols, y.resize_cols);
    if (x.kind == OpKind::Unary) {
      EXPECT_EQ(x.unary, y.unary);
      EXPECT_EQ(x.alpha, y.alpha);
      EXPECT_EQ(x.beta, y.beta);
    }
    EXPECT_EQ(x.stride_h, y.stride_h);
    EXPECT_EQ(x.stride_w, y.stride_w);
    EXPECT_EQ(x.dilation_h, y.dilation_h);
    EXPECT_EQ(x.dilation_w, y.dilation_w);
    EXPECT_EQ(x.groups, y.groups);
    if (x.kind != OpKind::GlobalAvgPool) {
      EXPECT_EQ(x.kernel_h, y.kernel_h);
      EXPECT_EQ(x.kernel_w, y.kernel_w);
      EXPECT_EQ(x.pad_h, y.pad_h);
      EXPECT_EQ(x.pad_w, y.pad_w);
    }
    const Tensor& tx = a.graph.tensors[size_t(x.output)];
    const Tensor& ty = b.graph.tensors[size_t(y.output)];
    EXPECT_EQ(tx.h, ty.h);
    EXPECT_EQ(tx.w, ty.w);
    EXPECT_EQ(tx.c, ty.c);
    if (!a.op_names[i].empty()) {
      EXPECT_EQ(a.op_names[i], b.op_names[i]);
    }
  }
  EXPECT_EQ(a.input_mean, b.input_mean);
  EXPECT_EQ(a.input_std, b.input_std);
}

void expect_same_outputs(const FloatModel& a, const FloatModel& b, float tolerance) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const std::vector<float> x = random_input(a.graph, seed);
    EXPECT_LT(max_abs_diff(run_float(a, x), run_float(b, x)), tolerance) << "input seed " << seed;
  }
}

class OnnxFloatExport : public ::testing::TestWithParam<std::string> {
 protected:
  FloatModel model() const { return GetParam() == "every_op" ? every_op_model() : search_space_model(); }
};

TEST_P(OnnxFloatExport, ImportsBackToTheSameNetwork) {
  const FloatModel m = model();
  TempDir dir;
  const std::string path = (dir.path / "model.onnx").string();
  export_onnx_float(m, path);
  const auto file = load_proto<onnx::ModelProto>(path);
  EXPECT_EQ(file.graph().input(0).name(), "input");
  EXPECT_EQ(file.graph().output(0).name(), "output");
  const FloatModel back = import_onnx(path);
  expect_same_graph(m, back);
  expect_same_outputs(m, back, 1e-5f);
}

// Every element-wise function with parameters of its own exports and imports back to itself.
TEST(OnnxFloatExportUnary, EveryFunctionImportsBack) {
  for (const UnaryFunction f : {UnaryFunction::Sigmoid, UnaryFunction::HardSigmoid, UnaryFunction::HardSwish,
                                UnaryFunction::Tanh, UnaryFunction::LeakyRelu, UnaryFunction::Elu, UnaryFunction::Selu,
                                UnaryFunction::Softplus}) {
    SCOPED_TRACE(to_string(f));
    FloatModel m;
    m.graph.name = "unary";
    m.graph.input = m.graph.add_tensor(3, 2, 4);
    m.graph.output = m.graph.add_tensor(3, 2, 4);
    Op& op = m.graph.ops[size_t(m.graph.add_op(OpKind::Unary, m.graph.input, m.graph.output))];
    op.unary = f;
    const bool has_alpha = f == UnaryFunction::HardSigmoid || f == UnaryFunction::LeakyRelu ||
                           f == UnaryFunction::Elu || f == UnaryFunction::Selu;
    op.alpha = has_alpha ? 0.25f : 0.0f;
    op.beta = f == UnaryFunction::HardSigmoid || f == UnaryFunction::Selu ? 0.75f : 0.0f;
    m.params.resize(1);
    m.op_names = {"f"};
    TempDir dir;
    const std::string path = (dir.path / "unary.onnx").string();
    export_onnx_float(m, path);
    const FloatModel back = import_onnx(path);
    expect_same_graph(m, back);
    expect_same_outputs(m, back, 1e-6f);
  }
}

TEST_P(OnnxFloatExport, OpenCvRunsItToTheFloatReference) {
  const FloatModel m = model();
  TempDir dir;
  const std::string path = (dir.path / "model.onnx").string();
  export_onnx_float(m, path);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  const Tensor& in = m.graph.tensors[size_t(m.graph.input)];
  const Tensor& out = m.graph.tensors[size_t(m.graph.output)];
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const std::vector<float> x = random_input(m.graph, seed);
    std::vector<float> x_chw = hwc_to_chw(x, in);
    const int dims[] = {1, in.c, in.h, in.w};
    net.setInput(cv::Mat(4, dims, CV_32F, x_chw.data()));
    const cv::Mat y = net.forward().clone();
    ASSERT_EQ(int64_t(y.total()), out.elements());
    const std::vector<float> got(y.ptr<float>(), y.ptr<float>() + y.total());
    EXPECT_LT(max_abs_diff(got, hwc_to_chw(run_float(m, x), out)), 1e-4f) << "input seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxFloatExport, ::testing::Values("every_op", "search_space"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ---- the quantized (QDQ) form

// A post-training quantization written out here, so that the export is tested apart from
// engine::quantize: min/max activation ranges over a few inputs, symmetric per-channel weights.
QuantizedModel quantize_by_hand(const FloatModel& m) {
  const Graph& g = m.graph;
  QuantizedModel q;
  q.graph = g;
  q.op_names = m.op_names;
  q.tensors.resize(g.tensors.size());
  q.params.resize(g.ops.size());
  std::vector<float> lo(g.tensors.size(), 0.0f), hi(g.tensors.size(), 0.0f);
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const auto values = run_float_all(m, random_input(g, seed));
    for (size_t t = 0; t < values.size(); ++t)
      for (float v : values[t]) lo[t] = std::min(lo[t], v), hi[t] = std::max(hi[t], v);
  }
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    const float scale = std::max(hi[t] - lo[t], 1e-6f) / 255.0f;
    q.tensors[t] = {scale, int32_t(std::lround(-128.0f - lo[t] / scale))};
  }
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const auto& w = m.params[i].weights;
    if (g.ops[i].kind == OpKind::PRelu) {  // one scale for the slopes
      float max_abs = 1e-6f;
      for (float v : w) max_abs = std::max(max_abs, std::abs(v));
      q.params[i].weight_scales = {max_abs / 127.0f};
      for (float v : w) q.params[i].weights.push_back(int8_t(std::lround(v / q.params[i].weight_scales[0])));
      continue;
    }
    const int64_t channels = op_out_channels_with_params(g, g.ops[i]);
    if (channels == 0) continue;
    const size_t per_channel = w.size() / size_t(channels);
    QuantizedOpParams& p = q.params[i];
    const float input_scale = q.tensors[size_t(g.ops[i].input)].scale;
    for (size_t c = 0; c < size_t(channels); ++c) {
      float max_abs = 1e-6f;
      for (size_t j = 0; j < per_channel; ++j) max_abs = std::max(max_abs, std::abs(w[c * per_channel + j]));
      p.weight_scales.push_back(max_abs / 127.0f);
      for (size_t j = 0; j < per_channel; ++j)
        p.weights.push_back(int8_t(std::lround(w[c * per_channel + j] / p.weight_scales.back())));
      p.bias.push_back(int32_t(std::lround(m.params[i].bias[c] / (input_scale * p.weight_scales.back()))));
    }
  }
  return q;
}

// The float network a QDQ file stands for once rounding is dropped: the int8 weights and int32 biases
// dequantized, in float arithmetic as ONNX's DequantizeLinear computes them.
FloatModel dequantized(const QuantizedModel& q) {
  FloatModel m;
  m.graph = q.graph;
  m.op_names = q.op_names;
  m.params.resize(q.params.size());
  m.input_mean = float(q.tensors[size_t(q.graph.input)].zero_point + 128);
  m.input_std = 1.0f / q.tensors[size_t(q.graph.input)].scale;
  for (size_t i = 0; i < q.params.size(); ++i) {
    const QuantizedOpParams& p = q.params[i];
    if (p.weight_scales.empty()) continue;
    const size_t per_channel = p.weights.size() / p.weight_scales.size();
    const float input_scale = q.tensors[size_t(q.graph.ops[i].input)].scale;
    for (size_t j = 0; j < p.weights.size(); ++j) m.params[i].weights.push_back(float(p.weights[j]) * p.weight_scales[j / per_channel]);
    for (size_t c = 0; c < p.bias.size(); ++c)
      m.params[i].bias.push_back(float(p.bias[c]) * (input_scale * p.weight_scales[c]));
  }
  return m;
}

void expect_qdq_round_trip(const QuantizedModel& q) {
  TempDir dir;
  const std::string path = (dir.path / "model_int8.onnx").string();
  export_onnx_quantized(q, path);

  const auto file = load_proto<onnx::ModelProto>(path);
  EXPECT_EQ(file.opset_import(0).version(), 13);
  int int8_weights = 0, quantize_nodes = 0;
  std::set<std::string> dequantized_values;  // input x of a DequantizeLinear (not its scale or zero point)
  for (const auto& n : file.graph().node())
    if (n.op_type() == "DequantizeLinear") dequantized_values.insert(n.input(0));
  for (const auto& t : file.graph().initializer())
    if (t.data_type() == onnx::TensorProto::INT8 && t.dims_size() >= 1 && dequantized_values.count(t.name())) ++int8_weights;
  for (const auto& n : file.graph().node()) quantize_nodes += n.op_type() == "QuantizeLinear";
  int64_t ops_with_weights = 0;
  for (const Op& op : q.graph.ops) ops_with_weights += op_weight_count(q.graph, op) > 0;
  EXPECT_EQ(int8_weights, ops_with_weights);
  EXPECT_EQ(quantize_nodes, int(q.graph.ops.size()) + 1);  // every op's output and the input

  const FloatModel back = import_onnx(path);
  const FloatModel reference = dequantized(q);
  expect_same_graph(reference, back);
  expect_same_outputs(reference, back, 1e-5f);
}

TEST(OnnxQuantizedExport, HandQuantizedModelImportsBackDequantized) {
  expect_qdq_round_trip(quantize_by_hand(every_op_model()));
}

// A model with random weights exported in float and imports back to itself; quantized by hand, its
// QDQ file too.
void expect_float_and_qdq_round_trips(FloatModel m, std::vector<std::string> op_names) {
  m.op_names = std::move(op_names);
  TempDir dir;
  export_onnx_float(m, (dir.path / "float.onnx").string());
  const FloatModel back = import_onnx((dir.path / "float.onnx").string());
  expect_same_graph(m, back);
  expect_same_outputs(m, back, 1e-6f);
  expect_qdq_round_trip(quantize_by_hand(m));
}

// Every form of channel map exports (Concat, Slice, Gather) and imports back to itself, in float and
// in QDQ: a shuffle of two tensors' channels, a range with step 2, a reversed range down to channel 0.
TEST(OnnxChannelMapExport, EveryFormImportsBack) {
  std::vector<int> shuffle(12);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 6; ++j) shuffle[size_t(j * 2 + i)] = i * 6 + j;
  for (const std::vector<int>& map : {shuffle, std::vector<int>{1, 3, 5, 7}, std::vector<int>{7, 6, 5, 4, 3, 2, 1, 0}}) {
    FloatModel m;
    m.graph.name = "channels";
    m.graph.input = m.graph.add_tensor(3, 2, 6);
    const int other = m.graph.add_tensor(3, 2, 6);
    m.graph.add_op(OpKind::PointwiseConv2D, m.graph.input, other);
    m.graph.output = m.graph.add_tensor(3, 2, int(map.size()));
    m.graph.add_op(OpKind::ChannelMap, m.graph.input, m.graph.output, 1, 1, other);
    m.graph.ops.back().channel_map = map;
    expect_float_and_qdq_round_trips(random_float_model(m.graph, 4), {"mix", "map"});
  }
}

// A resize exports as a Gather of rows and one of columns (either left out when it is the identity) and
// imports back to itself, in float and in QDQ: 2x upsampling, rows only, columns only (downsampling),
// and a resize of one pixel.
TEST(OnnxResizeExport, EveryFormImportsBack) {
  struct Form {
    int in_h, in_w;
    std::vector<int> rows, cols;
  };
  const Form forms[] = {{3, 2, {0, 0, 1, 1, 2, 2}, {0, 0, 1, 1}},
                        {3, 2, {2, 1, 0, 0}, {0, 1}},
                        {3, 4, {0, 1, 2}, {0, 2}},
                        {1, 1, {0, 0, 0}, {0, 0}}};
  for (const Form& f : forms) {
    FloatModel m;
    m.graph.name = "resize";
    m.graph.input = m.graph.add_tensor(f.in_h, f.in_w, 5);
    const int mixed = m.graph.add_tensor(f.in_h, f.in_w, 6);
    m.graph.add_op(OpKind::PointwiseConv2D, m.graph.input, mixed);
    m.graph.output = m.graph.add_tensor(int(f.rows.size()), int(f.cols.size()), 6);
    m.graph.add_op(OpKind::Resize, mixed, m.graph.output);
    m.graph.ops.back().resize_rows = f.rows;
    m.graph.ops.back().resize_cols = f.cols;
    expect_float_and_qdq_round_trips(random_float_model(m.graph, 6), {"mix", "resize"});
  }
}

// A QDQ file keeps its quantization: quantizing the import of model_int8.onnx again, calibrated on
// other inputs, gives every tensor its scale and zero point back, the same int8 weights and biases,
// and the same generated model.c, byte for byte.
TEST(OnnxQuantizedExport, QdqFilesKeepTheirScalesAndGiveTheSameModelSource) {
  FloatModel m = search_space_model();
  m.graph.name = "qdq";
  m.op_names.resize(m.graph.ops.size());
  for (size_t i = 0; i < m.op_names.size(); ++i) m.op_names[i] = "block" + std::to_string(i);  // the nodes' names
  std::vector<std::vector<float>> calibration, other;
  for (uint64_t seed = 1; seed <= 4; ++seed) calibration.push_back(random_input(m.graph, seed));
  for (uint64_t seed = 11; seed <= 12; ++seed) other.push_back(random_input(m.graph, seed));
  const QuantizedModel q = quantize(m, calibration);
  TempDir dir;
  const std::string path = (dir.path / "model_int8.onnx").string();
  export_onnx_quantized(q, path);
  const QuantizedModel again = quantize(import_onnx(path), other);
  ASSERT_EQ(again.tensors.size(), q.tensors.size());
  for (size_t t = 0; t < q.tensors.size(); ++t) {
    EXPECT_EQ(again.tensors[t].scale, q.tensors[t].scale) << "tensor " << t;
    EXPECT_EQ(again.tensors[t].zero_point, q.tensors[t].zero_point) << "tensor " << t;
  }
  for (size_t i = 0; i < q.params.size(); ++i) {
    EXPECT_EQ(again.params[i].weights, q.params[i].weights) << "op " << i;
    EXPECT_EQ(again.params[i].bias, q.params[i].bias) << "op " << i;
  }
  BundleOptions o;
  o.test_inputs.push_back(quantize_input(q, calibration[0]));
  write_bundle(q, o, (dir.path / "a").string());
  write_bundle(again, o, (dir.path / "b").string());
  for (const char* file : {"model.c", "model.h"}) {  // the first line that differs: the files are long
    std::istringstream a(read_bytes((dir.path / "a" / file).string())), b(read_bytes((dir.path / "b" / file).string()));
    std::string line_a, line_b;
    for (int line = 1; std::getline(a, line_a); ++line) {
      ASSERT_TRUE(std::getline(b, line_b)) << file << " ends early at line " << line;
      ASSERT_EQ(line_b, line_a) << file << " line " << line;
    }
    EXPECT_FALSE(std::getline(b, line_b)) << file << " is longer";
  }
}

TEST(OnnxQuantizedExport, QuantizedSubnetImportsBackDequantized) {
  const FloatModel m = search_space_model();
  std::vector<std::vector<float>> calibration;
  for (uint64_t seed = 1; seed <= 4; ++seed) calibration.push_back(random_input(m.graph, seed));
  expect_qdq_round_trip(quantize(m, calibration));
}

}  // namespace
