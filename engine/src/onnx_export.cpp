// FloatModel / QuantizedModel -> ONNX (see onnx.h). One graph builder serves both: the quantized
// form differs only in how weights and biases are stored and in a Q/DQ pair after every tensor.
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <map>

#include "tinynas/engine/onnx.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace tinynas::engine {

namespace {

using onnx::NodeProto;
using onnx::TensorProto;

// The float form uses opset 10, whose Clip takes its bounds as attributes: OpenCV's DNN module (4.6)
// reads no other form. The quantized form needs opset 13 for per-axis DequantizeLinear.
constexpr int kFloatOpset = 10, kFloatIrVersion = 5;
constexpr int kQuantizedOpset = 13, kQuantizedIrVersion = 7;

// The padding after the input that gives an output size (the engine keeps only the padding before),
// for a window of reach `extent` moved by `stride`.
int64_t pad_after(int in, int out, int extent, int stride, int pad_before) {
  return std::max<int64_t>(0, int64_t(out - 1) * stride + extent - in - pad_before);
}

class Exporter {
 public:
  // Exactly one of `float_model` and `quantized_model` is set.
  Exporter(const FloatModel* float_model, const QuantizedModel* quantized_model)
      : fm_(float_model), qm_(quantized_model), g_(fm_ ? fm_->graph : qm_->graph),
        names_(fm_ ? fm_->op_names : qm_->op_names) {}

  onnx::ModelProto build() {
    model_.set_ir_version(qm_ ? kQuantizedIrVersion : kFloatIrVersion);
    model_.set_producer_name("tinynas");
    auto* opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(opset_);
    graph_ = model_.mutable_graph();
    graph_->set_name(g_.name.empty() ? "tinynas" : g_.name);
    // The raw pixel -> input map; a quantized input's is its int8 quantization of pixel - 128.
    const TensorQuant* input_quant = qm_ ? &qm_->tensors[size_t(g_.input)] : nullptr;
    add_metadata(kOnnxInputMeanKey, fm_ ? fm_->input_mean : float(input_quant->zero_point + 128));
    add_metadata(kOnnxInputStdKey, fm_ ? fm_->input_std : 1.0f / input_quant->scale);

    image_form_.assign(g_.tensors.size(), true);
    const Tensor& in = g_.tensors[size_t(g_.input)];
    declare(graph_->add_input(), "input", {1, in.c, in.h, in.w});
    if (qm_) {
      quantize_dequantize("input", g_.input);
    } else {
      published_[size_t(g_.input)] = "input";
    }
    for (size_t i = 0; i < g_.ops.size(); ++i) export_op(int(i));
    if (g_.ops.empty() && !qm_) add_node("Identity", {"input"}, "output");

    const Tensor& out = g_.tensors[size_t(g_.output)];
    if (image_form_[size_t(g_.output)]) declare(graph_->add_output(), "output", {1, out.c, out.h, out.w});
    else declare(graph_->add_output(), "output", {1, out.c});
    check();
    return std::move(model_);
  }

 private:
  const FloatModel* fm_;
  const QuantizedModel* qm_;
  const Graph& g_;
  const std::vector<std::string>& names_;
  const int opset_ = qm_ ? kQuantizedOpset : kFloatOpset;
  onnx::ModelProto model_;
  onnx::GraphProto* graph_ = nullptr;
  std::vector<bool> image_form_;        // per tensor: [1,C,H,W] in ONNX, else [1,C] (a FullyConnected output)
  std::map<int, std::string> published_;  // per tensor: the ONNX name ops read
  std::map<int, std::string> other_form_;  // per tensor: its Flatten / Reshape, once made
  bool relu6_bounds_added_ = false;

  void add_metadata(const char* key, float value) {
    auto* prop = model_.add_metadata_props();
    prop->set_key(key);
    std::ostringstream text;
    text << std::setprecision(9) << value;  // exact for a float
    prop->set_value(text.str());
  }

  static void declare(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* type = v->mutable_type()->mutable_tensor_type();
    type->set_elem_type(TensorProto::FLOAT);
    for (int64_t d : dims) type->mutable_shape()->add_dim()->set_dim_value(d);
  }

