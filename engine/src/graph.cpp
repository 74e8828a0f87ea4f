#include "tinynas/engine/graph.h"

#include <algorithm>
#include <cmath>

#include "tinynas/core/errors.h"
#include "tinynas/engine/audio_frontend.h"
#include "tn_scratch.h"

namespace tinynas::engine {

const char* to_string(OpKind kind) {
  switch (kind) {
    case OpKind::Conv2D: return "conv2d";
    case OpKind::DepthwiseConv2D: return "depthwise_conv2d";
    case OpKind::PointwiseConv2D: return "pointwise_conv2d";
    case OpKind::Add: return "add";
    case OpKind::AvgPool2D: return "avg_pool2d";
    case OpKind::MaxPool2D: return "max_pool2d";
    case OpKind::GlobalAvgPool: return "global_avg_pool";
    case OpKind::FullyConnected: return "fully_connected";
    case OpKind::Softmax: return "softmax";
    case OpKind::Mul: return "mul";
    case OpKind::Unary: return "unary";
    case OpKind::ChannelMap: return "channel_map";
    case OpKind::Resize: return "resize";
    case OpKind::PRelu: return "prelu";
  }
  return "?";
}

const char* to_string(UnaryFunction f) {
  switch (f) {
    case UnaryFunction::Sigmoid: return "sigmoid";
    case UnaryFunction::HardSigmoid: return "hard_sigmoid";
    case UnaryFunction::HardSwish: return "hard_swish";
    case UnaryFunction::Tanh: return "tanh";
    case UnaryFunction::LeakyRelu: return "leaky_relu";
    case UnaryFunction::Elu: return "elu";
    case UnaryFunction::Selu: return "selu";
    case UnaryFunction::Softplus: return "softplus";
  }
  return "?";
}

double unary_value(UnaryFunction f, double alpha, double beta, double x) {
  switch (f) {
    case UnaryFunction::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case UnaryFunction::HardSigmoid: return std::clamp(alpha * x + beta, 0.0, 1.0);
    case UnaryFunction::HardSwish: return x * std::clamp(x / 6.0 + 0.5, 0.0, 1.0);
    case UnaryFunction::Tanh: return std::tanh(x);
    case UnaryFunction::LeakyRelu: return x < 0.0 ? alpha * x : x;
    case UnaryFunction::Elu: return x < 0.0 ? alpha * (std::exp(x) - 1.0) : x;
    case UnaryFunction::Selu: return beta * (x < 0.0 ? alpha * (std::exp(x) - 1.0) : x);
    case UnaryFunction::Softplus: return x > 30.0 ? x : std::log1p(std::exp(x));  // e^x overflows far later
  }
  return x;
}

const char* to_string(Activation act) {
  switch (act) {
    case Activation::None: return "none";
    case Activation::Relu: return "relu";
    case Activation::Relu6: return "relu6";
  }
  return "?";
}

int Graph::add_tensor(int h, int w, int c) {
  tensors.push_back(Tensor{h, w, c});
  return int(tensors.size()) - 1;
}

int Graph::add_op(OpKind kind, int input, int output, int kernel, int stride, int input2) {
  Op op;
  op.kind = kind;
  op.input = input;
  op.input2 = input2;
  op.output = output;
  op.kernel_h = op.kernel_w = kernel;
  op.stride_h = op.stride_w = stride;
  switch (kind) {
    case OpKind::Conv2D:
    case OpKind::DepthwiseConv2D:
    case OpKind::PointwiseConv2D:
    case OpKind::AvgPool2D:
    case OpKind::MaxPool2D: {
      const Tensor& t = tensors[size_t(input)];
      op.pad_h = same_pad_before(t.h, kernel, stride);
      op.pad_w = same_pad_before(t.w, kernel, stride);
      break;
    }
    default: break;  // Add, Mul, Unary, GlobalAvgPool, FullyConnected, Softmax, ChannelMap, Resize: no padding
  }
  ops.push_back(op);
  return int(ops.size()) - 1;
}

void Graph::clear() {
  name.clear();
  tensors.clear();
  ops.clear();
  input = output = -1;
  frontend = Frontend::None;
}

const char* to_string(Frontend f) { return f == Frontend::Mfcc ? "mfcc" : ""; }

Frontend frontend_from_name(const std::string& name) {
  if (name.empty()) return Frontend::None;
  if (name == "mfcc") return Frontend::Mfcc;
  throw core::InputError("unknown front-end '" + name + "' (known: mfcc)");
}

const FrontendSizes& frontend_sizes(Frontend f) {
  static const FrontendSizes none;
  // Computed once: the stage-1 loop plans hundreds of thousands of graphs.
  static const FrontendSizes mfcc = [] {
    const AudioFrontendFixed& fixed = default_audio_frontend_fixed();
    const AudioFrontendConfig& config = fixed.config;
    FrontendSizes s;
    s.input_samples = config.clip_samples;
    s.input_bytes = int64_t(config.clip_samples) * int64_t(sizeof(int16_t));
    s.scratch_bytes = fixed.scratch_bytes();
    s.table_bytes = fixed.table_bytes();
    s.output = Tensor{config.frames(), config.coefficients, 1};
    return s;
  }();
  return f == Frontend::Mfcc ? mfcc : none;
}

namespace {

// An output size is consistent when some padding after the input (0 to extent - 1 elements, as
// ONNX's explicit pads allow) gives it; `pad_before` is the op's, `extent` the window's reach.
bool output_size_fits(int in, int out, int extent, int stride, int pad_before) {
  for (int pad_after = 0; pad_after < extent; ++pad_after)
    if (in + pad_before + pad_after >= extent && out == (in + pad_before + pad_after - extent) / stride + 1) return true;
  return false;
}

}  // namespace

void Graph::validate() const {
  const int nt = int(tensors.size());
  auto valid = [&](int t) { return t >= 0 && t < nt; };
  if (!valid(input) || !valid(output)) throw core::InputError("graph '" + name + "': input/output tensor index out of range");
  if (frontend != Frontend::None) {
    const Tensor& want = frontend_sizes(frontend).output;
    const Tensor& in = tensors[size_t(input)];
    if (in.h != want.h || in.w != want.w || in.c != want.c)
      throw core::InputError("graph '" + name + "': the " + to_string(frontend) + " front-end gives a " +
                             std::to_string(want.h) + " x " + std::to_string(want.w) + " x " + std::to_string(want.c) +
                             " input, the network takes " + std::to_string(in.h) + " x " + std::to_string(in.w) + " x " +
                             std::to_string(in.c));
  }
  std::vector<char> written(size_t(nt), 0);
  written[size_t(input)] = 1;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    const std::string who = "graph '" + name + "': op " + std::to_string(i) + " (" + to_string(op.kind) + ")";
    if (!valid(op.input) || !valid(op.output) || (op.input2 != -1 && !valid(op.input2)))
      throw core::InputError(who + ": tensor index out of range");
    if (!written[size_t(op.input)] || (op.input2 >= 0 && !written[size_t(op.input2)]))
      throw core::InputError(who + ": reads a tensor before any op writes it");
    if (written[size_t(op.output)]) throw core::InputError(who + ": writes a tensor that is already written");
    written[size_t(op.output)] = 1;
    const Tensor& in = tensors[size_t(op.input)];
    const Tensor& out = tensors[size_t(op.output)];
    auto expect = [&](bool ok, const char* what) {
      if (!ok) throw core::InputError(who + ": " + what);
    };
    switch (op.kind) {
      case OpKind::Conv2D:
      case OpKind::DepthwiseConv2D:
      case OpKind::PointwiseConv2D:
      case OpKind::AvgPool2D:
      case OpKind::MaxPool2D:
        expect(op.kernel_h >= 1 && op.kernel_w >= 1 && op.stride_h >= 1 && op.stride_w >= 1 && op.dilation_h >= 1 &&
                   op.dilation_w >= 1,
               "kernel, stride and dilation must be positive");
        expect(op.pad_h >= 0 && op.pad_w >= 0 && op.pad_h < op.extent_h() && op.pad_w < op.extent_w(),
               "padding must be smaller than the window");
        expect(output_size_fits(in.h, out.h, op.extent_h(), op.stride_h, op.pad_h),
               "output height does not follow from kernel, stride and padding");
        expect(output_size_fits(in.w, out.w, op.extent_w(), op.stride_w, op.pad_w),
               "output width does not follow from kernel, stride and padding");
        expect(op.groups >= 1 && in.c % op.groups == 0 && out.c % op.groups == 0,
               "groups must divide the input and output channels");
        expect(op.kind == OpKind::Conv2D || op.groups == 1, "only a standard conv has groups");
        if (op.kind == OpKind::PointwiseConv2D)
          expect(op.kernel_h == 1 && op.kernel_w == 1, "a pointwise conv has a 1x1 kernel");
        if (op.kind == OpKind::DepthwiseConv2D)
          expect(op.square(), "a depthwise conv has a square kernel, one stride and no dilation");
        if (op.kind == OpKind::DepthwiseConv2D || op.kind == OpKind::AvgPool2D || op.kind == OpKind::MaxPool2D)
          expect(in.c == out.c, "input and output channels must match");
        break;
      case OpKind::Add: {
        expect(op.input2 >= 0, "an add needs two inputs");
        const Tensor& in2 = tensors[size_t(op.input2)];
        expect(in.h == in2.h && in.w == in2.w && in.c == in2.c && in.elements() == out.elements(),
               "add operands and output must have the same shape");
        break;
      }
      case OpKind::GlobalAvgPool: expect(out.h == 1 && out.w == 1 && out.c == in.c, "global pooling gives 1x1xC"); break;
      case OpKind::FullyConnected: expect(out.h == 1 && out.w == 1, "a fully connected layer gives 1x1xN"); break;
      case OpKind::Softmax: expect(in.elements() == out.elements(), "softmax keeps the shape"); break;
      case OpKind::Mul: {
        expect(op.input2 >= 0, "a mul needs two inputs");
        const Tensor& in2 = tensors[size_t(op.input2)];
        const bool same = in.h == in2.h && in.w == in2.w && in.c == in2.c;
        const bool per_channel = in2.h == 1 && in2.w == 1 && in2.c == in.c;
        expect((same || per_channel) && in.h == out.h && in.w == out.w && in.c == out.c,
               "the second operand of a mul must have the first's shape or be 1x1xC, and the output the first's");
        break;
      }
      case OpKind::Unary:
      case OpKind::PRelu:
        expect(in.h == out.h && in.w == out.w && in.c == out.c, "an element-wise function keeps the shape");
        break;
      case OpKind::ChannelMap: {
        const int in2_c = op.input2 >= 0 ? tensors[size_t(op.input2)].c : 0;
        if (op.input2 >= 0)
          expect(tensors[size_t(op.input2)].h == in.h && tensors[size_t(op.input2)].w == in.w,
                 "the inputs of a channel map must have the same height and width");
        expect(in.h == out.h && in.w == out.w, "a channel map keeps the height and width");
        expect(int(op.channel_map.size()) == out.c, "a channel map needs one source per output channel");
        expect(in.c + in2_c <= 65535, "a channel map reads at most 65535 channels");
        for (int c : op.channel_map) expect(c >= 0 && c < in.c + in2_c, "a channel map's source is out of range");
        break;
      }
      case OpKind::Resize:
        expect(in.c == out.c && int(op.resize_rows.size()) == out.h && int(op.resize_cols.size()) == out.w,
               "a resize keeps the channels and has one source row (column) per output row (column)");
        expect(in.h <= 65535 && in.w <= 65535, "a resize reads at most 65535 rows and columns");
        for (int y : op.resize_rows) expect(y >= 0 && y < in.h, "a resize's source row is out of range");
        for (int x : op.resize_cols) expect(x >= 0 && x < in.w, "a resize's source column is out of range");
        expect(op.activation == Activation::None, "a resize has no activation");
        break;
    }
  }
  if (!written[size_t(output)]) throw core::InputError("graph '" + name + "': no op writes the output tensor");
}

