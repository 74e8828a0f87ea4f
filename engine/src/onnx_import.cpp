// ONNX -> FloatModel (see onnx.h for what is supported and how each op maps to the engine graph).
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <functional>
#include <cctype>
#include <map>
#include <tuple>
#include <mutex>
#include <set>
#include <sstream>

#include "tinynas/engine/onnx.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace tinynas::engine {

namespace {

using onnx::NodeProto;
using onnx::TensorProto;

// ONNX's shape inference functions trust the ranks they read. Gemm-6's indexes dims 0 and 1 of A and B
// whatever their rank (a scalar or vector input crashes inside libonnx). The ranks are known only while
// inference runs, so its schemas are served through this registry, which checks a node's input ranks
// before the op's own inference function reads them.
class RankCheckingSchemaRegistry final : public onnx::ISchemaRegistry {
 public:
  const onnx::OpSchema* GetSchema(const std::string& op, const int max_inclusive_version,
                                  const std::string& domain) const override {
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Instance()->GetSchema(op, max_inclusive_version, domain);
    if (!schema || op != "Gemm" || !schema->has_type_and_shape_inference_function()) return schema;
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, added] = guarded_.try_emplace(schema, *schema);
    if (added) {
      auto infer = schema->GetTypeAndShapeInferenceFunction();
      it->second.TypeAndShapeInferenceFunction([infer](onnx::InferenceContext& ctx) {
        for (size_t i = 0; i < std::min<size_t>(2, ctx.getNumInputs()); ++i) {
          const onnx::TypeProto* type = ctx.getInputType(i);
          if (type && type->has_tensor_type() && type->tensor_type().has_shape() &&
              type->tensor_type().shape().dim_size() != 2)
            fail_shape_inference("Gemm's input ", i, " has rank ", type->tensor_type().shape().dim_size(),
                                 "; Gemm multiplies matrices (rank 2)");
        }
        infer(ctx);
      });
    }
    return &it->second;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<const onnx::OpSchema*, onnx::OpSchema> guarded_;
};

std::string shape_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// The largest graph input the importer takes (64 Mi int8 elements, 200 times an MCU's SRAM).
constexpr double kMaxInputElements = double(int64_t(1) << 26);

// The product of dims[from, to), bounds clamped to the dims. Dims come from the file (declared shapes
// included), so a product past int64 is an input error, not an overflow.
int64_t product(const std::vector<int64_t>& dims, size_t from = 0, size_t to = SIZE_MAX) {
  to = std::min(to, dims.size());
  from = std::min(from, to);
  int64_t p = 1;
  for (size_t i = from; i < to; ++i)
    if (__builtin_mul_overflow(p, dims[i], &p))
      throw core::InputError("ONNX: a tensor's dimensions multiply past 2^63");
  return p;
}

std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// A constant tensor (initializer, Constant node or folded node), values widened to double so that
// int32 biases stay exact.
struct Constant {
  std::vector<int64_t> dims;
  int32_t type = TensorProto::FLOAT;
  std::vector<double> values;
};

// The values of a tensor stored as T: raw little-endian bytes (as the hosts) or the typed field.
template <typename T, typename Field>
void read_values(const TensorProto& t, const Field& typed, std::vector<double>& out) {
  if (!t.has_raw_data()) {
    out.assign(typed.begin(), typed.end());
    return;
  }
  const std::string& raw = t.raw_data();
  out.resize(raw.size() / sizeof(T));
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out[i] = double(v);
  }
}

// Throws a plain string; the caller adds where the tensor comes from.
Constant read_tensor(const TensorProto& t) {
  if (t.data_location() == TensorProto::EXTERNAL) throw std::string("external data is not supported");
  Constant c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  c.type = t.data_type();
  switch (c.type) {
    case TensorProto::FLOAT: read_values<float>(t, t.float_data(), c.values); break;
    case TensorProto::DOUBLE: read_values<double>(t, t.double_data(), c.values); break;
    case TensorProto::INT8: read_values<int8_t>(t, t.int32_data(), c.values); break;
    case TensorProto::UINT8: read_values<uint8_t>(t, t.int32_data(), c.values); break;
    case TensorProto::INT32: read_values<int32_t>(t, t.int32_data(), c.values); break;
    case TensorProto::INT64: read_values<int64_t>(t, t.int64_data(), c.values); break;
    default: throw std::string("element type ") + TensorProto::DataType_Name(c.type) + " is not supported";
  }
  if (int64_t(c.values.size()) != product(c.dims))
    throw "holds " + std::to_string(c.values.size()) + " values for shape " + shape_string(c.dims);
  return c;
}

bool is_quantized_type(int32_t type) { return type == TensorProto::INT8 || type == TensorProto::UINT8; }

// An activation of the ONNX graph: the engine tensor holding its real value.
struct Value {
  int tensor = -1;
  std::vector<int64_t> shape;  // ONNX shape, batch first
  // The engine op writing `tensor` when every ONNX value on the way from it has this value as its only
  // reader: the op can then absorb a following activation, batch norm or bias. -1 otherwise.
  int producer = -1;
  bool quantized = false;  // an int8/uint8 ONNX tensor (the engine holds its real value)
  // Zero padding of a Pad node not yet applied (top, left, bottom, right): `tensor` and `shape` are the
  // unpadded input; the Conv or AveragePool that reads it pads instead.
  std::array<int64_t, 4> pad{};
  bool padded() const { return pad != std::array<int64_t, 4>{}; }
};

