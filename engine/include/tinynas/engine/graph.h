#pragma once
// The int8 inference graph: tensors (NHWC, batch 1, int8 = 1 byte per element) and ops in execution
// order. The memory planner, the Flash model and (later) the code generator all read this.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/search_space/network.h"

namespace tinynas::engine {

// Mul: element-wise product, the second operand of the same shape or 1x1xC (one scale per channel).
// Unary: an element-wise function of one input (Op::unary), an int8 table lookup on the MCU.
// ChannelMap: Concat, Split / Slice and channel shuffles: output channel j copies channel
// channel_map[j] of the concatenation of input's and input2's channels (input2 optional), each pixel.
// PRelu: x < 0 ? slope[c] x : x with one slope per channel (the op's weights).
// Resize: nearest-neighbour resizing, output pixel (y, x) copies input pixel (resize_rows[y], resize_cols[x]).
enum class OpKind { Conv2D, DepthwiseConv2D, PointwiseConv2D, Add, AvgPool2D, MaxPool2D, GlobalAvgPool, FullyConnected, Softmax, Mul, Unary, ChannelMap, PRelu, Resize };
const char* to_string(OpKind kind);

// The functions of OpKind::Unary, with the op's alpha and beta:
//   Sigmoid 1 / (1 + e^-x); HardSigmoid max(0, min(1, alpha x + beta)); HardSwish x * HardSigmoid(x)
//   with alpha 1/6, beta 1/2; Tanh; LeakyRelu x < 0 ? alpha x : x; Elu x < 0 ? alpha (e^x - 1) : x;
//   Selu beta * Elu(x) (beta: ONNX's gamma); Softplus ln(1 + e^x).
enum class UnaryFunction { Sigmoid, HardSigmoid, HardSwish, Tanh, LeakyRelu, Elu, Selu, Softplus };
const char* to_string(UnaryFunction f);
double unary_value(UnaryFunction f, double alpha, double beta, double x);

// The activation folded into an op's output clamp.
enum class Activation { None, Relu, Relu6 };
const char* to_string(Activation act);

struct Tensor {
  int h = 1, w = 1, c = 1;
  int64_t elements() const { return int64_t(h) * w * c; }
  int64_t bytes() const { return elements(); }  // int8
};

struct Op {
  OpKind kind = OpKind::Conv2D;
  int input = -1;
  int input2 = -1;  // second operand of Add and Mul, optional second input of ChannelMap, -1 otherwise
  int output = -1;
  // The window of convolutions and pooling: kernel_h x kernel_w taps, dilation_h / dilation_w apart,
  // moved by stride_h / stride_w. DepthwiseConv2D has a square kernel, one stride and no dilation (the
  // depthwise kernels' shapes); other depthwise layers are a Conv2D with groups = channels.
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_h = 0, pad_w = 0;  // top / left padding (SAME: total padding split, extra on the bottom/right)
  int groups = 1;            // Conv2D: input and output channels split into this many groups
  Activation activation = Activation::None;  // folded into the output clamp
  int block = -1;            // source block, -1 outside blocks
  const char* role = "";     // "stem", "expand", "depthwise", "project", "residual_add", ...
  // Unary only: the function and its parameters.
  UnaryFunction unary = UnaryFunction::Sigmoid;
  float alpha = 0.0f, beta = 0.0f;
  // ChannelMap only: the source channel of every output channel.
  std::vector<int> channel_map;
  // Resize only: the input row of every output row, the input column of every output column.
  std::vector<int> resize_rows, resize_cols;

  int num_inputs() const { return input2 >= 0 ? 2 : 1; }
  // The input rows (columns) one window reaches: (kernel - 1) * dilation + 1.
  int extent_h() const { return (kernel_h - 1) * dilation_h + 1; }
  int extent_w() const { return (kernel_w - 1) * dilation_w + 1; }
  // The square kernel and stride of a window with one of each (the search space's layers).
  bool square() const { return kernel_h == kernel_w && stride_h == stride_w && dilation_h == 1 && dilation_w == 1; }
};

// A front-end the firmware runs before op 0, writing the graph input from the raw signal.
//   Mfcc: the MFCCs of a 1 s 16 kHz int16 clip (audio_frontend.h, its default config) as the
//   frames x coefficients x 1 int8 input. Its PCM input and its scratch are planned in the arena at a
//   step before op 0 (planner.h), its tables count as Flash (flash.h), its run as latency.
enum class Frontend { None, Mfcc };
const char* to_string(Frontend f);                      // "" and "mfcc", as network descriptions name them
Frontend frontend_from_name(const std::string& name);  // throws InputError for an unknown name

// A front-end's figures; all 0 for Frontend::None.
struct FrontendSizes {
  int32_t input_samples = 0;  // the raw input's int16 samples (MFCC: one clip)
  int64_t input_bytes = 0;    // the raw input in the arena (int16 PCM)
  int64_t scratch_bytes = 0;  // its kernel's scratch (tn_scratch.h)
  int64_t table_bytes = 0;    // its constant tables (Flash)
  Tensor output;              // the graph input it writes
};
const FrontendSizes& frontend_sizes(Frontend f);

struct Graph {
  std::string name;
  std::vector<Tensor> tensors;
  std::vector<Op> ops;
  int input = -1;
  int output = -1;
  Frontend frontend = Frontend::None;

  int add_tensor(int h, int w, int c);
  // Appends an op reading `input` (and `input2`, the second operand of an Add) and writing `output`
  // with a square kernel and one stride; returns its index. Convolutions and AvgPool2D/MaxPool2D get
  // SAME padding from the input tensor's height and width (same_pad_before); the other kinds, which do
  // not pad, get 0. activation, block, role and the rest of the window keep their defaults: set them
  // on ops[index].
  int add_op(OpKind kind, int input, int output, int kernel = 1, int stride = 1, int input2 = -1);
  // Checks tensor indices, execution order and that every op's shapes agree with its attributes;
  // throws InputError naming the op.
  void validate() const;
  void clear();
};

// Builds the graph of a network: stem conv, per block [expand] -> depthwise -> project [-> add] (or a
// basic block's conv1 -> [shortcut conv] -> conv2 -> add), [feature mix], global average pool, fully
// connected. `out` is reused (the stage-1 hot path).
void build_graph_into(const search_space::NetworkDesc& net, Graph& out);
Graph build_graph(const search_space::NetworkDesc& net);

// Per-op figures derived from the graph.
int64_t op_macs(const Graph& g, const Op& op);
int64_t op_weight_count(const Graph& g, const Op& op);   // int8 weights (0 for ops without weights)
int64_t op_out_channels_with_params(const Graph& g, const Op& op);  // channels with bias + requant params
int64_t op_scratch_bytes(const Graph& g, const Op& op);  // from kernels/tn_scratch.h
// The same for one kernel call on a part of the op's tensors (patch.h): input and output extents and
// the padding before the input.
int64_t kernel_scratch_bytes(const Graph& g, const Op& op, int in_h, int in_w, int out_h, int out_w, int pad_h, int pad_w);
// A convolution the 1x1 kernel runs (kernel 1, stride 1, no padding); the others run as standard
// convolutions. The lowering and the scratch sizes both follow this.
bool runs_as_pointwise(const Graph& g, const Op& op);

// The padding before the first element of one dimension (search_space/network.h): kernel / 2 for odd
// kernels, as the trained PyTorch networks pad (nn.Conv2d padding = k / 2), TF's SAME for even ones;
// the output size is ceil(in / stride) either way, and the window may stop short of the last padded row.
using search_space::same_pad_before;

}  // namespace tinynas::engine