void build_graph_into(const search_space::NetworkDesc& net, Graph& g) {
  g.clear();
  g.name = net.name;
  g.tensors.reserve(net.blocks.size() * 4 + 6);
  g.ops.reserve(net.blocks.size() * 4 + 4);
  const Activation act = net.activation == search_space::Activation::Relu ? Activation::Relu : Activation::Relu6;
  auto conv = [&](OpKind kind, const char* role, int block, int in, int out_c, int k, int s, bool activated) {
    const Tensor t = g.tensors[size_t(in)];
    const int out = g.add_tensor(search_space::conv_out_size(t.h, s), search_space::conv_out_size(t.w, s), out_c);
    Op& op = g.ops[size_t(g.add_op(kind, in, out, k, s))];
    op.activation = activated ? act : Activation::None;
    op.block = block;
    op.role = role;
    return out;
  };
  // The first operand is the one that dies at the add and can be overwritten.
  auto add = [&](int block, int a, int b, Activation activation) {
    const Tensor t = g.tensors[size_t(a)];
    const int out = g.add_tensor(t.h, t.w, t.c);
    Op& op = g.ops[size_t(g.add_op(OpKind::Add, a, out, 1, 1, b))];
    op.activation = activation;
    op.block = block;
    op.role = "residual_add";
    return out;
  };
  g.input = g.add_tensor(net.resolution, net.width(), net.in_channels);
  g.frontend = frontend_from_name(net.frontend);
  int x = conv(OpKind::Conv2D, "stem", -1, g.input, net.stem_out, net.stem_kernel, net.stem_stride, true);
  if (net.stem_kernel_width() != net.stem_kernel) {
    Op& stem = g.ops.back();
    stem.kernel_w = net.stem_kernel_width();
    stem.pad_w = same_pad_before(g.tensors[size_t(g.input)].w, stem.kernel_w, stem.stride_w);
  }
  for (size_t i = 0; i < net.blocks.size(); ++i) {
    const search_space::BlockDesc& b = net.blocks[i];
    const int bi = int(i);
    const int block_in = x;
    if (b.kind == search_space::BlockKind::Basic) {
      // conv1 first, then the shortcut conv, so that the block input dies before conv2 (cost.cpp's order).
      const int mid = conv(OpKind::Conv2D, "conv1", bi, x, b.mid_ch, b.kernel, b.stride, true);
      const int shortcut =
          b.has_shortcut_conv() ? conv(OpKind::Conv2D, "shortcut", bi, x, b.out_ch, 1, b.stride, false) : block_in;
      x = add(bi, conv(OpKind::Conv2D, "conv2", bi, mid, b.out_ch, b.kernel, 1, false), shortcut, act);
      continue;
    }
    if (b.has_expand) x = conv(OpKind::PointwiseConv2D, "expand", bi, x, b.mid_ch, 1, 1, true);
    x = conv(OpKind::DepthwiseConv2D, "depthwise", bi, x, b.mid_ch, b.kernel, b.stride, true);
    if (b.kind == search_space::BlockKind::Separable) {
      x = conv(OpKind::PointwiseConv2D, "pointwise", bi, x, b.out_ch, 1, 1, true);
      continue;
    }
    x = conv(OpKind::PointwiseConv2D, "project", bi, x, b.out_ch, 1, 1, false);
    if (b.residual) x = add(bi, x, block_in, Activation::None);
  }
  if (net.feature_mix_out > 0) x = conv(OpKind::PointwiseConv2D, "feature_mix", -1, x, net.feature_mix_out, 1, 1, true);
  {
    const Tensor t = g.tensors[size_t(x)];
    const int out = g.add_tensor(1, 1, t.c);
    g.ops[size_t(g.add_op(OpKind::GlobalAvgPool, x, out, t.h))].role = "pool";
    x = out;
  }
  {
    const int out = g.add_tensor(1, 1, net.num_classes);
    g.ops[size_t(g.add_op(OpKind::FullyConnected, x, out))].role = "classifier";
    g.output = out;
  }
}