const onnx::AttributeProto* find_attribute(const NodeProto& node, const char* name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t attribute_int(const NodeProto& node, const char* name, int64_t fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->i() : fallback;
}
float attribute_float(const NodeProto& node, const char* name, float fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->f() : fallback;
}
std::string attribute_string(const NodeProto& node, const char* name, const std::string& fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->s() : fallback;
}
std::vector<int64_t> attribute_ints(const NodeProto& node, const char* name) {
  const auto* a = find_attribute(node, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

Activation combine(Activation first, Activation then) {
  if (first == Activation::None) return then;
  if (then == Activation::None) return first;
  return (first == Activation::Relu6 || then == Activation::Relu6) ? Activation::Relu6 : Activation::Relu;
}

bool has_bias(OpKind kind) {
  return kind == OpKind::Conv2D || kind == OpKind::PointwiseConv2D || kind == OpKind::DepthwiseConv2D ||
         kind == OpKind::FullyConnected;
}

// Kernel, stride, dilation, padding before and output size of a convolution or pooling window.
struct Window {
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, out_h = 1, out_w = 1;
  bool square() const { return kernel_h == kernel_w && stride_h == stride_w && dilation_h == 1 && dilation_w == 1; }
};

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string origin) : model_(model), origin_(std::move(origin)) {}

  FloatModel run() {
    check_and_infer();
    read_graph_interface();
    for (const NodeProto& node : model_.graph().node()) import_node(node);
    set_output();
    m_.validate();
    return std::move(m_);
  }

 private:
  onnx::ModelProto model_;
  std::string origin_;
  int64_t opset_ = 1;
  FloatModel m_;
  std::map<std::string, Constant> constants_;
  std::map<std::string, Value> values_;
  std::map<std::string, std::vector<const NodeProto*>> readers_;
  std::set<std::string> graph_outputs_;
  std::map<std::string, std::vector<int64_t>> declared_shapes_;  // -1 for an unknown dimension
  // The graph input's batch as the model declares it (-1: symbolic). The engine runs batch 1: every
  // activation's ONNX shape here has batch 1, and a declared first dimension equal to this one agrees.
  int64_t batch_ = 1;
  // HardSigmoid(x, 1/6, 1/2) outputs whose only reader, a Mul by x, becomes a HardSwish.
  std::set<std::string> hard_swish_gates_;

  // ---- errors

  // Names and op types come from the file: control characters (a terminal escape sequence) are shown as
  // \xNN, not sent to the user's terminal.
  [[noreturn]] void fail(const std::string& what) const {
    std::string shown;
    for (const char c : origin_ + ": " + what) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", u);
        shown += hex;
      } else {
        shown += c;
      }
    }
    throw core::InputError(shown);
  }
  [[noreturn]] void fail(const NodeProto& node, const std::string& what) const { fail(describe(node) + ": " + what); }

  static std::string describe(const NodeProto& node) {
    if (!node.name().empty()) return node.op_type() + " '" + node.name() + "'";
    return node.op_type() + " (output '" + (node.output_size() ? node.output(0) : std::string()) + "')";
  }

  // " (read by Conv 'a', Relu 'b')", or "" for a value nothing reads.
  std::string describe_readers(const std::string& name) const {
    auto it = readers_.find(name);
    if (it == readers_.end() || it->second.empty()) return "";
    std::string s = " (read by ";
    for (size_t i = 0; i < it->second.size(); ++i) s += (i ? ", " : "") + describe(*it->second[i]);
    return s + ")";
  }

  // ---- the model as a whole

  void check_and_infer() {
    try {
      onnx::checker::check_model(model_);
    } catch (const std::exception& e) {
      fail(std::string("not a valid ONNX model: ") + e.what());
    }
    check_before_inference();
    try {
      static const RankCheckingSchemaRegistry registry;
      onnx::shape_inference::InferShapes(model_, &registry,
                                         onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
    } catch (const std::exception& e) {
      std::string what = e.what();
      while (!what.empty() && std::isspace(static_cast<unsigned char>(what.back()))) what.pop_back();
      fail("shape inference failed: " + what);
    }
    for (const auto& opset : model_.opset_import())
      if (opset.domain().empty() || opset.domain() == "ai.onnx") opset_ = opset.version();
  }

  // ONNX's shape inference trusts what it reads: a Conv whose weights have more dimensions than its input
  // and no kernel_shape attribute makes it read past its arrays, a stride of 0 divides by zero (crashes
  // inside libonnx). So, before it runs: only the ops the engine has, window sizes, strides and dilations
  // of at least 1 and pads of at least 0, and every conv's kernel_shape stated from its constant weights,
  // which shape inference checks against the input's rank.
  void check_before_inference() {
    std::map<std::string, std::vector<int64_t>> constant_dims;  // initializers and what passes them on unchanged
    auto dims_of = [](const onnx::TensorProto& t) { return std::vector<int64_t>(t.dims().begin(), t.dims().end()); };
    for (const auto& t : model_.graph().initializer()) constant_dims[t.name()] = dims_of(t);
    for (NodeProto& node : *model_.mutable_graph()->mutable_node()) {
      if (!node.domain().empty() && node.domain() != "ai.onnx")
        fail(node, "operators of domain '" + node.domain() + "' are not supported");
      const std::string& op = node.op_type();
      if (!node_importers().count(op)) fail(node, "the engine has no such op");
      if (node.output_size() < 1) continue;
      if (op == "Constant") {
        if (const auto* value = find_attribute(node, "value"); value && value->has_t())
          constant_dims[node.output(0)] = dims_of(value->t());
      } else if ((op == "Identity" || op == "QuantizeLinear" || op == "DequantizeLinear") && node.input_size() > 0 &&
                 constant_dims.count(node.input(0))) {
        constant_dims[node.output(0)] = constant_dims[node.input(0)];
      }
      for (const char* name : {"kernel_shape", "strides", "dilations", "pads"}) {
        const auto* attribute = find_attribute(node, name);
        const int64_t least = std::string(name) == "pads" ? 0 : 1;
        if (attribute && std::any_of(attribute->ints().begin(), attribute->ints().end(),
                                     [&](int64_t v) { return v < least || v > (int64_t(1) << 24); }))
          fail(node, std::string(name) + " must lie in [" + std::to_string(least) + ", 2^24]");
      }
      const int weights = op == "Conv" ? 1 : op == "QLinearConv" ? 3 : -1;
      if (weights < 0 || find_attribute(node, "kernel_shape")) continue;
      auto w = node.input_size() > weights ? constant_dims.find(node.input(weights)) : constant_dims.end();
      if (w == constant_dims.end()) fail(node, "the weights must be a constant (an initializer)");
      if (w->second.size() < 3) fail(node, "the weights must have at least 3 dimensions");
      auto* kernel = node.add_attribute();
      kernel->set_name("kernel_shape");
      kernel->set_type(onnx::AttributeProto::INTS);
      for (size_t i = 2; i < w->second.size(); ++i) kernel->add_ints(w->second[i]);
    }
  }

  void read_graph_interface() {
    const onnx::GraphProto& g = model_.graph();
    m_.graph.name = g.name();
    auto declare = [&](const onnx::ValueInfoProto& v) {
      if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
      std::vector<int64_t> dims;
      for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      declared_shapes_[v.name()] = dims;
    };
    for (const auto& v : g.input()) declare(v);
    for (const auto& v : g.value_info()) declare(v);
    for (const auto& v : g.output()) declare(v);
    for (const auto& t : g.initializer()) constants_[t.name()] = read_constant(t, "initializer '" + t.name() + "'");
    for (const NodeProto& node : g.node())
      for (const auto& in : node.input())
        if (!in.empty()) readers_[in].push_back(&node);
    for (const auto& out : g.output()) graph_outputs_.insert(out.name());
    for (const auto& prop : model_.metadata_props()) {
      if (prop.key() == kOnnxInputMeanKey) m_.input_mean = metadata_float(prop);
      if (prop.key() == kOnnxInputStdKey) m_.input_std = metadata_float(prop);
      if (prop.key() == kOnnxInputMeanKey || prop.key() == kOnnxInputStdKey) m_.input_quantization_stated = true;
    }

    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& v : g.input())
      if (!constants_.count(v.name())) inputs.push_back(&v);
    if (inputs.size() != 1) {
      std::string names;
      for (const auto* v : inputs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
      fail("the engine takes one input; the graph has " + std::to_string(inputs.size()) +
           (names.empty() ? "" : " (" + names + ")"));
    }
    read_input(*inputs[0]);
  }

  Constant read_constant(const TensorProto& t, const std::string& what) const {
    try {
      return read_tensor(t);
    } catch (const std::string& e) {
      fail(what + ": " + e);
    }
  }

  float metadata_float(const onnx::StringStringEntryProto& prop) const {
    try {
      size_t used = 0;
      const float v = std::stof(prop.value(), &used);
      if (used == prop.value().size()) return v;
    } catch (const std::exception&) {
    }
    fail("metadata '" + prop.key() + "' is not a number: '" + prop.value() + "'");
  }

  void read_input(const onnx::ValueInfoProto& input) {
    const std::string& name = input.name();
    const auto& type = input.type().tensor_type();
    const std::string who = "graph input '" + name + "'" + describe_readers(name);
    std::vector<int64_t> dims;
    for (const auto& d : type.shape().dim()) {
      if (d.has_dim_value()) {
        dims.push_back(d.dim_value());
      } else if (dims.empty()) {
        dims.push_back(-1);  // a symbolic batch, as torch.onnx.export writes with dynamic_axes
      } else {
        fail(who + ": dimension " + std::to_string(dims.size()) +
             (d.dim_param().empty() ? "" : " ('" + d.dim_param() + "')") + " must be fixed; only the batch may vary");
      }
    }
    // Any batch, fixed or symbolic, becomes 1: the engine runs one input at a time.
    if (dims.size() >= 2 && (dims[0] == -1 || dims[0] > 1)) {
      batch_ = dims[0];
      dims[0] = 1;
    }
    Value v;
    v.shape = dims;
    v.tensor = add_input_tensor(dims, who);
    if (is_quantized_type(type.elem_type())) {
      v.quantized = true;
      set_input_quantization(name, type.elem_type(), who);
    } else if (type.elem_type() != TensorProto::FLOAT) {
      fail(who + ": element type " + TensorProto::DataType_Name(TensorProto::DataType(type.elem_type())) +
           " is not supported (float, or uint8/int8 read by DequantizeLinear or QLinearConv)");
    }
    m_.graph.input = v.tensor;
    values_[name] = v;
  }

  // An int8/uint8 input x = scale * (q - zero_point): the engine's input is the real value, with the
  // pixel the uint8 q (int8: q + 128).
  void set_input_quantization(const std::string& name, int32_t type, const std::string& who) {
    bool found = false;
    float scale = 0.0f;
    double zero_point = 0.0;
    for (const NodeProto* reader : readers_[name]) {
      if ((reader->op_type() != "DequantizeLinear" && reader->op_type() != "QLinearConv") || reader->input(0) != name)
        fail(who + ": an integer input must be read by DequantizeLinear or QLinearConv, which give its scale");
      const float s = float(scalar(*reader, 1, "input scale"));
      const double z = optional_scalar(*reader, 2, 0.0);
      if (found && (s != scale || z != zero_point)) fail(who + ": its readers give different scales or zero points");
      found = true;
      scale = s;
      zero_point = z;
    }
    if (!found) fail(who + ": an integer input must be read by DequantizeLinear or QLinearConv, which give its scale");
    if (!(scale > 0.0f)) fail(who + ": the input scale must be positive");
    m_.input_mean = float(zero_point + (type == TensorProto::INT8 ? 128.0 : 0.0));
    m_.input_std = 1.0f / scale;
    m_.input_quantization_stated = true;
  }

  // The engine tensor of the graph input, of ONNX shape [1,C], [1,C,L] or [1,C,H,W].
  int add_input_tensor(const std::vector<int64_t>& dims, const std::string& who) {
    const bool batch_one = !dims.empty() && dims[0] == 1;
    if (dims.size() < 2 || dims.size() > 4 || !batch_one)
      fail(who + " has shape " + shape_string(dims) + "; the engine takes [N,C], [N,C,L] or [N,C,H,W] (run with N = 1)");
    for (int64_t d : dims)
      if (d < 1 || d > (1 << 24)) fail(who + " has shape " + shape_string(dims) + ": dimensions must be in [1, 2^24]");
    // Each dimension may be fine and their product still be 2^40 (a terabyte of calibration data); in
    // doubles, as four dimensions of 2^24 overflow an int64.
    double elements = 1;
    for (int64_t d : dims) elements *= double(d);
    if (elements > kMaxInputElements)
      fail(who + " has shape " + shape_string(dims) + ": more than 2^26 elements, far beyond any MCU's memory");
    const int c = int(dims[1]);
    const int h = dims.size() > 2 ? int(dims[2]) : 1;
    const int w = dims.size() > 3 ? int(dims[3]) : 1;
    return m_.graph.add_tensor(h, w, c);
  }

  void set_output() {
    const auto& outputs = model_.graph().output();
    if (outputs.size() != 1) {
      std::string names;
      for (const auto& v : outputs) {
        names += (names.empty() ? "'" : ", '") + v.name() + "'";
        for (const NodeProto& node : model_.graph().node())
          if (std::find(node.output().begin(), node.output().end(), v.name()) != node.output().end())
            names += " from " + describe(node);
      }
      fail("the engine has one output; the graph has " + std::to_string(outputs.size()) +
           (names.empty() ? "" : " (" + names + ")"));
    }
    auto it = values_.find(outputs[0].name());
    if (it == values_.end()) fail("graph output '" + outputs[0].name() + "' is a constant");
    if (it->second.padded())
      fail("graph output '" + outputs[0].name() + "' is written by a Pad; the engine folds Pad into a following Conv or AveragePool only");
    m_.graph.output = it->second.tensor;
  }

  // ---- node inputs and outputs

  bool has_input(const NodeProto& node, int i) const { return node.input_size() > i && !node.input(i).empty(); }

  const Constant* find_constant(const NodeProto& node, int i) const {
    if (!has_input(node, i)) return nullptr;
    auto it = constants_.find(node.input(i));
    return it == constants_.end() ? nullptr : &it->second;
  }

  const Constant& constant(const NodeProto& node, int i, const char* what) const {
    if (!has_input(node, i)) fail(node, std::string(what) + " is missing");
    const Constant* c = find_constant(node, i);
    if (!c) fail(node, std::string(what) + " ('" + node.input(i) + "') must be a constant");
    return *c;
  }

  double scalar(const NodeProto& node, int i, const char* what) const {
    const Constant& c = constant(node, i, what);
    if (c.values.size() != 1) fail(node, std::string(what) + " must be a single value (per-tensor), got shape " + shape_string(c.dims));
    return c.values[0];
  }

  double optional_scalar(const NodeProto& node, int i, double fallback) const {
    return has_input(node, i) ? scalar(node, i, "zero point") : fallback;
  }

  // An activation input; `quantized_ok` for the ops whose result on an int8/uint8 tensor is the same as
  // on its real value.
  const Value& activation(const NodeProto& node, int i, bool quantized_ok = false) const {
    if (!has_input(node, i)) fail(node, "input " + std::to_string(i) + " is missing");
    auto it = values_.find(node.input(i));
    if (it == values_.end()) fail(node, "input '" + node.input(i) + "' is not an activation the engine computes");
    if (it->second.quantized && !quantized_ok)
      fail(node, "reads the quantized tensor '" + node.input(i) + "'; dequantize it first (DequantizeLinear)");
    return it->second;
  }

  // Records output 0 of `node`, after checking the shape the engine computed against the model's.
  void define(const NodeProto& node, Value v) { define_output(node, 0, std::move(v)); }

  // Records output k of `node`, after checking its shape against the model's.
  void define_output(const NodeProto& node, int k, Value v) {
    const std::string& name = node.output(k);
    auto it = declared_shapes_.find(name);
    if (it != declared_shapes_.end()) {
      const auto& declared = it->second;
      bool same = declared.size() == v.shape.size();
      for (size_t i = 0; same && i < declared.size(); ++i)
        same = declared[i] < 0 || declared[i] == v.shape[i] || (i == 0 && v.shape[i] == 1 && declared[i] == batch_);
      if (!same)
        fail(node, "output '" + name + "' has shape " + shape_string(v.shape) + " but the model declares " +
                       shape_string(declared));
    }
    values_[name] = std::move(v);
  }

  // The same tensor under a new name (and possibly a new ONNX shape).
  void define_alias(const NodeProto& node, const Value& x, std::vector<int64_t> shape, bool quantized) {
    Value y = x;
    y.shape = std::move(shape);
    y.quantized = quantized;
    y.producer = sole_reader(node.input(0)) ? x.producer : -1;
    define(node, y);
  }

  bool sole_reader(const std::string& name) const {
    auto it = readers_.find(name);
    return it != readers_.end() && it->second.size() == 1 && !graph_outputs_.count(name);
  }

  // The op that can absorb `node`, which reads `x` as input 0: nothing else reads the op's output.
  // -1 when there is none.
  int absorbing_producer(const NodeProto& node, const Value& x) const {
    return x.producer >= 0 && sole_reader(node.input(0)) ? x.producer : -1;
  }

  // A flattened tensor: an ONNX [1, N] whose engine tensor has h * w > 1 (its ONNX order is C, H, W).
  bool flattened(const Value& x) const {
    const Tensor& t = m_.graph.tensors[size_t(x.tensor)];
    return x.shape.size() == 2 && int64_t(t.h) * t.w > 1;
  }

  int channels(const Value& x) const { return m_.graph.tensors[size_t(x.tensor)].c; }

  int add_op(const NodeProto& node, OpKind kind, int input, int output, FloatOpParams params, int kernel = 1,
             int stride = 1, int input2 = -1) {
    const int index = m_.graph.add_op(kind, input, output, kernel, stride, input2);
    m_.params.push_back(std::move(params));
    m_.op_names.push_back(node.name().empty() ? node.output(0) : node.name());
    return index;
  }

  // An op with the window `win` (a convolution or pooling).
  int add_op(const NodeProto& node, OpKind kind, int input, int output, FloatOpParams params, const Window& win) {
    const int index = add_op(node, kind, input, output, std::move(params));
    Op& op = m_.graph.ops[size_t(index)];
    op.kernel_h = win.kernel_h, op.kernel_w = win.kernel_w;
    op.stride_h = win.stride_h, op.stride_w = win.stride_w;
    op.dilation_h = win.dilation_h, op.dilation_w = win.dilation_w;
    op.pad_h = win.pad_top, op.pad_w = win.pad_left;
    return index;
  }

  // ---- dispatch

  // Every op the engine imports, with its importer: the one list of supported ops (Constant is read by
  // import_constant; any op whose inputs are all constants is folded).
  using NodeImporter = void (*)(Importer&, const NodeProto&);
  static const std::map<std::string, NodeImporter>& node_importers() {
    static const std::map<std::string, NodeImporter> importers = {
        {"Constant", [](Importer& i, const NodeProto& n) { i.import_constant(n); }},
        {"Conv", [](Importer& i, const NodeProto& n) { i.import_conv(n); }},
        {"QLinearConv", [](Importer& i, const NodeProto& n) { i.import_qlinear_conv(n); }},
        {"Gemm", [](Importer& i, const NodeProto& n) { i.import_gemm(n); }},
        {"MatMul", [](Importer& i, const NodeProto& n) { i.import_matmul(n); }},
        {"Add", [](Importer& i, const NodeProto& n) { i.import_add(n); }},
        {"Sub", [](Importer& i, const NodeProto& n) { i.import_scale_or_shift(n); }},
        {"Mul", [](Importer& i, const NodeProto& n) { i.import_mul(n); }},
        {"Sigmoid", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::Sigmoid); }},
        {"HardSigmoid", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::HardSigmoid); }},
        {"HardSwish", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::HardSwish); }},
        {"Tanh", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::Tanh); }},
        {"LeakyRelu", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::LeakyRelu); }},
        {"Elu", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::Elu); }},
        {"Selu", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::Selu); }},
        {"Softplus", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::Softplus); }},
        {"PRelu", [](Importer& i, const NodeProto& n) { i.import_unary(n, UnaryFunction::LeakyRelu); }},
        {"Div", [](Importer& i, const NodeProto& n) { i.import_scale_or_shift(n); }},
        {"Pad", [](Importer& i, const NodeProto& n) { i.import_pad(n); }},
        {"ReduceMean", [](Importer& i, const NodeProto& n) { i.import_reduce_mean(n); }},
        {"Shape", [](Importer& i, const NodeProto& n) { i.import_shape(n); }},
        // Shape arithmetic: folded when every input is a constant (after Shape); on activations, Gather,
        // Concat, Slice and Split along the channels are channel maps.
        {"Gather", [](Importer& i, const NodeProto& n) { i.import_gather(n); }},
        {"Unsqueeze", [](Importer& i, const NodeProto& n) { i.import_layout_alias(n); }},
        {"Squeeze", [](Importer& i, const NodeProto& n) { i.import_layout_alias(n); }},
        {"Transpose", [](Importer& i, const NodeProto& n) { i.import_layout_alias(n); }},
        {"Concat", [](Importer& i, const NodeProto& n) { i.import_concat(n); }},
        {"Slice", [](Importer& i, const NodeProto& n) { i.import_slice(n); }},
        {"Split", [](Importer& i, const NodeProto& n) { i.import_split(n); }},
        {"Resize", [](Importer& i, const NodeProto& n) { i.import_resize(n); }},
        {"Upsample", [](Importer& i, const NodeProto& n) { i.import_resize(n); }},
        {"Cast", [](Importer& i, const NodeProto& n) { i.constants_only(n); }},
        {"BatchNormalization", [](Importer& i, const NodeProto& n) { i.import_batch_norm(n); }},
        {"Relu", [](Importer& i, const NodeProto& n) { i.import_activation(n, Activation::Relu); }},
        {"Clip", [](Importer& i, const NodeProto& n) { i.import_clip(n); }},
        {"AveragePool", [](Importer& i, const NodeProto& n) { i.import_pool(n); }},
        {"MaxPool", [](Importer& i, const NodeProto& n) { i.import_pool(n); }},
        {"GlobalAveragePool", [](Importer& i, const NodeProto& n) { i.import_global_average_pool(n); }},
        {"Softmax", [](Importer& i, const NodeProto& n) { i.import_softmax(n); }},
        {"Flatten", [](Importer& i, const NodeProto& n) { i.import_flatten(n); }},
        {"Reshape", [](Importer& i, const NodeProto& n) { i.import_reshape(n); }},
        {"Identity", [](Importer& i, const NodeProto& n) { i.import_identity(n); }},
        {"Dropout", [](Importer& i, const NodeProto& n) { i.import_identity(n); }},
        {"QuantizeLinear", [](Importer& i, const NodeProto& n) { i.import_quantize_linear(n); }},
        {"DequantizeLinear", [](Importer& i, const NodeProto& n) { i.import_quantize_linear(n); }},
    };
    return importers;
  }

  // The domain and the op were checked before shape inference (check_before_inference).
  void import_node(const NodeProto& node) {
    const std::string& op = node.op_type();
    if (op != "Constant" && std::all_of(node.input().begin(), node.input().end(),
                                        [&](const std::string& in) { return in.empty() || constants_.count(in); }))
      return fold_constants(node);
    if (op != "Conv" && op != "AveragePool")
      for (const auto& in : node.input())
        if (auto it = values_.find(in); it != values_.end() && it->second.padded())
          fail(node, "reads the output of a Pad ('" + in + "'); the engine folds Pad into a following Conv or AveragePool only");
    if (op != "Reshape" && op != "Transpose" && op != "Identity")
      for (const auto& in : node.input())
        if (auto it = values_.find(in); it != values_.end() && it->second.shape.size() == 5)
          fail(node, "reads '" + in + "', the channels of a tensor split in two axes; the engine takes it back only " +
                         "through the channel shuffle's Transpose and a Reshape to [1,C,H,W]");
    node_importers().at(op)(*this, node);
  }

  // ---- constants

  void import_constant(const NodeProto& node) {
    const auto* value = find_attribute(node, "value");
    if (!value) fail(node, "only the 'value' form of Constant is supported");
    constants_[node.output(0)] = read_constant(value->t(), describe(node));
  }

  void fold_constants(const NodeProto& node) {
    const std::string& op = node.op_type();
    if (op == "Identity") {
      constants_[node.output(0)] = constant(node, 0, "input");
    } else if (op == "DequantizeLinear") {
      constants_[node.output(0)] = dequantize(node);
    } else if (op == "QuantizeLinear") {
      constants_[node.output(0)] = quantize(node);
    } else if (op == "Reshape" || op == "Flatten") {
      // The shape inference of the checked model knows the result.
      Constant c = constant(node, 0, "input");
      auto it = declared_shapes_.find(node.output(0));
      if (it == declared_shapes_.end() || product(it->second) != int64_t(c.values.size()))
        fail(node, "the shape of the folded constant is unknown");
      c.dims = it->second;
      constants_[node.output(0)] = std::move(c);
    } else if (op == "Gather") {
      constants_[node.output(0)] = fold_gather(node);
    } else if (op == "Unsqueeze" || op == "Squeeze") {
      constants_[node.output(0)] = fold_squeeze(node, op == "Unsqueeze");
    } else if (op == "Transpose") {
      constants_[node.output(0)] = fold_transpose(node);
    } else if (op == "Concat") {
      constants_[node.output(0)] = fold_concat(node);
    } else if (op == "Slice") {
      constants_[node.output(0)] = fold_slice(node);
    } else if (op == "Cast") {
      constants_[node.output(0)] = fold_cast(node);
    } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      constants_[node.output(0)] = fold_arithmetic(node);
    } else {
      fail(node, "constant folding of this op is not supported");
    }
  }

  // ---- shape arithmetic on constants (what exporters write around a Reshape: Shape -> Gather ->
  // Unsqueeze -> Concat, and the like)

  void constants_only(const NodeProto& node) const {
    fail(node, "the engine runs this op on constants only (shape arithmetic); input '" + first_activation(node) +
                   "' is an activation");
  }

  std::string first_activation(const NodeProto& node) const {
    for (const auto& in : node.input())
      if (!in.empty() && !constants_.count(in)) return in;
    return "";
  }

  static std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
    std::vector<int64_t> strides(dims.size(), 1);
    for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
    return strides;
  }

  // An axis in [-rank, rank) made non-negative.
  int64_t axis_in(const NodeProto& node, int64_t axis, size_t rank) const {
    if (axis < -int64_t(rank) || axis >= int64_t(rank))
      fail(node, "axis " + std::to_string(axis) + " is outside a tensor of rank " + std::to_string(rank));
    return axis < 0 ? axis + int64_t(rank) : axis;
  }

  // The values of an integer constant (shape arithmetic, pads, axes) as int64: a float constant
  // passed through Cast may hold anything.
  std::vector<int64_t> integers(const NodeProto& node, const Constant& c, const char* what) const {
    std::vector<int64_t> v;
    for (double d : c.values) {
      if (!(std::abs(d) <= 9007199254740992.0) || d != std::trunc(d))  // 2^53: exact in a double
        fail(node, std::string(what) + " holds " + format_number(d) + ", not an integer in [-2^53, 2^53]");
      v.push_back(int64_t(d));
    }
    return v;
  }

  // The largest constant shape arithmetic may produce (16 Mi values): a fuzzed model must not make the
  // importer allocate terabytes.
  void check_folded_size(const NodeProto& node, const std::vector<int64_t>& dims) const {
    double n = 1;
    for (int64_t d : dims) n *= double(d);
    if (n > double(int64_t(1) << 24)) fail(node, "folds to a constant of shape " + shape_string(dims) + ", more than 2^24 values");
  }

  // A list of integers from attribute `name` (opsets before `input_from`) or from input `input`.
  std::vector<int64_t> ints_from(const NodeProto& node, const char* name, int input, int64_t input_from) const {
    if (opset_ < input_from) return attribute_ints(node, name);
    if (!has_input(node, input)) return {};
    return integers(node, constant(node, input, name), name);
  }

  Constant fold_gather(const NodeProto& node) const {
    const Constant& data = constant(node, 0, "data");
    const Constant& indices = constant(node, 1, "indices");
    if (data.dims.empty()) fail(node, "gathering from a scalar");
    const int64_t axis = axis_in(node, attribute_int(node, "axis", 0), data.dims.size());
    Constant out;
    out.type = data.type;
    out.dims.assign(data.dims.begin(), data.dims.begin() + axis);
    out.dims.insert(out.dims.end(), indices.dims.begin(), indices.dims.end());
    out.dims.insert(out.dims.end(), data.dims.begin() + axis + 1, data.dims.end());
    check_folded_size(node, out.dims);
    const int64_t outer = product(data.dims, 0, size_t(axis)), inner = product(data.dims, size_t(axis) + 1);
    const int64_t extent = data.dims[size_t(axis)];
    const std::vector<int64_t> index_values = integers(node, indices, "indices");
    for (int64_t o = 0; o < outer; ++o)
      for (const int64_t index : index_values) {
        const int64_t k = index < 0 ? index + extent : index;
        if (k < 0 || k >= extent) fail(node, "index " + std::to_string(index) + " is outside [0, " + std::to_string(extent) + ")");
        for (int64_t i = 0; i < inner; ++i) out.values.push_back(data.values[size_t((o * extent + k) * inner + i)]);
      }
    return out;
  }

  // The shape after a Squeeze or Unsqueeze of `dims` (no data moves).
  std::vector<int64_t> squeezed_shape(const NodeProto& node, const std::vector<int64_t>& dims, bool unsqueeze) const {
    const std::vector<int64_t> axes = ints_from(node, "axes", 1, 13);
    std::vector<int64_t> out;
    if (unsqueeze) {
      const size_t rank = dims.size() + axes.size();
      std::vector<bool> inserted(rank, false);
      for (int64_t a : axes) inserted[size_t(axis_in(node, a, rank))] = true;
      if (size_t(std::count(inserted.begin(), inserted.end(), true)) != axes.size()) fail(node, "repeated axes");
      size_t next = 0;
      for (size_t i = 0; i < rank; ++i) out.push_back(inserted[i] ? 1 : dims[next++]);
    } else {
      std::vector<bool> removed(dims.size(), axes.empty());
      for (int64_t a : axes) removed[size_t(axis_in(node, a, dims.size()))] = true;
      for (size_t i = 0; i < dims.size(); ++i) {
        if (!removed[i]) out.push_back(dims[i]);
        else if (dims[i] != 1 && !axes.empty()) fail(node, "axis " + std::to_string(i) + " is not of size 1");
        else if (dims[i] != 1) out.push_back(dims[i]);
      }
    }
    return out;
  }

  Constant fold_squeeze(const NodeProto& node, bool unsqueeze) const {
    Constant out = constant(node, 0, "data");
    out.dims = squeezed_shape(node, out.dims, unsqueeze);
    return out;
  }

  // The permutation of a Transpose on a tensor of `rank` (default: the axes reversed).
  std::vector<int64_t> transpose_perm(const NodeProto& node, size_t rank) const {
    std::vector<int64_t> perm = attribute_ints(node, "perm");
    if (perm.empty())
      for (size_t i = rank; i-- > 0;) perm.push_back(int64_t(i));
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i] != int64_t(i) || sorted.size() != rank) fail(node, "perm " + shape_string(perm) + " is not a permutation of the axes");
    return perm;
  }

  Constant fold_transpose(const NodeProto& node) const {
    const Constant& data = constant(node, 0, "data");
    const std::vector<int64_t> perm = transpose_perm(node, data.dims.size());
    Constant out;
    out.type = data.type;
    for (int64_t p : perm) out.dims.push_back(data.dims[size_t(p)]);
    const std::vector<int64_t> in_strides = strides_of(data.dims), out_strides = strides_of(out.dims);
    for (int64_t i = 0; i < product(out.dims); ++i) {
      int64_t offset = 0;
      for (size_t d = 0; d < perm.size(); ++d) offset += (i / out_strides[d]) % out.dims[d] * in_strides[size_t(perm[d])];
      out.values.push_back(data.values[size_t(offset)]);
    }
    return out;
  }

  // Squeeze, Unsqueeze or Transpose of an activation that moves no data: only axes of size 1 come, go
  // or move, and the result is the same engine tensor ([1,C] and [1,C,1,1] around a classifier).
  void import_layout_alias(const NodeProto& node) {
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    const std::string& op = node.op_type();
    std::vector<int64_t> target;
    if (op == "Transpose" && x.shape.size() == 5 && transpose_perm(node, 5) == std::vector<int64_t>{0, 2, 1, 3, 4})
      return add_channel_shuffle(node, x);
    if (op == "Transpose") {
      const std::vector<int64_t> perm = transpose_perm(node, x.shape.size());
      std::vector<int64_t> moved;  // the axes of size > 1, in their new order
      for (int64_t p : perm) {
        target.push_back(x.shape[size_t(p)]);
        if (x.shape[size_t(p)] > 1) moved.push_back(p);
      }
      if (!std::is_sorted(moved.begin(), moved.end()))
        fail(node, "perm " + shape_string(perm) + " of " + shape_string(x.shape) + " reorders the data; the engine moves axes of size 1 only");
    } else {
      target = squeezed_shape(node, x.shape, op == "Unsqueeze");
    }
    const Tensor& t = m_.graph.tensors[size_t(x.tensor)];
    const bool same_tensor = target.size() >= 2 && target.size() <= 4 && target[0] == 1 && target[1] == t.c &&
                             (target.size() > 2 ? target[2] : 1) == t.h && (target.size() > 3 ? target[3] : 1) == t.w;
    if (!same_tensor || flattened(x))
      fail(node, shape_string(x.shape) + " to " + shape_string(target) +
                     ": the engine changes the layout of a tensor only where no data moves");
    define_alias(node, x, target, x.quantized);
  }

  Constant fold_concat(const NodeProto& node) const {
    const Constant& first = constant(node, 0, "input");
    if (first.dims.empty()) fail(node, "concatenating scalars");
    const int64_t axis = axis_in(node, attribute_int(node, "axis", 0), first.dims.size());
    std::vector<const Constant*> parts;
    Constant out;
    out.type = first.type;
    out.dims = first.dims;
    out.dims[size_t(axis)] = 0;
    for (int i = 0; i < node.input_size(); ++i) {
      const Constant& c = constant(node, i, "input");
      bool same = c.dims.size() == first.dims.size();
      for (size_t d = 0; same && d < c.dims.size(); ++d) same = int64_t(d) == axis || c.dims[d] == first.dims[d];
      if (!same) fail(node, "inputs " + shape_string(first.dims) + " and " + shape_string(c.dims) + " do not concatenate");
      out.dims[size_t(axis)] += c.dims[size_t(axis)];
      parts.push_back(&c);
    }
    const int64_t outer = product(first.dims, 0, size_t(axis));
    for (int64_t o = 0; o < outer; ++o)
      for (const Constant* c : parts) {
        const int64_t block = product(c->dims, size_t(axis));
        out.values.insert(out.values.end(), c->values.begin() + o * block, c->values.begin() + (o + 1) * block);
      }
    return out;
  }

  // Slice's starts, ends, axes and steps (inputs from opset 10 on, attributes before), of one length.
  struct SliceAxes {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  SliceAxes slice_axes(const NodeProto& node) const {
    SliceAxes s;
    s.starts = ints_from(node, "starts", 1, 10);
    s.ends = ints_from(node, "ends", 2, 10);
    s.axes = ints_from(node, "axes", 3, 10);
    if (opset_ >= 10) s.steps = ints_from(node, "steps", 4, 10);
    if (s.axes.empty())
      for (size_t i = 0; i < s.starts.size(); ++i) s.axes.push_back(int64_t(i));
    if (s.steps.empty()) s.steps.assign(s.starts.size(), 1);
    if (s.ends.size() != s.starts.size() || s.axes.size() != s.starts.size() || s.steps.size() != s.starts.size())
      fail(node, "starts, ends, axes and steps differ in length");
    return s;
  }

  // The first index and the count of slice i on an axis of extent n, with ONNX's clamping: to [0, n]
  // going forward, to [-1, n - 1] going backward.
  std::pair<int64_t, int64_t> slice_range(const NodeProto& node, const SliceAxes& s, size_t i, int64_t n) const {
    const int64_t step = s.steps[i];
    if (step == 0 || step < -(int64_t(1) << 53)) fail(node, "step " + std::to_string(step) + " is out of range");
    auto clamp = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp<int64_t>(v < 0 ? v + n : v, lo, hi); };
    const int64_t b = step > 0 ? clamp(s.starts[i], 0, n) : clamp(s.starts[i], 0, n - 1);
    const int64_t e = step > 0 ? clamp(s.ends[i], 0, n) : clamp(s.ends[i], -1, n - 1);
    return {b, step > 0 ? (e > b ? 1 + (e - b - 1) / step : 0) : (b > e ? 1 + (b - e - 1) / -step : 0)};
  }

  Constant fold_slice(const NodeProto& node) const {
    const Constant& data = constant(node, 0, "data");
    const size_t rank = data.dims.size();
    const SliceAxes slice = slice_axes(node);
    std::vector<int64_t> first(rank, 0), step(rank, 1), count(data.dims);
    for (size_t i = 0; i < slice.starts.size(); ++i) {
      const size_t a = size_t(axis_in(node, slice.axes[i], rank));
      std::tie(first[a], count[a]) = slice_range(node, slice, i, data.dims[a]);
      step[a] = slice.steps[i];
    }
    Constant out;
    out.type = data.type;
    out.dims = count;
    const std::vector<int64_t> in_strides = strides_of(data.dims), out_strides = strides_of(count);
    for (int64_t i = 0; i < product(count); ++i) {
      int64_t offset = 0;
      for (size_t d = 0; d < rank; ++d) offset += (first[d] + (i / out_strides[d]) % count[d] * step[d]) * in_strides[d];
      out.values.push_back(data.values[size_t(offset)]);
    }
    return out;
  }

  Constant fold_cast(const NodeProto& node) const {
    Constant out = constant(node, 0, "input");
    out.type = int32_t(attribute_int(node, "to", TensorProto::FLOAT));
    const bool integer = out.type == TensorProto::INT64 || out.type == TensorProto::INT32 || out.type == TensorProto::INT8 ||
                         out.type == TensorProto::UINT8;
    if (!integer && out.type != TensorProto::FLOAT && out.type != TensorProto::DOUBLE)
      fail(node, "casting to " + TensorProto::DataType_Name(TensorProto::DataType(out.type)) + " is not supported");
    for (double& v : out.values) v = integer ? std::trunc(v) : out.type == TensorProto::FLOAT ? double(float(v)) : v;
    return out;
  }

  // Add, Sub, Mul, Div of two constants with ONNX's (numpy's) broadcasting; integer division truncates.
  Constant fold_arithmetic(const NodeProto& node) const {
    const Constant& a = constant(node, 0, "A");
    const Constant& b = constant(node, 1, "B");
    const size_t rank = std::max(a.dims.size(), b.dims.size());
    auto aligned = [&](const Constant& c) {
      std::vector<int64_t> dims(rank - c.dims.size(), 1);
      dims.insert(dims.end(), c.dims.begin(), c.dims.end());
      return dims;
    };
    const std::vector<int64_t> da = aligned(a), db = aligned(b);
    Constant out;
    out.type = a.type;
    for (size_t d = 0; d < rank; ++d) {
      if (da[d] != db[d] && da[d] != 1 && db[d] != 1)
        fail(node, "shapes " + shape_string(a.dims) + " and " + shape_string(b.dims) + " do not broadcast");
      out.dims.push_back(da[d] == 1 ? db[d] : da[d]);
    }
    check_folded_size(node, out.dims);
    const std::vector<int64_t> sa = strides_of(da), sb = strides_of(db), so = strides_of(out.dims);
    const bool integer = out.type != TensorProto::FLOAT && out.type != TensorProto::DOUBLE;
    const std::string& op = node.op_type();
    for (int64_t i = 0; i < product(out.dims); ++i) {
      int64_t ia = 0, ib = 0;
      for (size_t d = 0; d < rank; ++d) {
        const int64_t k = (i / so[d]) % out.dims[d];
        ia += (da[d] == 1 ? 0 : k) * sa[d];
        ib += (db[d] == 1 ? 0 : k) * sb[d];
      }
      const double x = a.values[size_t(ia)], y = b.values[size_t(ib)];
      double r = 0;
      if (op == "Add") r = x + y;
      else if (op == "Sub") r = x - y;
      else if (op == "Mul") r = x * y;
      else if (integer && y == 0) fail(node, "integer division by zero");
      else r = integer ? std::trunc(x / y) : x / y;
      out.values.push_back(out.type == TensorProto::FLOAT ? double(float(r)) : r);
    }
    return out;
  }

  // The shape of an activation (batch 1, as the engine runs it) is a constant.
  void import_shape(const NodeProto& node) {
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    const int64_t rank = int64_t(x.shape.size());
    auto bound = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    const int64_t start = bound(attribute_int(node, "start", 0)), end = bound(attribute_int(node, "end", rank));
    Constant c;
    c.type = TensorProto::INT64;
    for (int64_t i = start; i < end; ++i) c.values.push_back(double(x.shape[size_t(i)]));
    c.dims = {int64_t(c.values.size())};
    constants_[node.output(0)] = std::move(c);
  }

  // The per-element scale and zero point of QuantizeLinear / DequantizeLinear on a constant `x`.
  struct AxisQuantization {
    std::vector<double> scale, zero_point;
    int64_t block = 1;  // consecutive elements sharing one scale
    int32_t zero_point_type = TensorProto::UINT8;
    double at_scale(size_t i) const { return scale[(i / size_t(block)) % scale.size()]; }
    double at_zero_point(size_t i) const { return zero_point[(i / size_t(block)) % zero_point.size()]; }
  };

  AxisQuantization axis_quantization(const NodeProto& node, const Constant& x) const {
    AxisQuantization q;
    const Constant& scale = constant(node, 1, "scale");
    q.scale = scale.values;
    if (const Constant* zp = find_constant(node, 2)) {
      q.zero_point = zp->values;
      q.zero_point_type = zp->type;
    } else if (has_input(node, 2)) {
      fail(node, "the zero point must be a constant");
    } else {
      q.zero_point.assign(q.scale.size(), 0.0);
    }
    if (q.zero_point.size() != q.scale.size()) fail(node, "scale and zero point differ in size");
    if (q.scale.size() > 1) {
      int64_t axis = attribute_int(node, "axis", 1);
      if (axis < 0) axis += int64_t(x.dims.size());
      if (axis < 0 || axis >= int64_t(x.dims.size()) || x.dims[size_t(axis)] != int64_t(q.scale.size()))
        fail(node, "per-axis scale of " + std::to_string(q.scale.size()) + " values does not match axis " +
                       std::to_string(axis) + " of shape " + shape_string(x.dims));
      q.block = product(x.dims, size_t(axis) + 1);
    }
    return q;
  }

  Constant dequantize(const NodeProto& node) const {
    Constant x = constant(node, 0, "input");
    const AxisQuantization q = axis_quantization(node, x);
    for (size_t i = 0; i < x.values.size(); ++i)
      x.values[i] = double(float((x.values[i] - q.at_zero_point(i)) * q.at_scale(i)));
    x.type = TensorProto::FLOAT;
    return x;
  }

  Constant quantize(const NodeProto& node) const {
    Constant x = constant(node, 0, "input");
    const AxisQuantization q = axis_quantization(node, x);
    const double lo = q.zero_point_type == TensorProto::INT8 ? -128 : 0;
    const double hi = q.zero_point_type == TensorProto::INT8 ? 127 : 255;
    for (size_t i = 0; i < x.values.size(); ++i)
      x.values[i] = std::clamp(std::nearbyint(x.values[i] / q.at_scale(i)) + q.at_zero_point(i), lo, hi);
    x.type = q.zero_point_type;
    return x;
  }

  // A constant broadcast against activation `x` (ONNX rules) that varies at most along the channel
  // axis: its value per engine channel.
  std::vector<float> per_channel(const NodeProto& node, const Constant& c, const Value& x, const char* what) const {
    const size_t rank = x.shape.size();
    bool ok = c.dims.size() <= rank;
    bool varies = false;
    for (size_t i = 0; ok && i < c.dims.size(); ++i) {
      const size_t axis = rank - c.dims.size() + i;
      if (c.dims[i] == 1) continue;
      ok = axis == 1 && c.dims[i] == x.shape[1];
      varies = true;
    }
    if (ok && varies && flattened(x)) ok = false;
    if (!ok)
      fail(node, std::string(what) + " of shape " + shape_string(c.dims) + " does not act per channel on " +
                     shape_string(x.shape));
    std::vector<float> v(static_cast<size_t>(channels(x)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(c.values[varies ? i : 0]);
    return v;
  }

  // ---- convolutions

  // Kernel, stride, dilation, padding and output size from the window attributes of a Conv / pooling
  // node on the [1,C,H,W] input `x`; the engine needs padding smaller than the window and windows that
  // start inside the padded input.
  // A 1-D window on [1,C,L] (L is the engine tensor's height) runs as a 2-D one of width 1.
  Window window(const NodeProto& node, const Value& x, int64_t kernel_h, int64_t kernel_w, bool pooling) const {
    const bool one_d = x.shape.size() == 3;
    const size_t dims = one_d ? 1 : 2;
    std::vector<int64_t> dilations = attribute_ints(node, "dilations");
    if (dilations.empty()) dilations.assign(dims, 1);
    if (dilations.size() != dims)
      fail(node, "dilations " + shape_string(dilations) + ": expected " + std::to_string(dims) + " values");
    std::vector<int64_t> strides = attribute_ints(node, "strides");
    if (strides.empty()) strides.assign(dims, 1);
    if (strides.size() != dims)
      fail(node, "strides " + shape_string(strides) + ": expected " + std::to_string(dims) + " values");
    std::vector<int64_t> pads = attribute_ints(node, "pads");
    if (pads.empty()) pads.assign(2 * dims, 0);
    if (pads.size() != 2 * dims || std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; }))
      fail(node, "pads " + shape_string(pads) + ": expected " + std::to_string(2 * dims) + " values, none negative");
    if (one_d) {
      dilations.push_back(1);
      strides.push_back(1);
      pads = {pads[0], 0, pads[1], 0};
    }
    const std::string auto_pad = attribute_string(node, "auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID")
      fail(node, "auto_pad '" + auto_pad + "' is not supported");
    if (x.padded()) {  // a Pad before: its zeros join the node's own (ONNX order top, left, bottom, right)
      if (auto_pad != "NOTSET") fail(node, "auto_pad after a Pad is not supported");
      for (size_t i = 0; i < 4; ++i) pads[i] += x.pad[i];
    }
    const bool ceil_mode = pooling && attribute_int(node, "ceil_mode", 0) != 0;

    auto dimension = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad_before, int64_t pad_after,
                         const char* which, int& out_size) {
      const int64_t extent = (k - 1) * d + 1;
      int64_t out = 0;
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        out = (in + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in);
        pad_before = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      } else {
        if (auto_pad == "VALID") pad_before = pad_after = 0;
        const int64_t span = in + pad_before + pad_after - extent;
        if (span < 0) fail(node, std::string("the kernel is larger than the padded input ") + which);
        out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      }
      const int64_t implied_after = std::max<int64_t>(0, (out - 1) * s + extent - in - pad_before);
      if (pad_before >= extent || implied_after >= extent)
        fail(node, std::string("padding of the ") + which + " must be smaller than the kernel's reach");
      if ((out - 1) * s - pad_before >= in)
        fail(node, std::string("the last window along the ") + which + " lies entirely in the padding");
      out_size = int(out);
      return int(pad_before);
    };
    Window win;
    win.kernel_h = int(kernel_h), win.kernel_w = int(kernel_w);
    win.stride_h = int(strides[0]), win.stride_w = int(strides[1]);
    win.dilation_h = int(dilations[0]), win.dilation_w = int(dilations[1]);
    win.pad_top = dimension(x.shape[2], kernel_h, strides[0], dilations[0], pads[0], pads[2], "height", win.out_h);
    win.pad_left = dimension(one_d ? 1 : x.shape[3], kernel_w, strides[1], dilations[1], pads[1], pads[3], "width",
                             win.out_w);
    return win;
  }

  void require_image(const NodeProto& node, const Value& x) const {
    if (x.shape.size() != 3 && x.shape.size() != 4)
      fail(node, "the engine runs 1-D and 2-D windows on [1,C,L] and [1,C,H,W]; the input has shape " +
                     shape_string(x.shape));
  }

  // The output of a window op: [1, C, out_h] for a 1-D input, else [1, C, out_h, out_w].
  static std::vector<int64_t> window_output_shape(const Value& x, int64_t channels, const Window& win) {
    if (x.shape.size() == 3) return {1, channels, win.out_h};
    return {1, channels, win.out_h, win.out_w};
  }

  // A convolution with float weights of ONNX shape [M, C/group, kh(, kw)] and `bias` (empty: none).
  void add_conv(const NodeProto& node, const Value& x, const std::vector<int64_t>& wdims, const std::vector<double>& weights,
                std::vector<float> bias) {
    require_image(node, x);
    if (wdims.size() != x.shape.size())
      fail(node, "weights of shape " + shape_string(wdims) + " for an input of shape " + shape_string(x.shape));
    const int64_t out_c = wdims[0], group_c = wdims[1], in_c = x.shape[1];
    const int64_t group = attribute_int(node, "group", 1);
    if (group_c * group != in_c)
      fail(node, "weights " + shape_string(wdims) + " with group " + std::to_string(group) + " expect " +
                     std::to_string(group_c * group) + " input channels; the input has " + std::to_string(in_c));
    const auto kernel_shape = attribute_ints(node, "kernel_shape");
    if (!kernel_shape.empty() && kernel_shape != std::vector<int64_t>(wdims.begin() + 2, wdims.end()))
      fail(node, "kernel_shape " + shape_string(kernel_shape) + " differs from the weights " + shape_string(wdims));
    if (!bias.empty() && int64_t(bias.size()) != out_c)
      fail(node, "bias has " + std::to_string(bias.size()) + " values for " + std::to_string(out_c) + " channels");
    const Window win = window(node, x, wdims[2], wdims.size() == 4 ? wdims[3] : 1, false);
    const int kh = win.kernel_h, kw = win.kernel_w;

    // One input channel per group and a square window: the depthwise kernels (channel multiplier 1);
    // other groupings (a channel multiplier, a non-square or dilated depthwise) run as a grouped conv.
    OpKind kind = OpKind::Conv2D;
    if (group == in_c && in_c > 1 && out_c == in_c && win.square()) {
      kind = OpKind::DepthwiseConv2D;
    } else if (group == 1 && kh == 1 && kw == 1 && win.stride_h == 1 && win.stride_w == 1 && win.pad_top == 0 &&
               win.pad_left == 0) {
      kind = OpKind::PointwiseConv2D;
    }
    if (out_c % group != 0)
      fail(node, std::to_string(out_c) + " output channels do not split into " + std::to_string(group) + " groups");

    // OIHW -> OHWI over each group's input channels (a depthwise conv's [C][1][k][k] is already [C][k][k]).
    FloatOpParams p;
    p.bias = std::move(bias);
    p.weights.resize(weights.size());
    for (int64_t o = 0; o < out_c; ++o)
      for (int64_t i = 0; i < group_c; ++i)
        for (int ky = 0; ky < kh; ++ky)
          for (int kx = 0; kx < kw; ++kx)
            p.weights[size_t(((o * kh + ky) * kw + kx) * group_c + i)] =
                float(weights[size_t(((o * group_c + i) * kh + ky) * kw + kx)]);
    const int out = m_.graph.add_tensor(win.out_h, win.out_w, int(out_c));
    const int index = add_op(node, kind, x.tensor, out, std::move(p), win);
    if (kind == OpKind::Conv2D) m_.graph.ops[size_t(index)].groups = int(group);
    define(node, Value{out, window_output_shape(x, out_c, win), index, false});
  }


  void import_conv(const NodeProto& node) {
    const Value& x = activation(node, 0);
    const Constant& w = constant(node, 1, "weights W");
    std::vector<float> bias;
    if (has_input(node, 2)) {
      const Constant& b = constant(node, 2, "bias B");
      bias.assign(b.values.begin(), b.values.end());
    }
    add_conv(node, x, w.dims, w.values, std::move(bias));
  }

  // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point[, B]: a float conv on the
  // real values, with w and B dequantized.
  void import_qlinear_conv(const NodeProto& node) {
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    const double x_scale = scalar(node, 1, "x_scale");
    const Constant& w = constant(node, 3, "weights w");
    const Constant& w_scale = constant(node, 4, "w_scale");
    const Constant& w_zero_point = constant(node, 5, "w_zero_point");
    scalar(node, 6, "y_scale");  // per-tensor output quantization, dropped with the rounding
    const int64_t out_c = w.dims.empty() ? 0 : w.dims[0];
    auto per_output_channel = [&](const Constant& c, const char* what) {
      if (c.values.size() != 1 && int64_t(c.values.size()) != out_c)
        fail(node, std::string(what) + " has " + std::to_string(c.values.size()) + " values for " +
                       std::to_string(out_c) + " output channels");
      return [&c](int64_t o) { return c.values[c.values.size() == 1 ? 0 : size_t(o)]; };
    };
    const auto scale_of = per_output_channel(w_scale, "w_scale");
    const auto zero_point_of = per_output_channel(w_zero_point, "w_zero_point");
    std::vector<double> weights(w.values.size());
    const size_t per_channel = out_c > 0 ? weights.size() / size_t(out_c) : 1;
    for (size_t i = 0; i < weights.size(); ++i) {
      const int64_t o = int64_t(i / per_channel);
      weights[i] = (w.values[i] - zero_point_of(o)) * scale_of(o);
    }
    std::vector<float> bias;
    if (has_input(node, 8)) {
      const Constant& b = constant(node, 8, "bias B");
      if (int64_t(b.values.size()) != out_c) fail(node, "bias B must have one value per output channel");
      for (int64_t o = 0; o < out_c; ++o) bias.push_back(float(b.values[size_t(o)] * x_scale * scale_of(o)));
    }
    add_conv(node, x, w.dims, weights, std::move(bias));
    values_[node.output(0)].quantized = true;
  }

  // ---- fully connected

  // For each element of the ONNX [1, N] value `x`, in ONNX order, its index in the engine tensor:
  // a flattened tensor is C, H, W in ONNX and H, W, C in the engine.
  std::vector<size_t> engine_order(const Value& x) const {
    const Tensor& t = m_.graph.tensors[size_t(x.tensor)];
    std::vector<size_t> order(size_t(t.elements()));
    size_t k = 0;
    for (int c = 0; c < t.c; ++c)
      for (int y = 0; y < t.h; ++y)
        for (int xx = 0; xx < t.w; ++xx) order[k++] = (size_t(y) * size_t(t.w) + size_t(xx)) * size_t(t.c) + size_t(c);
    return order;
  }

  // `weight(n, k)`: the ONNX weight from input element k (ONNX order) to output n.
  template <typename WeightAt>
  void add_fully_connected(const NodeProto& node, const Value& x, int64_t outputs, WeightAt weight, std::vector<float> bias) {
    if (x.shape.size() != 2) fail(node, "expects a [1, K] input, got " + shape_string(x.shape));
    const int64_t inputs = x.shape[1];
    const std::vector<size_t> order = engine_order(x);
    FloatOpParams p;
    p.weights.resize(size_t(outputs * inputs));
    for (int64_t n = 0; n < outputs; ++n)
      for (int64_t k = 0; k < inputs; ++k) p.weights[size_t(n * inputs) + order[size_t(k)]] = float(weight(n, k));
    p.bias = std::move(bias);
    const int out = m_.graph.add_tensor(1, 1, int(outputs));
    const int index = add_op(node, OpKind::FullyConnected, x.tensor, out, std::move(p));
    define(node, Value{out, {1, outputs}, index, false});
  }

  void import_gemm(const NodeProto& node) {
    const Value& a = activation(node, 0);
    if (attribute_int(node, "transA", 0) != 0) fail(node, "transA is not supported (the input is one row)");
    const Constant& b = constant(node, 1, "B");
    const bool trans_b = attribute_int(node, "transB", 0) != 0;
    const double alpha = attribute_float(node, "alpha", 1.0f), beta = attribute_float(node, "beta", 1.0f);
    if (b.dims.size() != 2) fail(node, "B must be a matrix, got shape " + shape_string(b.dims));
    const int64_t k_dim = trans_b ? b.dims[1] : b.dims[0], n_dim = trans_b ? b.dims[0] : b.dims[1];
    if (a.shape.size() != 2 || a.shape[1] != k_dim)
      fail(node, "input " + shape_string(a.shape) + " does not match B " + shape_string(b.dims));
    std::vector<float> bias;
    if (has_input(node, 2)) {
      const Constant& c = constant(node, 2, "C");
      bias = gemm_bias(node, c, n_dim);
      for (float& v : bias) v = float(beta * v);
    }
    add_fully_connected(
        node, a, n_dim,
        [&](int64_t n, int64_t k) { return alpha * b.values[size_t(trans_b ? n * k_dim + k : k * n_dim + n)]; },
        std::move(bias));
  }

  // Gemm's C, broadcast to the [1, N] output.
  std::vector<float> gemm_bias(const NodeProto& node, const Constant& c, int64_t n) const {
    bool ok = c.dims.size() <= 2;
    for (size_t i = 0; ok && i < c.dims.size(); ++i) {
      const size_t axis = 2 - c.dims.size() + i;
      ok = c.dims[i] == 1 || (axis == 1 && c.dims[i] == n);
    }
    if (!ok) fail(node, "C of shape " + shape_string(c.dims) + " does not broadcast to the output [1," + std::to_string(n) + "]");
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(c.values[c.values.size() == 1 ? 0 : size_t(i)]);
    return v;
  }

  void import_matmul(const NodeProto& node) {
    const Value& a = activation(node, 0);
    const Constant& b = constant(node, 1, "B");
    if (a.shape.size() != 2 || b.dims.size() != 2 || a.shape[1] != b.dims[0])
      fail(node, "the engine multiplies a [1, K] input by a constant [K, N]; got " + shape_string(a.shape) + " x " +
                     shape_string(b.dims));
    const int64_t n_dim = b.dims[1];
    add_fully_connected(node, a, n_dim, [&](int64_t n, int64_t k) { return b.values[size_t(k * n_dim + n)]; }, {});
  }

  // ---- per-channel affine ops: folded into the producer, or a 1x1 depthwise conv

  // y = x * scale[c] + shift[c], then `act`.
  void add_channel_affine(const NodeProto& node, const Value& x, std::vector<float> scale, std::vector<float> shift,
                          Activation act) {
    const Tensor t = m_.graph.tensors[size_t(x.tensor)];
    const int out = m_.graph.add_tensor(t.h, t.w, t.c);
    FloatOpParams p;
    p.weights = std::move(scale);
    p.bias = std::move(shift);
    const int index = add_op(node, OpKind::DepthwiseConv2D, x.tensor, out, std::move(p), 1, 1);
    m_.graph.ops[size_t(index)].activation = act;
    define(node, Value{out, x.shape, index, false});
  }

  // The producing op when `node` can be folded into its weights and bias (it has no activation yet);
  // -1 otherwise.
  int foldable_linear_producer(const NodeProto& node, const Value& x) const {
    const int index = absorbing_producer(node, x);
    if (index < 0) return -1;
    const Op& op = m_.graph.ops[size_t(index)];
    return has_bias(op.kind) && op.activation == Activation::None ? index : -1;
  }

  void scale_and_shift_op(int index, const std::vector<float>& scale, const std::vector<float>& shift) {
    FloatOpParams& p = m_.params[size_t(index)];
    const size_t out_c = shift.size();
    if (p.bias.empty()) p.bias.assign(out_c, 0.0f);
    const size_t per_channel = p.weights.size() / out_c;  // every layout has the output channel first
    for (size_t c = 0; c < out_c; ++c) {
      for (size_t j = 0; j < per_channel; ++j) p.weights[c * per_channel + j] *= scale[c];
      p.bias[c] = p.bias[c] * scale[c] + shift[c];
    }
  }

  void channel_affine(const NodeProto& node, const Value& x, const std::vector<float>& scale, const std::vector<float>& shift) {
    if (const int producer = foldable_linear_producer(node, x); producer >= 0) {
      scale_and_shift_op(producer, scale, shift);
      define_alias(node, x, x.shape, false);
    } else {
      add_channel_affine(node, x, scale, shift, Activation::None);
    }
  }

  void import_add(const NodeProto& node) {
    const bool first_constant = constants_.count(node.input(0)) > 0;
    const bool second_constant = constants_.count(node.input(1)) > 0;
    if (!first_constant && !second_constant) {
      const Value& a = activation(node, 0);
      const Value& b = activation(node, 1);
      const Tensor& ta = m_.graph.tensors[size_t(a.tensor)];
      const Tensor& tb = m_.graph.tensors[size_t(b.tensor)];
      if (a.shape != b.shape || ta.h != tb.h || ta.w != tb.w || ta.c != tb.c)
        fail(node, "operands " + shape_string(a.shape) + " and " + shape_string(b.shape) +
                       " differ; the engine adds tensors of one shape");
      const int out = m_.graph.add_tensor(ta.h, ta.w, ta.c);
      const int index = add_op(node, OpKind::Add, a.tensor, out, {}, 1, 1, b.tensor);
      define(node, Value{out, a.shape, index, false});
      return;
    }
    const int xi = first_constant ? 1 : 0;
    const Value& x = activation(node, xi);
    const Constant& c = constant(node, 1 - xi, "the constant operand");
    const std::vector<float> shift = per_channel(node, c, x, "the constant operand");
    channel_affine(node, x, std::vector<float>(shift.size(), 1.0f), shift);
  }

  // ---- element-wise functions and products

  // An element-wise function: an engine Unary op (an int8 table on the MCU). PRelu with one slope for
  // every channel is a LeakyRelu. HardSigmoid(x, 1/6, 1/2) whose only reader multiplies it by x (the
  // opset-10 form of HardSwish the exports write) waits for that Mul, which becomes one HardSwish.
  void import_unary(const NodeProto& node, UnaryFunction f) {
    const Value& x = activation(node, 0);
    double alpha = 0.0, beta = 0.0;
    const std::string& op = node.op_type();
    if (op == "HardSigmoid") {
      alpha = attribute_float(node, "alpha", 0.2f);
      beta = attribute_float(node, "beta", 0.5f);
      if (float(alpha) == 1.0f / 6.0f && float(beta) == 0.5f && is_hard_swish_gate(node)) {
        hard_swish_gates_.insert(node.output(0));
        return;
      }
    } else if (op == "LeakyRelu") {
      alpha = attribute_float(node, "alpha", 0.01f);
    } else if (op == "Elu") {
      alpha = attribute_float(node, "alpha", 1.0f);
    } else if (op == "Selu") {
      alpha = attribute_float(node, "alpha", 1.67326319217681884765625f);
      beta = attribute_float(node, "gamma", 1.05070102214813232421875f);
    } else if (op == "PRelu") {
      const Constant& slope = constant(node, 1, "slope");
      if (slope.values.empty()) fail(node, "the slope is empty");
      if (std::any_of(slope.values.begin(), slope.values.end(), [&](double v) { return v != slope.values[0]; }))
        return add_prelu(node, x, slope);
      alpha = slope.values.at(0);
    }
    add_unary(node, x, f, alpha, beta);
  }

  // PRelu with a slope per channel: ONNX broadcasts the slope from the right, so its dimensions must
  // put the channel count on the channel axis and 1 everywhere else.
  void add_prelu(const NodeProto& node, const Value& x, const Constant& slope) {
    const size_t rank = x.shape.size();
    bool per_channel = slope.dims.size() <= rank && !flattened(x) && rank >= 2;
    for (size_t d = 0; per_channel && d < slope.dims.size(); ++d) {
      const size_t axis = rank - slope.dims.size() + d;
      per_channel = slope.dims[d] == (axis == 1 ? x.shape[1] : 1);
    }
    if (!per_channel)
      fail(node, "a slope of shape " + shape_string(slope.dims) + " on " + shape_string(x.shape) +
                     ": the engine takes one slope, or one per channel");
    const Tensor t = m_.graph.tensors[size_t(x.tensor)];
    const int out = m_.graph.add_tensor(t.h, t.w, t.c);
    FloatOpParams p;
    for (double v : slope.values) p.weights.push_back(float(v));
    const int index = add_op(node, OpKind::PRelu, x.tensor, out, std::move(p));
    define(node, Value{out, x.shape, index, false});
  }

  void add_unary(const NodeProto& node, const Value& x, UnaryFunction f, double alpha, double beta) {
    const Tensor t = m_.graph.tensors[size_t(x.tensor)];
    const int out = m_.graph.add_tensor(t.h, t.w, t.c);
    const int index = add_op(node, OpKind::Unary, x.tensor, out, {});
    Op& o = m_.graph.ops[size_t(index)];
    o.unary = f;
    o.alpha = float(alpha);
    o.beta = float(beta);
    define(node, Value{out, x.shape, index, false});
  }

  bool is_hard_swish_gate(const NodeProto& node) const {
    auto it = readers_.find(node.output(0));
    if (it == readers_.end() || it->second.size() != 1 || graph_outputs_.count(node.output(0))) return false;
    const NodeProto& mul = *it->second[0];
    return mul.op_type() == "Mul" && mul.input_size() == 2 &&
           ((mul.input(0) == node.input(0) && mul.input(1) == node.output(0)) ||
            (mul.input(1) == node.input(0) && mul.input(0) == node.output(0)));
  }

  // The product of two activations of one shape, or of an activation and a per-channel [1,C,1,1]
  // activation (squeeze-and-excite); of an activation and a constant: a per-channel scale.
  void import_mul(const NodeProto& node) {
    if (constants_.count(node.input(0)) || constants_.count(node.input(1))) return import_scale_or_shift(node);
    for (int i = 0; i < 2; ++i)
      if (hard_swish_gates_.count(node.input(i))) return add_unary(node, activation(node, 1 - i), UnaryFunction::HardSwish, 0.0, 0.0);
    const Value* a = &activation(node, 0);
    const Value* b = &activation(node, 1);
    auto pixels = [&](const Value& v) {
      const Tensor& t = m_.graph.tensors[size_t(v.tensor)];
      return int64_t(t.h) * t.w;
    };
    if (pixels(*a) == 1 && pixels(*b) > 1) std::swap(a, b);  // the per-channel operand second
    const Tensor& ta = m_.graph.tensors[size_t(a->tensor)];
    const Tensor& tb = m_.graph.tensors[size_t(b->tensor)];
    const bool same = a->shape == b->shape && ta.h == tb.h && ta.w == tb.w && ta.c == tb.c;
    const bool per_channel = pixels(*b) == 1 && tb.c == ta.c && !flattened(*a) && b->shape.size() == a->shape.size();
    if (!same && !per_channel)
      fail(node, "operands " + shape_string(a->shape) + " and " + shape_string(b->shape) +
                     ": the engine multiplies tensors of one shape, or by one value per channel");
    const int out = m_.graph.add_tensor(ta.h, ta.w, ta.c);
    const int index = add_op(node, OpKind::Mul, a->tensor, out, {}, 1, 1, b->tensor);
    define(node, Value{out, a->shape, index, false});
  }

  // Sub, Mul or Div of an activation and a per-channel constant: a scale and shift, folded into the
  // producer or a 1x1 depthwise conv (Add is import_add).
  void import_scale_or_shift(const NodeProto& node) {
    const std::string& op = node.op_type();
    const bool first_constant = constants_.count(node.input(0)) > 0;
    const bool second_constant = has_input(node, 1) && constants_.count(node.input(1)) > 0;
    if (!first_constant && !second_constant)
      fail(node, std::string("both operands are activations; the engine ") +
                     (op == "Sub" ? "subtracts a constant" : "divides by a constant") + " only");
    const int xi = first_constant ? 1 : 0;
    const Value& x = activation(node, xi);
    const Constant& c = constant(node, 1 - xi, "the constant operand");
    const std::vector<float> v = per_channel(node, c, x, "the constant operand");
    const size_t n = v.size();
    std::vector<float> scale(n, 1.0f), shift(n, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      if (op == "Mul") {
        scale[i] = v[i];
      } else if (op == "Sub") {  // x - c, or c - x
        scale[i] = first_constant ? -1.0f : 1.0f;
        shift[i] = first_constant ? v[i] : -v[i];
      } else {  // Div
        if (first_constant) fail(node, "dividing a constant by an activation is not supported");
        if (v[i] == 0.0f) fail(node, "division by zero");
        scale[i] = 1.0f / v[i];
      }
    }
    channel_affine(node, x, scale, shift);
  }

  // Zero padding of the spatial axes: nothing when every pad is 0, else folded into the Conv or
  // AveragePool that reads it (import_node refuses any other reader).
  void import_pad(const NodeProto& node) {
    const Value& x = activation(node, 0);
    const std::string mode = attribute_string(node, "mode", "constant");
    if (mode != "constant") fail(node, "mode '" + mode + "': the engine pads with zeros only");
    std::vector<int64_t> pads;
    double value = 0.0;
    if (opset_ < 11) {
      pads = attribute_ints(node, "pads");
      value = attribute_float(node, "value", 0.0f);
    } else {
      pads = integers(node, constant(node, 1, "pads"), "pads");
      if (has_input(node, 2)) value = scalar(node, 2, "constant_value");
    }
    const size_t rank = x.shape.size();
    std::vector<int64_t> axes;
    if (opset_ >= 18 && has_input(node, 3)) {
      for (const int64_t a : integers(node, constant(node, 3, "axes"), "axes")) axes.push_back(axis_in(node, a, rank));
    } else {
      for (size_t a = 0; a < rank; ++a) axes.push_back(int64_t(a));
    }
    if (pads.size() != 2 * axes.size())
      fail(node, std::to_string(pads.size()) + " pads for " + std::to_string(axes.size()) + " axes");
    if (value != 0.0) fail(node, "padding with " + format_number(value) + ": the engine pads with zeros only");
    std::array<int64_t, 4> pad{};
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t before = pads[i], after = pads[i + axes.size()];
      if (before < 0 || after < 0) fail(node, "negative pads (cropping) are not supported");
      if (before == 0 && after == 0) continue;
      if (rank != 4 || axes[i] < 2) fail(node, "the engine pads the height and width of [1,C,H,W] only");
      pad[size_t(axes[i] - 2)] += before;
      pad[size_t(axes[i])] += after;
    }
    for (size_t i = 0; i < 4; ++i) pad[i] += x.pad[i];
    Value y = x;
    y.pad = pad;
    y.producer = -1;
    if (y.padded()) {
      values_[node.output(0)] = y;  // the padded shape is checked on the reader's output
    } else {
      define_alias(node, x, x.shape, x.quantized);
    }
  }

  void import_batch_norm(const NodeProto& node) {
    const Value& x = activation(node, 0);
    if (attribute_int(node, "training_mode", 0) != 0 || node.output_size() > 1)
      fail(node, "training mode (running statistics as outputs) is not supported");
    if (attribute_int(node, "spatial", 1) != 1) fail(node, "spatial = 0 is not supported");
    if (flattened(x)) fail(node, "normalizing a flattened tensor is not supported");
    const int c_count = channels(x);
    const Constant* params[4] = {&constant(node, 1, "scale"), &constant(node, 2, "bias B"), &constant(node, 3, "mean"),
                                 &constant(node, 4, "var")};
    for (const Constant* p : params)
      if (int64_t(p->values.size()) != c_count) fail(node, "parameters must have one value per channel");
    const double epsilon = attribute_float(node, "epsilon", 1e-5f);
    std::vector<float> scale(static_cast<size_t>(c_count)), shift(static_cast<size_t>(c_count));
    for (size_t c = 0; c < size_t(c_count); ++c) {
      const double s = params[0]->values[c] / std::sqrt(params[3]->values[c] + epsilon);
      scale[c] = float(s);
      shift[c] = float(params[1]->values[c] - params[2]->values[c] * s);
    }
    channel_affine(node, x, scale, shift);
  }

  // ---- activations

  void import_activation(const NodeProto& node, Activation act) {
    const Value& x = activation(node, 0);
    const int producer = absorbing_producer(node, x);
    const OpKind kind = producer >= 0 ? m_.graph.ops[size_t(producer)].kind : OpKind::Softmax;
    if (kind != OpKind::Softmax && kind != OpKind::Resize) {  // their kernels clamp nothing
      Op& op = m_.graph.ops[size_t(producer)];
      op.activation = combine(op.activation, act);
      define_alias(node, x, x.shape, false);
    } else {
      const size_t c = size_t(channels(x));
      add_channel_affine(node, x, std::vector<float>(c, 1.0f), std::vector<float>(c, 0.0f), act);
    }
  }

  void import_clip(const NodeProto& node) {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    if (opset_ < 11) {
      lo = attribute_float(node, "min", -std::numeric_limits<float>::max());
      hi = attribute_float(node, "max", std::numeric_limits<float>::max());
    } else {
      if (has_input(node, 1)) lo = scalar(node, 1, "min");
      if (has_input(node, 2)) hi = scalar(node, 2, "max");
    }
    const double big = std::numeric_limits<float>::max();
    const bool no_min = lo <= -big, no_max = hi >= big;
    if (no_min && no_max) return import_identity(node);
    if (lo == 0.0 && no_max) return import_activation(node, Activation::Relu);
    if (lo == 0.0 && hi == 6.0) return import_activation(node, Activation::Relu6);
    fail(node, "bounds [" + format_number(lo) + ", " + format_number(hi) +
                   "]: the engine clamps to [0, 6] (ReLU6) or [0, inf) (ReLU) only");
  }

  // ---- pooling and softmax

  void import_pool(const NodeProto& node) {
    const bool average = node.op_type() == "AveragePool";
    const Value& x = activation(node, 0, /*quantized_ok=*/!average);  // max commutes with the affine dequantization
    require_image(node, x);
    if (node.output_size() > 1 && !node.output(1).empty()) fail(node, "the Indices output is not supported");
    const auto kernel = attribute_ints(node, "kernel_shape");
    const bool one_d = x.shape.size() == 3;
    if (kernel.size() != x.shape.size() - 2)
      fail(node, "kernel_shape " + shape_string(kernel) + " for an input of shape " + shape_string(x.shape));
    const std::vector<int64_t> own_pads = attribute_ints(node, "pads");
    const bool own_padding = std::any_of(own_pads.begin(), own_pads.end(), [](int64_t p) { return p != 0; }) ||
                             attribute_string(node, "auto_pad", "NOTSET") != "NOTSET";
    // One window over the whole unpadded input (torch's AvgPool2d(8) on an 8x8 map): a global average
    // pool, whatever the window's shape.
    if (average && !own_padding && !x.padded() && kernel[0] == x.shape[2] && (one_d || kernel[1] == x.shape[3]))
      return add_global_average_pool(node, x, one_d ? std::vector<int64_t>{1, x.shape[1], 1} : std::vector<int64_t>{1, x.shape[1], 1, 1});
    // A Pad before an AveragePool: its zeros count in the average.
    const bool include_pad = attribute_int(node, "count_include_pad", 0) != 0 || x.padded();
    if (average && x.padded() && own_padding && attribute_int(node, "count_include_pad", 0) == 0)
      fail(node, "padding of its own (not counted) after a Pad (counted) is not supported");
    const Window win = window(node, x, kernel[0], one_d ? 1 : kernel[1], true);
    const int c = channels(x);
    const int out = m_.graph.add_tensor(win.out_h, win.out_w, c);
    const std::vector<int64_t> shape = window_output_shape(x, c, win);
    int index = -1;
    if (average && include_pad) {
      // The padding counts in the average: a depthwise conv with weights 1 / k^2 over zero padding.
      if (attribute_int(node, "ceil_mode", 0) != 0) fail(node, "count_include_pad together with ceil_mode is not supported");
      FloatOpParams p;
      const int taps = win.kernel_h * win.kernel_w;
      p.weights.assign(size_t(c) * size_t(taps), 1.0f / float(taps));
      if (win.square()) {
        index = add_op(node, OpKind::DepthwiseConv2D, x.tensor, out, std::move(p), win);
      } else {  // one input channel per group: a grouped conv
        index = add_op(node, OpKind::Conv2D, x.tensor, out, std::move(p), win);
        m_.graph.ops[size_t(index)].groups = c;
      }
    } else {
      index = add_op(node, average ? OpKind::AvgPool2D : OpKind::MaxPool2D, x.tensor, out, {}, win);
    }
    define(node, Value{out, shape, index, x.quantized});
  }

  void import_global_average_pool(const NodeProto& node) {
    const Value& x = activation(node, 0);
    if (x.shape.size() < 3) fail(node, "expects [1,C,H,W] or [1,C,L], got " + shape_string(x.shape));
    std::vector<int64_t> shape(x.shape.size(), 1);
    shape[1] = channels(x);
    add_global_average_pool(node, x, shape);
  }

  // The mean over the spatial axes (torchvision's x.mean([2, 3])): a global average pool.
  void import_reduce_mean(const NodeProto& node) {
    const Value& x = activation(node, 0);
    const size_t rank = x.shape.size();
    std::vector<int64_t> axes = ints_from(node, "axes", 1, 18);
    for (int64_t& a : axes) a = axis_in(node, a, rank);
    std::sort(axes.begin(), axes.end());
    std::vector<int64_t> spatial;
    for (size_t a = 2; a < rank; ++a) spatial.push_back(int64_t(a));
    if (rank < 3 || axes != spatial)
      fail(node, "axes " + shape_string(axes) + " of " + shape_string(x.shape) +
                     ": the engine averages over every spatial axis only (a global average pool)");
    std::vector<int64_t> shape{1, channels(x)};
    if (attribute_int(node, "keepdims", 1) != 0) shape.resize(rank, 1);
    add_global_average_pool(node, x, shape);
  }

  void add_global_average_pool(const NodeProto& node, const Value& x, const std::vector<int64_t>& shape) {
    const Tensor t = m_.graph.tensors[size_t(x.tensor)];
    const int out = m_.graph.add_tensor(1, 1, t.c);
    const int index = add_op(node, OpKind::GlobalAvgPool, x.tensor, out, {}, t.h);
    define(node, Value{out, shape, index, false});
  }

  // The engine's softmax runs over the channels of each pixel.
  void import_softmax(const NodeProto& node) {
    const Value& x = activation(node, 0);
    const int64_t rank = int64_t(x.shape.size());
    int64_t axis = attribute_int(node, "axis", opset_ < 13 ? 1 : -1);
    if (axis < 0) axis += rank;
    const Tensor t = m_.graph.tensors[size_t(x.tensor)];
    const bool one_pixel = int64_t(t.h) * t.w == 1;
    // Before opset 13 the softmax spans every axis from `axis` on.
    const bool over_channels = axis == 1 && !flattened(x) && (opset_ >= 13 || one_pixel);
    if (!over_channels)
      fail(node, "axis " + std::to_string(axis) + " of " + shape_string(x.shape) +
                     ": the engine's softmax runs over the channels of each pixel");
    const int out = m_.graph.add_tensor(t.h, t.w, t.c);
    const int index = add_op(node, OpKind::Softmax, x.tensor, out, {});
    define(node, Value{out, x.shape, index, false});
  }

  // ---- channel maps: Concat, Split, Slice and Gather along the channels, and channel shuffles

  // The channel axis of an activation: axis 1 of [1,C], [1,C,L] or [1,C,H,W], never of a flattened one.
  void require_channel_axis(const NodeProto& node, const Value& x, int64_t axis) const {
    if (axis != 1 || flattened(x) || x.shape.size() > 4)
      fail(node, "axis " + std::to_string(axis) + " of " + shape_string(x.shape) +
                     ": the engine gathers along the channels (axis 1) only");
  }

  // A ChannelMap op over x (and x2): output channel j copies channel map[j] of x's channels followed by
  // x2's. Returns its output, x's shape with map.size() channels.
  // A one-input map of a channel map's output that nothing else reads composes with it into one op
  // (`may_compose`: not for the several outputs of a Split), as a Concat followed by a shuffle.
  Value add_channel_map(const NodeProto& node, const Value& x, const Value* x2, std::vector<int> map,
                        bool may_compose = true) {
    const int producer = absorbing_producer(node, x);
    if (may_compose && !x2 && producer >= 0 && m_.graph.ops[size_t(producer)].kind == OpKind::ChannelMap &&
        m_.graph.ops[size_t(producer)].activation == Activation::None) {
      Op& earlier = m_.graph.ops[size_t(producer)];
      std::vector<int> composed;
      for (const int c : map) composed.push_back(earlier.channel_map[size_t(c)]);
      earlier.channel_map = std::move(composed);
      m_.graph.tensors[size_t(earlier.output)].c = int(earlier.channel_map.size());
      m_.op_names[size_t(producer)] = node.name().empty() ? node.output(0) : node.name();
      Value y = x;
      y.shape[1] = int64_t(earlier.channel_map.size());
      return y;
    }
    const Tensor t = m_.graph.tensors[size_t(x.tensor)];
    const int out = m_.graph.add_tensor(t.h, t.w, int(map.size()));
    std::vector<int64_t> shape = x.shape;
    shape[1] = int64_t(map.size());
    const int index = add_op(node, OpKind::ChannelMap, x.tensor, out, {}, 1, 1, x2 ? x2->tensor : -1);
    m_.graph.ops[size_t(index)].channel_map = std::move(map);
    return Value{out, shape, index, false};
  }

  // Concat along the channels of two or more activations: one channel map per input after the first.
  void import_concat(const NodeProto& node) {
    if (!first_activation(node).empty() && std::any_of(node.input().begin(), node.input().end(), [&](const std::string& in) {
          return constants_.count(in) > 0;
        }))
      fail(node, "concatenates constants with activations; the engine concatenates activations only");
    if (node.input_size() < 2) return import_identity(node);
    Value joined = activation(node, 0);
    const int64_t axis = axis_in(node, attribute_int(node, "axis", 0), joined.shape.size());
    require_channel_axis(node, joined, axis);
    for (int i = 1; i < node.input_size(); ++i) {
      const Value& x2 = activation(node, i);
      std::vector<int64_t> rest1 = joined.shape, rest2 = x2.shape;
      if (rest1.size() == rest2.size()) rest1[1] = rest2[1] = 0;
      if (rest1 != rest2 || flattened(x2))
        fail(node, "inputs of shapes " + shape_string(joined.shape) + " and " + shape_string(x2.shape) +
                       " differ in more than the channels");
      const int channels = int(joined.shape[1] + x2.shape[1]);
      std::vector<int> map(static_cast<size_t>(channels));
      for (int c = 0; c < channels; ++c) map[size_t(c)] = c;
      joined = add_channel_map(node, joined, &x2, std::move(map));
    }
    define(node, joined);
  }

  // Gather of constant indices along the channels, or along the height or width (a resize).
  void import_gather(const NodeProto& node) {
    if (!constants_.count(node.input(1))) fail(node, "the indices must be constants");
    const Value& x = activation(node, 0);
    const int64_t axis = axis_in(node, attribute_int(node, "axis", 0), x.shape.size());
    const bool spatial = axis >= 2 && (x.shape.size() == 3 || x.shape.size() == 4) && !flattened(x);
    if (!spatial) require_channel_axis(node, x, axis);
    const Constant& indices = constant(node, 1, "indices");
    if (indices.dims.size() != 1)
      fail(node, "indices of shape " + shape_string(indices.dims) + ": the engine gathers a list of " +
                     (spatial ? "rows or columns" : "channels"));
    const int64_t n = x.shape[size_t(axis)];
    std::vector<int> map;
    for (const int64_t index : integers(node, indices, "indices")) {
      const int64_t i = index < 0 ? index + n : index;
      if (i < 0 || i >= n) fail(node, "index " + std::to_string(index) + " is outside the " + std::to_string(n) + " entries of axis " + std::to_string(axis));
      map.push_back(int(i));
    }
    if (map.empty()) fail(node, "gathers nothing");
    if (!spatial) return define(node, add_channel_map(node, x, nullptr, std::move(map)));
    std::vector<int> rows = identity_sources(x.shape[2]), cols = identity_sources(x.shape.size() == 4 ? x.shape[3] : 1);
    (axis == 2 ? rows : cols) = std::move(map);
    define(node, add_resize(node, x, std::move(rows), std::move(cols)));
  }

  // Slice along the channels (any start, end and step).
  void import_slice(const NodeProto& node) {
    const Value& x = activation(node, 0);
    const SliceAxes slice = slice_axes(node);
    if (slice.starts.size() != 1)
      fail(node, "slices " + std::to_string(slice.starts.size()) + " axes; the engine slices the channels only");
    require_channel_axis(node, x, axis_in(node, slice.axes[0], x.shape.size()));
    const auto [first, count] = slice_range(node, slice, 0, x.shape[1]);
    std::vector<int> map;
    for (int64_t k = 0; k < count; ++k) map.push_back(int(first + k * slice.steps[0]));
    if (map.empty()) fail(node, "slices no channel");
    define(node, add_channel_map(node, x, nullptr, std::move(map)));
  }

  // Split along the channels: one channel map per output.
  void import_split(const NodeProto& node) {
    const Value& x = activation(node, 0);
    const int64_t axis = axis_in(node, attribute_int(node, "axis", 0), x.shape.size());
    require_channel_axis(node, x, axis);
    std::vector<int64_t> sizes = ints_from(node, "split", 1, 13);
    const int64_t n = x.shape[1], outputs = node.output_size();
    if (sizes.empty()) {  // equal parts (the last smaller, from opset 18 on)
      const int64_t part = (n + outputs - 1) / outputs;
      for (int64_t first = 0; first < n; first += part) sizes.push_back(std::min(part, n - first));
    }
    if (int64_t(sizes.size()) != outputs)
      fail(node, std::to_string(sizes.size()) + " parts for " + std::to_string(outputs) + " outputs");
    int64_t first = 0;
    for (int64_t k = 0; k < outputs; ++k) {
      if (sizes[size_t(k)] < 1 || first + sizes[size_t(k)] > n)
        fail(node, "split " + shape_string(sizes) + " does not divide " + std::to_string(n) + " channels");
      std::vector<int> map;
      for (int64_t c = first; c < first + sizes[size_t(k)]; ++c) map.push_back(int(c));
      first += sizes[size_t(k)];
      if (!node.output(int(k)).empty())
        define_output(node, int(k), add_channel_map(node, x, nullptr, std::move(map), /*may_compose=*/false));
    }
    if (first != n) fail(node, "split " + shape_string(sizes) + " does not cover the " + std::to_string(n) + " channels");
  }

  // The channel shuffle (ShuffleNet): x viewed as [1, g, n, H, W] with its axes 1 and 2 swapped, so
  // that output channel j * g + i is input channel i * n + j.
  void add_channel_shuffle(const NodeProto& node, const Value& x) {
    const int64_t g = x.shape[1], n = x.shape[2];
    std::vector<int> map(size_t(g * n));
    for (int64_t i = 0; i < g; ++i)
      for (int64_t j = 0; j < n; ++j) map[size_t(j * g + i)] = int(i * n + j);
    Value flat = x;  // the engine tensor's channels, as [1, C, H, W]
    flat.shape = {1, g * n, x.shape[3], x.shape[4]};
    Value y = add_channel_map(node, flat, nullptr, std::move(map));
    y.shape = {1, n, g, x.shape[3], x.shape[4]};
    define(node, y);
  }

  // ---- nearest-neighbour resizing: Resize and Upsample in mode nearest, Gather along the height or width

  static std::vector<int> identity_sources(int64_t n) {
    std::vector<int> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int(i);
    return v;
  }

  // A Resize op over the activation x ([1,C,H,W], or [1,C,L] as L x 1): output pixel (y, x) copies input
  // pixel (rows[y], cols[x]). A resize of a resize's output that nothing else reads composes with it.
  Value add_resize(const NodeProto& node, const Value& x, std::vector<int> rows, std::vector<int> cols) {
    if (double(rows.size()) * double(cols.size()) * double(channels(x)) > kMaxInputElements)
      fail(node, "resizes to " + std::to_string(rows.size()) + "x" + std::to_string(cols.size()) + "x" +
                     std::to_string(channels(x)) + ", more than 2^26 elements, far beyond any MCU's memory");
    std::vector<int64_t> shape = x.shape;
    shape[2] = int64_t(rows.size());
    if (shape.size() == 4) shape[3] = int64_t(cols.size());
    const int producer = absorbing_producer(node, x);
    if (producer >= 0 && m_.graph.ops[size_t(producer)].kind == OpKind::Resize) {
      Op& earlier = m_.graph.ops[size_t(producer)];
      for (int& y : rows) y = earlier.resize_rows[size_t(y)];
      for (int& c : cols) c = earlier.resize_cols[size_t(c)];
      earlier.resize_rows = std::move(rows);
      earlier.resize_cols = std::move(cols);
      Tensor& t = m_.graph.tensors[size_t(earlier.output)];
      t.h = int(earlier.resize_rows.size()), t.w = int(earlier.resize_cols.size());
      m_.op_names[size_t(producer)] = node.name().empty() ? node.output(0) : node.name();
      Value y = x;
      y.shape = std::move(shape);
      return y;
    }
    const int out = m_.graph.add_tensor(int(rows.size()), int(cols.size()), channels(x));
    const int index = add_op(node, OpKind::Resize, x.tensor, out, {});
    m_.graph.ops[size_t(index)].resize_rows = std::move(rows);
    m_.graph.ops[size_t(index)].resize_cols = std::move(cols);
    return Value{out, std::move(shape), index, false};
  }

  // The input index of every output index along one axis, as ONNX's Resize defines nearest mode:
  // the output coordinate mapped back by `transform`, rounded by `rounding`, clamped to the input.
  std::vector<int> nearest_sources(const NodeProto& node, int64_t in, int64_t out, double scale,
                                   const std::string& transform, const std::string& rounding) const {
    std::vector<int> sources;
    for (int64_t i = 0; i < out; ++i) {
      const double y = double(i);
      double x = 0.0;
      if (transform == "half_pixel") x = (y + 0.5) / scale - 0.5;
      else if (transform == "half_pixel_symmetric") {
        const double adjustment = double(out) / (scale * double(in)), center = double(in) / 2.0;
        x = center * (1.0 - adjustment) + (y + 0.5) / scale - 0.5;
      } else if (transform == "pytorch_half_pixel") x = out > 1 ? (y + 0.5) / scale - 0.5 : 0.0;
      else if (transform == "align_corners") x = out > 1 ? y * double(in - 1) / double(out - 1) : 0.0;
      else if (transform == "asymmetric") x = y / scale;
      else if (transform == "tf_half_pixel_for_nn") x = (y + 0.5) / scale;
      else fail(node, "coordinate_transformation_mode '" + transform + "' is not one the engine resizes with");
      double r = 0.0;
      if (rounding == "round_prefer_floor") r = std::ceil(x - 0.5);
      else if (rounding == "round_prefer_ceil") r = std::floor(x + 0.5);
      else if (rounding == "floor") r = std::floor(x);
      else if (rounding == "ceil") r = std::ceil(x);
      else fail(node, "nearest_mode '" + rounding + "' is not one of ONNX's");
      sources.push_back(int(std::clamp(r, 0.0, double(in - 1))));
    }
    return sources;
  }

  // Resize (opset 10 on: scales, or sizes from opset 11) and Upsample (scales) in mode nearest, over
  // the height and width of [1,C,H,W] or the length of [1,C,L].
  void import_resize(const NodeProto& node) {
    const Value& x = activation(node, 0);
    if ((x.shape.size() != 3 && x.shape.size() != 4) || flattened(x))
      fail(node, "resizes a tensor of shape " + shape_string(x.shape) + "; the engine resizes [1,C,L] and [1,C,H,W]");
    const std::string mode = attribute_string(node, "mode", "nearest");
    if (mode != "nearest") fail(node, "mode '" + mode + "': the engine resizes in mode nearest only");
    const bool legacy = node.op_type() == "Upsample" || opset_ < 11;  // scales only, x / scale rounded down
    const size_t rank = x.shape.size();
    std::vector<int64_t> axes = legacy ? std::vector<int64_t>{} : attribute_ints(node, "axes");
    if (axes.empty())
      for (size_t a = 0; a < rank; ++a) axes.push_back(int64_t(a));
    for (int64_t& a : axes) a = axis_in(node, a, rank);
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    if (node.op_type() == "Upsample" && opset_ < 9) {
      if (const auto* a = find_attribute(node, "scales")) scales.assign(a->floats().begin(), a->floats().end());
    } else if (legacy) {
      scales = constant(node, 1, "scales").values;
    } else if (const Constant* s = find_constant(node, 3); s && !s->values.empty()) {
      sizes = integers(node, *s, "sizes");
    } else {
      scales = constant(node, 2, "scales").values;
    }
    const size_t given = sizes.empty() ? scales.size() : sizes.size();
    if (given != axes.size())
      fail(node, std::to_string(given) + (sizes.empty() ? " scales" : " sizes") + " for " + std::to_string(axes.size()) + " axes");
    std::vector<double> scale(rank, 1.0);
    std::vector<int64_t> size(x.shape);
    for (size_t k = 0; k < axes.size(); ++k) {
      const size_t a = size_t(axes[k]);
      if (sizes.empty()) {
        if (!(scales[k] > 0.0) || !(scales[k] <= 65536.0)) fail(node, "scale " + format_number(scales[k]) + " is not in (0, 65536]");
        scale[a] = scales[k];
        size[a] = int64_t(std::floor(double(x.shape[a]) * scales[k]));
      } else {
        if (sizes[k] < 1 || sizes[k] > 65535) fail(node, "size " + std::to_string(sizes[k]) + " is not in [1, 65535]");
        size[a] = sizes[k];
        scale[a] = double(sizes[k]) / double(x.shape[a]);
      }
    }
    const std::string policy = attribute_string(node, "keep_aspect_ratio_policy", "stretch");
    if (!sizes.empty() && policy != "stretch") {
      if (policy != "not_larger" && policy != "not_smaller") fail(node, "keep_aspect_ratio_policy '" + policy + "' is not one of ONNX's");
      double common = policy == "not_larger" ? INFINITY : 0.0;
      for (const int64_t a : axes) common = policy == "not_larger" ? std::min(common, scale[size_t(a)]) : std::max(common, scale[size_t(a)]);
      for (const int64_t a : axes) {
        scale[size_t(a)] = common;
        size[size_t(a)] = int64_t(std::round(common * double(x.shape[size_t(a)])));
      }
    }
    for (size_t a = 0; a < 2; ++a)
      if (size[a] != x.shape[a] || scale[a] != 1.0)
        fail(node, std::string("resizes the ") + (a == 0 ? "batch" : "channels") + "; the engine resizes the height and width only");
    for (size_t a = 2; a < rank; ++a)
      if (size[a] < 1 || size[a] > 65535) fail(node, "resizes axis " + std::to_string(a) + " to " + std::to_string(size[a]) + ", not in [1, 65535]");
    std::string transform = "asymmetric", rounding = "floor";
    if (!legacy) {
      transform = attribute_string(node, "coordinate_transformation_mode", "half_pixel");
      rounding = attribute_string(node, "nearest_mode", "round_prefer_floor");
      if (transform == "tf_crop_and_resize")
        fail(node, "coordinate_transformation_mode 'tf_crop_and_resize' crops a region; the engine resizes whole tensors");
    } else {
      for (size_t a = 2; a < rank; ++a)
        if (scale[a] < 1.0)
          fail(node, "downsamples (scale " + format_number(scale[a]) + ") in a form before opset 11, whose rounding runtimes disagree on");
    }
    std::vector<int> rows = nearest_sources(node, x.shape[2], size[2], scale[2], transform, rounding);
    std::vector<int> cols = rank == 4 ? nearest_sources(node, x.shape[3], size[3], scale[3], transform, rounding) : identity_sources(1);
    define(node, add_resize(node, x, std::move(rows), std::move(cols)));
  }

  // ---- ops that change no data

  void import_flatten(const NodeProto& node) {
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    const int64_t rank = int64_t(x.shape.size());
    int64_t axis = attribute_int(node, "axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) fail(node, "axis out of range");
    const int64_t rows = product(x.shape, 0, size_t(axis)), cols = product(x.shape, size_t(axis));
    if (rows != 1)
      fail(node, "axis " + std::to_string(axis) + " gives [" + std::to_string(rows) + "," + std::to_string(cols) +
                     "]; the engine flattens to [1, N] only");
    define_alias(node, x, {1, cols}, x.quantized);
  }

  void import_reshape(const NodeProto& node) {
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    const Constant& shape = constant(node, 1, "shape");
    const bool allow_zero = attribute_int(node, "allowzero", 0) != 0;
    std::vector<int64_t> target = integers(node, shape, "shape");
    // A model exported with a fixed batch N > 1 reshapes to [N, ...]: the engine's batch is 1.
    if (batch_ > 1 && !target.empty() && target[0] == batch_) target[0] = 1;
    int64_t known = 1;
    int inferred = -1;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i] == 0 && !allow_zero && i < x.shape.size()) target[i] = x.shape[i];
      if (target[i] < -1 || (target[i] == -1 && inferred >= 0))
        fail(node, "shape " + shape_string(target) + " is not a valid Reshape target");
      if (target[i] == -1) inferred = int(i);
      else if (__builtin_mul_overflow(known, target[i], &known))
        fail(node, "shape " + shape_string(target) + " has more elements than a tensor can hold");
    }
    const int64_t elements = product(x.shape);
    if (inferred >= 0 && known > 0) target[size_t(inferred)] = elements / known;
    const Tensor& t = m_.graph.tensors[size_t(x.tensor)];
    const bool flatten = target.size() == 2 && target[0] == 1 && target[1] == elements;
    // A 1x1xC tensor may take any [1, C, 1, ...] form.
    bool channel_vector = int64_t(t.h) * t.w == 1 && target.size() >= 2 && target.size() <= 4 && target[0] == 1 &&
                          target[1] == t.c;
    for (size_t i = 2; channel_vector && i < target.size(); ++i) channel_vector = target[i] == 1;
    // The channels split in two axes, [1, C, H, W] <-> [1, g, C / g, H, W], around a channel shuffle.
    const bool image = x.shape.size() == 4 && !flattened(x);
    const bool channel_split = image && target.size() == 5 && target[0] == 1 && target[1] * target[2] == x.shape[1] &&
                               target[3] == x.shape[2] && target[4] == x.shape[3];
    const bool channel_join = x.shape.size() == 5 && target.size() == 4 && target[0] == 1 &&
                              target[1] == x.shape[1] * x.shape[2] && target[2] == x.shape[3] && target[3] == x.shape[4];
    if (channel_split || channel_join) return define_alias(node, x, target, x.quantized);
    if (!flatten && !channel_vector)
      fail(node, "reshaping " + shape_string(x.shape) + " to " + shape_string(target) +
                     " is not supported (only to [1, N], or a 1x1 tensor to [1, C, 1, 1])");
    define_alias(node, x, target, x.quantized);
  }

  void import_identity(const NodeProto& node) {
    if (node.op_type() == "Dropout" && node.output_size() > 1 && !node.output(1).empty())
      fail(node, "the mask output is not supported");
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    define_alias(node, x, x.shape, x.quantized);
  }

  // On activations: no data change (the engine holds real values), for per-tensor quantization only.
  void import_quantize_linear(const NodeProto& node) {
    const Value& x = activation(node, 0, /*quantized_ok=*/true);
    const double scale = scalar(node, 1, "scale");
    if (!(scale > 0.0)) fail(node, "the scale must be positive");
    if (has_input(node, 2)) scalar(node, 2, "zero point");
    const bool to_quantized = node.op_type() == "QuantizeLinear";
    // A float activation quantized to 8 bits: its scale and zero point are kept (uint8 ones as int8).
    if (to_quantized && !x.quantized && !x.padded()) {
      const int32_t type = has_input(node, 2) ? constant(node, 2, "zero point").type : int32_t(TensorProto::UINT8);
      const long zero_point = std::lround(optional_scalar(node, 2, 0.0)) - (type == TensorProto::UINT8 ? 128 : 0);
      if ((type == TensorProto::UINT8 || type == TensorProto::INT8) && zero_point >= -128 && zero_point <= 127)
        m_.stated_quantization[x.tensor] = {float(scale), int32_t(zero_point)};
    }
    define_alias(node, x, x.shape, to_quantized);
  }
};

}  // namespace

std::vector<double> onnx_tensor_values(const onnx::TensorProto& tensor) {
  try {
    return read_tensor(tensor).values;
  } catch (const std::string& e) {
    throw core::InputError("ONNX tensor '" + tensor.name() + "': " + e);
  }
}

FloatModel import_onnx(const onnx::ModelProto& model, const std::string& origin) {
  return Importer(model, origin).run();
}

FloatModel import_onnx(const std::string& path) {
  const std::string bytes = core::read_text_file(path);
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes)) throw core::InputError("'" + path + "' is not an ONNX model (not a ModelProto)");
  return import_onnx(model, "'" + path + "'");
}

}  // namespace tinynas::engine