  NodeProto* add_node(const std::string& type, const std::vector<std::string>& inputs, const std::string& output,
                      const std::string& name = "") {
    NodeProto* n = graph_->add_node();
    n->set_op_type(type);
    n->set_name(name.empty() ? output : name);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return n;
  }

  static void set_ints(NodeProto* n, const char* name, const std::vector<int64_t>& values) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  static void set_float(NodeProto* n, const char* name, float value) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  static void set_int(NodeProto* n, const char* name, int64_t value) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }

  template <typename T>
  const std::string& add_initializer(const std::string& name, TensorProto::DataType type, const std::vector<int64_t>& dims,
                                     const std::vector<T>& values) {
    TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
    return t->name();
  }

  std::string op_name(int i) const {
    const std::string& name = names_.empty() ? std::string() : names_[size_t(i)];
    return name.empty() ? std::string(to_string(g_.ops[size_t(i)].kind)) + "_" + std::to_string(i) : name;
  }

  std::string tensor_name(int t) const { return t == g_.output ? "output" : "t" + std::to_string(t); }

  const std::string& published(int t) const { return published_.at(t); }

  // The name of tensor t as [1,C,H,W] (`image`) or as [1, C*H*W], converting once.
  std::string in_form(int t, bool image) {
    if (image_form_[size_t(t)] == image) return published(t);
    auto it = other_form_.find(t);
    if (it != other_form_.end()) return it->second;
    const std::string name = published(t) + (image ? "_image" : "_flat");
    if (image) {  // only FullyConnected outputs are [1, C]: 1x1 tensors
      const std::string shape = add_initializer<int64_t>(name + ".shape", TensorProto::INT64, {4},
                                                         {1, g_.tensors[size_t(t)].c, 1, 1});
      add_node("Reshape", {published(t), shape}, name);
    } else {
      set_int(add_node("Flatten", {published(t)}, name), "axis", 1);
    }
    return other_form_[t] = name;
  }

  // After the float value `value` of tensor t: a QuantizeLinear / DequantizeLinear pair with the
  // tensor's scale and zero point; the dequantized value is published.
  void quantize_dequantize(const std::string& value, int t) {
    const TensorQuant& q = qm_->tensors[size_t(t)];
    const std::string base = "t" + std::to_string(t);
    const std::string& scale = add_initializer<float>(base + ".scale", TensorProto::FLOAT, {}, {q.scale});
    const std::string& zero_point =
        add_initializer<int8_t>(base + ".zero_point", TensorProto::INT8, {}, {int8_t(q.zero_point)});
    add_node("QuantizeLinear", {value, scale, zero_point}, base + "_q");
    add_node("DequantizeLinear", {base + "_q", scale, zero_point}, published_[t] = tensor_name(t));
  }

  // After op i's node (which wrote main_output(i)): its activation, then (quantized) the Q/DQ pair.
  void finish(int i) {
    const Op& op = g_.ops[size_t(i)];
    const std::string base = tensor_name(op.output);
    std::string value = main_output(i);
    if (op.activation != Activation::None) {
      const std::string out = qm_ ? base + "_act" : base;
      if (op.activation == Activation::Relu) {
        add_node("Relu", {value}, out, op_name(i) + "/relu");
      } else if (opset_ >= 11) {
        add_node("Clip", {value, relu6_bound(0), relu6_bound(1)}, out, op_name(i) + "/relu6");
      } else {
        NodeProto* clip = add_node("Clip", {value}, out, op_name(i) + "/relu6");
        set_float(clip, "min", 0.0f);
        set_float(clip, "max", 6.0f);
      }
      value = out;
    }
    if (qm_) quantize_dequantize(value, op.output);
    else published_[op.output] = base;
  }

  // ReLU6 as Clip(x, 0, 6) from opset 11 on: the bounds are inputs, shared by every Clip.
  std::string relu6_bound(int which) {
    if (!relu6_bounds_added_) {
      add_initializer<float>("relu6.min", TensorProto::FLOAT, {}, {0.0f});
      add_initializer<float>("relu6.max", TensorProto::FLOAT, {}, {6.0f});
      relu6_bounds_added_ = true;
    }
    return which == 0 ? "relu6.min" : "relu6.max";
  }