Graph build_graph(const search_space::NetworkDesc& net) {
  net.validate();
  Graph g;
  build_graph_into(net, g);
  return g;
}

int64_t op_weight_count(const Graph& g, const Op& op) {
  const Tensor& in = g.tensors[size_t(op.input)];
  const Tensor& out = g.tensors[size_t(op.output)];
  switch (op.kind) {
    case OpKind::Conv2D:
    case OpKind::PointwiseConv2D: return int64_t(out.c) * (in.c / op.groups) * op.kernel_h * op.kernel_w;
    case OpKind::DepthwiseConv2D: return int64_t(out.c) * op.kernel_h * op.kernel_w;
    case OpKind::FullyConnected: return in.elements() * out.c;
    case OpKind::PRelu: return out.c;  // the slopes
    default: return 0;
  }
}

int64_t op_out_channels_with_params(const Graph& g, const Op& op) {
  // PRelu's slopes have no bias or per-channel requantization.
  return op.kind != OpKind::PRelu && op_weight_count(g, op) > 0 ? g.tensors[size_t(op.output)].c : 0;
}

int64_t op_macs(const Graph& g, const Op& op) {
  const Tensor& out = g.tensors[size_t(op.output)];
  switch (op.kind) {
    case OpKind::Conv2D:
    case OpKind::PointwiseConv2D:
    case OpKind::DepthwiseConv2D: return op_weight_count(g, op) * out.h * out.w;
    case OpKind::FullyConnected: return op_weight_count(g, op);
    case OpKind::PRelu: return 0;
    default: return 0;
  }
}

bool runs_as_pointwise(const Graph& g, const Op& op) {
  if (op.kind != OpKind::Conv2D && op.kind != OpKind::PointwiseConv2D) return false;
  const Tensor& in = g.tensors[size_t(op.input)];
  const Tensor& out = g.tensors[size_t(op.output)];
  return op.kernel_h == 1 && op.kernel_w == 1 && op.stride_h == 1 && op.stride_w == 1 && op.groups == 1 &&
         op.pad_h == 0 && op.pad_w == 0 && out.h == in.h && out.w == in.w;
}

int64_t op_scratch_bytes(const Graph& g, const Op& op) {
  const Tensor& in = g.tensors[size_t(op.input)];
  const Tensor& out = g.tensors[size_t(op.output)];
  return kernel_scratch_bytes(g, op, in.h, in.w, out.h, out.w, op.pad_h, op.pad_w);
}

int64_t kernel_scratch_bytes(const Graph& g, const Op& op, int in_h, int in_w, int out_h, int out_w, int pad_h, int pad_w) {
  const Tensor& in = g.tensors[size_t(op.input)];
  switch (op.kind) {
    case OpKind::Conv2D:
    case OpKind::PointwiseConv2D:
      return runs_as_pointwise(g, op) ? tn_pointwise_scratch_bytes(in.c)
                                      : tn_conv_scratch_bytes(in.c / op.groups, op.kernel_h, op.kernel_w);
    case OpKind::DepthwiseConv2D:
      return tn_depthwise_scratch_bytes(in_h, in_w, pad_h, pad_w, op.kernel_h, op.stride_h, out_h, out_w);
    case OpKind::FullyConnected: return tn_fully_connected_scratch_bytes(int32_t(in.elements()));
    default: return tn_no_scratch_bytes();
  }
}

}  // namespace tinynas::engine