  // The output of op i's main node: the tensor itself when nothing follows, else an intermediate name.
  std::string main_output(int i) const {
    const Op& op = g_.ops[size_t(i)];
    const std::string base = tensor_name(op.output);
    return op.activation == Activation::None && !qm_ ? base : base + "_pre";
  }

  // Weights of ONNX shape `dims` from the engine's layout (`onnx_to_engine[k]`: the engine index of
  // ONNX element k); per-output-channel int8 with a DequantizeLinear when quantized.
  std::string weights(int i, const std::vector<int64_t>& dims, const std::vector<size_t>& onnx_to_engine) {
    const std::string name = op_name(i) + ".weight";
    if (fm_) {
      const auto& w = fm_->params[size_t(i)].weights;
      std::vector<float> v(onnx_to_engine.size());
      for (size_t k = 0; k < v.size(); ++k) v[k] = w[onnx_to_engine[k]];
      return add_initializer<float>(name, TensorProto::FLOAT, dims, v);
    }
    const QuantizedOpParams& p = qm_->params[size_t(i)];
    std::vector<int8_t> v(onnx_to_engine.size());
    for (size_t k = 0; k < v.size(); ++k) v[k] = p.weights[onnx_to_engine[k]];
    add_initializer<int8_t>(name + "_int8", TensorProto::INT8, dims, v);
    add_initializer<float>(name + ".scale", TensorProto::FLOAT, {dims[0]}, p.weight_scales);
    add_initializer<int8_t>(name + ".zero_point", TensorProto::INT8, {dims[0]}, std::vector<int8_t>(size_t(dims[0]), 0));
    set_int(add_node("DequantizeLinear", {name + "_int8", name + ".scale", name + ".zero_point"}, name), "axis", 0);
    return name;
  }

  // The bias, or "" when the op has none; int32 at scale input_scale * weight_scale[c] when quantized.
  std::string bias(int i) {
    const std::string name = op_name(i) + ".bias";
    if (fm_) {
      const auto& b = fm_->params[size_t(i)].bias;
      return b.empty() ? "" : add_initializer<float>(name, TensorProto::FLOAT, {int64_t(b.size())}, b);
    }
    const QuantizedOpParams& p = qm_->params[size_t(i)];
    if (p.bias.empty()) return "";
    const int64_t n = int64_t(p.bias.size());
    const float input_scale = qm_->tensors[size_t(g_.ops[size_t(i)].input)].scale;
    std::vector<float> scales(p.weight_scales.size());
    for (size_t c = 0; c < scales.size(); ++c) scales[c] = input_scale * p.weight_scales[c];
    add_initializer<int32_t>(name + "_int32", TensorProto::INT32, {n}, p.bias);
    add_initializer<float>(name + ".scale", TensorProto::FLOAT, {n}, scales);
    add_initializer<int32_t>(name + ".zero_point", TensorProto::INT32, {n}, std::vector<int32_t>(size_t(n), 0));
    set_int(add_node("DequantizeLinear", {name + "_int32", name + ".scale", name + ".zero_point"}, name), "axis", 0);
    return name;
  }

  void set_window(NodeProto* n, const Op& op) {
    const Tensor& in = g_.tensors[size_t(op.input)];
    const Tensor& out = g_.tensors[size_t(op.output)];
    set_ints(n, "kernel_shape", {op.kernel_h, op.kernel_w});
    set_ints(n, "strides", {op.stride_h, op.stride_w});
    if (op.dilation_h != 1 || op.dilation_w != 1) set_ints(n, "dilations", {op.dilation_h, op.dilation_w});
    set_ints(n, "pads", {op.pad_h, op.pad_w, pad_after(in.h, out.h, op.extent_h(), op.stride_h, op.pad_h),
                         pad_after(in.w, out.w, op.extent_w(), op.stride_w, op.pad_w)});
  }

  void export_op(int i) {
    const Op& op = g_.ops[size_t(i)];
    const Tensor& in = g_.tensors[size_t(op.input)];
    const Tensor& out = g_.tensors[size_t(op.output)];
    const std::string name = op_name(i);
    switch (op.kind) {
      case OpKind::Conv2D:
      case OpKind::PointwiseConv2D:
      case OpKind::DepthwiseConv2D: {
        // A depthwise conv's [C][k][k] weights are the OHWI layout of one input channel per group.
        const int64_t groups = op.kind == OpKind::DepthwiseConv2D ? in.c : op.groups;
        const int64_t kh = op.kernel_h, kw = op.kernel_w, group_c = in.c / groups;
        std::vector<size_t> order;  // OIHW element -> OHWI
        for (int64_t o = 0; o < out.c; ++o)
          for (int64_t c = 0; c < group_c; ++c)
            for (int64_t y = 0; y < kh; ++y)
              for (int64_t x = 0; x < kw; ++x) order.push_back(size_t(((o * kh + y) * kw + x) * group_c + c));
        std::vector<std::string> inputs{in_form(op.input, true), weights(i, {out.c, group_c, kh, kw}, order)};
        if (std::string b = bias(i); !b.empty()) inputs.push_back(b);
        NodeProto* n = add_node("Conv", inputs, main_output(i), name);
        set_window(n, op);
        if (groups != 1) set_int(n, "group", groups);
        break;
      }
      case OpKind::Add: {
        const bool image = image_form_[size_t(op.input)];
        add_node("Add", {published(op.input), in_form(op.input2, image)}, main_output(i), name);
        image_form_[size_t(op.output)] = image;
        break;
      }
      case OpKind::Mul: {
        const bool image = image_form_[size_t(op.input)];
        add_node("Mul", {published(op.input), in_form(op.input2, image)}, main_output(i), name);
        image_form_[size_t(op.output)] = image;
        break;
      }
      case OpKind::PRelu: {
        // Slopes [C, 1, 1] (a [1, C] input: [C]); the int8 form: int8 slopes and their DequantizeLinear.
        const bool image = image_form_[size_t(op.input)];
        const std::vector<int64_t> dims = image ? std::vector<int64_t>{out.c, 1, 1} : std::vector<int64_t>{out.c};
        std::string slope = name + ".slope";
        if (qm_) {
          const QuantizedOpParams& p = qm_->params[size_t(i)];
          add_initializer<int8_t>(slope + "_int8", TensorProto::INT8, dims, p.weights);
          add_initializer<float>(slope + ".scale", TensorProto::FLOAT, {}, {p.weight_scales.at(0)});
          add_initializer<int8_t>(slope + ".zero_point", TensorProto::INT8, {}, {int8_t(0)});
          add_node("DequantizeLinear", {slope + "_int8", slope + ".scale", slope + ".zero_point"}, slope, slope);
        } else {
          add_initializer<float>(slope, TensorProto::FLOAT, dims, fm_->params[size_t(i)].weights);
        }
        add_node("PRelu", {published(op.input), slope}, main_output(i), name);
        image_form_[size_t(op.output)] = image;
        break;
      }
      case OpKind::Unary: {
        const std::string x = published(op.input);
        image_form_[size_t(op.output)] = image_form_[size_t(op.input)];
        switch (op.unary) {
          case UnaryFunction::Sigmoid: add_node("Sigmoid", {x}, main_output(i), name); break;
          case UnaryFunction::Tanh: add_node("Tanh", {x}, main_output(i), name); break;
          case UnaryFunction::HardSigmoid: {
            NodeProto* n = add_node("HardSigmoid", {x}, main_output(i), name);
            set_float(n, "alpha", op.alpha);
            set_float(n, "beta", op.beta);
            break;
          }
          case UnaryFunction::HardSwish: {  // HardSwish is opset 14: x * HardSigmoid(x, 1/6, 1/2)
            NodeProto* n = add_node("HardSigmoid", {x}, main_output(i) + "_gate", name + "/gate");
            set_float(n, "alpha", 1.0f / 6.0f);
            set_float(n, "beta", 0.5f);
            add_node("Mul", {x, main_output(i) + "_gate"}, main_output(i), name);
            break;
          }
          case UnaryFunction::LeakyRelu:
            set_float(add_node("LeakyRelu", {x}, main_output(i), name), "alpha", op.alpha);
            break;
          case UnaryFunction::Elu: set_float(add_node("Elu", {x}, main_output(i), name), "alpha", op.alpha); break;
          case UnaryFunction::Selu: {
            NodeProto* n = add_node("Selu", {x}, main_output(i), name);
            set_float(n, "alpha", op.alpha);
            set_float(n, "gamma", op.beta);
            break;
          }
          case UnaryFunction::Softplus: add_node("Softplus", {x}, main_output(i), name); break;
        }
        break;
      }
      case OpKind::AvgPool2D:
      case OpKind::MaxPool2D:
        set_window(add_node(op.kind == OpKind::AvgPool2D ? "AveragePool" : "MaxPool", {in_form(op.input, true)},
                            main_output(i), name),
                   op);
        break;
      case OpKind::GlobalAvgPool: add_node("GlobalAveragePool", {in_form(op.input, true)}, main_output(i), name); break;
      case OpKind::FullyConnected: {
        // Gemm with transB: B is [N, K] with K in the ONNX (C, H, W) order of the flattened input.
        std::vector<size_t> order;
        for (int n = 0; n < out.c; ++n)
          for (int c = 0; c < in.c; ++c)
            for (int y = 0; y < in.h; ++y)
              for (int x = 0; x < in.w; ++x)
                order.push_back(size_t(n) * size_t(in.elements()) + (size_t(y) * size_t(in.w) + size_t(x)) * size_t(in.c) + size_t(c));
        std::vector<std::string> inputs{in_form(op.input, false), weights(i, {out.c, in.elements()}, order)};
        std::string b = bias(i);
        if (b.empty() && opset_ < 11)  // C is optional from opset 11 on
          b = add_initializer<float>(name + ".bias", TensorProto::FLOAT, {out.c}, std::vector<float>(size_t(out.c), 0.0f));
        if (!b.empty()) inputs.push_back(b);
        set_int(add_node("Gemm", inputs, main_output(i), name), "transB", 1);
        image_form_[size_t(op.output)] = false;
        break;
      }
      case OpKind::ChannelMap: {
        // Concat of the two inputs, then the mapped channels: nothing more for the identity, a Slice for
        // a range with one step, else a Gather of the list (which OpenCV 4.6 does not read).
        const std::vector<int>& map = op.channel_map;
        const int64_t in2_c = op.input2 >= 0 ? g_.tensors[size_t(op.input2)].c : 0;
        const int64_t step = map.size() > 1 ? map[1] - map[0] : 1;
        bool range = step != 0;
        for (size_t j = 1; range && j < map.size(); ++j) range = map[j] - map[j - 1] == step;
        const bool identity = range && step == 1 && map[0] == 0 && int64_t(map.size()) == in.c + in2_c;
        std::string x = in_form(op.input, true);
        if (op.input2 >= 0) {
          const std::string joined = identity ? main_output(i) : main_output(i) + "_concat";
          set_int(add_node("Concat", {x, in_form(op.input2, true)}, joined, identity ? name : name + "/concat"), "axis", 1);
          x = joined;
        }
        if (range && !identity) {
          // The end one step past the last channel; -1 - C, not -1, when a negative step ends at channel 0.
          const int64_t last = map.back(), total = in.c + in2_c;
          const int64_t end = step < 0 && last + step < 0 ? -total - 1 : last + step;
          auto ints = [&](const char* what, int64_t v) {
            return add_initializer<int64_t>(name + "." + what, TensorProto::INT64, {1}, {v});
          };
          add_node("Slice", {x, ints("starts", map[0]), ints("ends", end), ints("axes", 1), ints("steps", step)},
                   main_output(i), name);
        } else if (!identity) {
          const std::vector<int64_t> indices(map.begin(), map.end());
          const std::string& index_name =
              add_initializer<int64_t>(name + ".channels", TensorProto::INT64, {int64_t(indices.size())}, indices);
          set_int(add_node("Gather", {x, index_name}, main_output(i), name), "axis", 1);
        }
        image_form_[size_t(op.output)] = true;
        break;
      }
      case OpKind::Resize: {
        // A Gather of the source rows, then one of the source columns: exact for any coordinate
        // transformation and rounding, where a Resize node would have to be one of ONNX's modes.
        auto identity = [](const std::vector<int>& v, int size) {
          for (size_t k = 0; k < v.size(); ++k)
            if (v[k] != int(k)) return false;
          return int(v.size()) == size;
        };
        auto gather = [&](const std::string& x, const char* what, const std::vector<int>& v, int64_t axis,
                          const std::string& output, const std::string& node_name) {
          const std::vector<int64_t> indices(v.begin(), v.end());
          const std::string index_name =
              add_initializer<int64_t>(name + "." + what, TensorProto::INT64, {int64_t(indices.size())}, indices);
          set_int(add_node("Gather", {x, index_name}, output, node_name), "axis", axis);
        };
        std::string x = in_form(op.input, true);
        const bool same_rows = identity(op.resize_rows, in.h), same_cols = identity(op.resize_cols, in.w);
        if (!same_rows) {
          const std::string rows = same_cols ? main_output(i) : main_output(i) + "_rows";
          gather(x, "rows", op.resize_rows, 2, rows, same_cols ? name : name + "/rows");
          x = rows;
        }
        if (!same_cols || same_rows) gather(x, "columns", op.resize_cols, 3, main_output(i), name);
        image_form_[size_t(op.output)] = true;
        break;
      }
      case OpKind::Softmax: {
        const bool image = image_form_[size_t(op.input)];
        // Before opset 13 a softmax spans every axis from `axis` on: over the channels only for 1x1.
        if (opset_ < 13 && int64_t(in.h) * in.w > 1)
          throw core::InputError("model '" + g_.name + "': " + name + ": a softmax over the channels of an " +
                           std::to_string(in.h) + "x" + std::to_string(in.w) + " tensor has no opset-" +
                           std::to_string(opset_) + " form");
        set_int(add_node("Softmax", {published(op.input)}, main_output(i), name), "axis", 1);
        image_form_[size_t(op.output)] = image;
        break;
      }
    }
    finish(i);
  }

  // Both forms must pass the checker and strict shape inference; a failure here is an exporter bug.
  void check() const {
    try {
      onnx::checker::check_model(model_);
      onnx::ModelProto inferred = model_;
      onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                         onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
    } catch (const std::exception& e) {
      throw core::RuntimeFailure(std::string("exported ONNX model '") + graph_->name() + "' does not check: " + e.what());
    }
  }
};

void validate_quantized(const QuantizedModel& m) {
  m.graph.validate();
  const std::string who = "quantized model '" + m.graph.name + "'";
  if (m.tensors.size() != m.graph.tensors.size() || m.params.size() != m.graph.ops.size())
    throw core::InputError(who + ": needs one quantization per tensor and one parameter set per op");
  for (size_t i = 0; i < m.graph.ops.size(); ++i) {
    const Op& op = m.graph.ops[i];
    const QuantizedOpParams& p = m.params[i];
    const int64_t channels = op_out_channels_with_params(m.graph, op);
    const int64_t scales = op.kind == OpKind::PRelu ? 1 : channels;  // PRelu: one scale for the slopes
    const bool ok = int64_t(p.weights.size()) == op_weight_count(m.graph, op) &&
                    int64_t(p.weight_scales.size()) == scales &&
                    (p.bias.empty() || int64_t(p.bias.size()) == channels);
    if (!ok)
      throw core::InputError(who + ": op " + std::to_string(i) + " (" + to_string(op.kind) +
                       "): weights, weight scales or bias do not match its shapes");
  }
  for (const TensorQuant& q : m.tensors)
    if (!(q.scale > 0.0f) || q.zero_point < -128 || q.zero_point > 127)
      throw core::InputError(who + ": a tensor has a non-positive scale or a zero point outside int8");
}

void write_model(const onnx::ModelProto& model, const std::string& path) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw core::RuntimeFailure("cannot serialize the ONNX model for '" + path + "'");
  core::write_file_atomic(path, bytes);
}

}  // namespace

onnx::ModelProto float_model_to_onnx(const FloatModel& model) {
  model.validate();
  return Exporter(&model, nullptr).build();
}

onnx::ModelProto quantized_model_to_onnx(const QuantizedModel& model) {
  validate_quantized(model);
  return Exporter(nullptr, &model).build();
}

void export_onnx_float(const FloatModel& model, const std::string& path) { write_model(float_model_to_onnx(model), path); }

void export_onnx_quantized(const QuantizedModel& model, const std::string& path) {
  write_model(quantized_model_to_onnx(model), path);
}

}  // namespace tinynas::engine
