#pragma once
// Lowering a quantized model to kernel calls: which C kernel runs each op, with which literal
// parameters and packed weights. The host interpreter and the code generator both read this, so the
// firmware runs exactly what the host tests check.
#include <cstdint>
#include <string>
#include <vector>

#include <optional>

#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/quantize.h"

namespace tinynas::engine {

struct AudioFrontendFixed;

enum class KernelKind { Conv, Pointwise, Depthwise, FullyConnected, Add, AvgPool, MaxPool, GlobalAvgPool, Mul, Lookup, Softmax, ChannelMap, PRelu, Resize };
// The C function of a kernel, e.g. "tn_pointwise_conv_s8".
const char* kernel_function(KernelKind kind);

struct KernelCall {
  KernelKind kind = KernelKind::Conv;
  int op = -1;                           // graph op index
  int input = -1, input2 = -1, output = -1;  // tensor ids
  // Shapes (convolutions and pools: NHWC; fully connected: in_c = in_features, out_c = out_features).
  int in_h = 1, in_w = 1, in_c = 1, out_h = 1, out_w = 1, out_c = 1;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1, pad_h = 0, pad_w = 0;
  int groups = 1;
  std::vector<int8_t> weights;  // in the kernel's packed layout
  std::vector<int32_t> bias, multiplier, shift;
  int32_t input_offset = 0, output_offset = 0, act_min = -128, act_max = 127;
  // Add (TF-Lite's parameters; input_offset above is unused for it) and Mul (the offsets and
  // output_requant; broadcast: input2 holds one value per channel).
  int32_t input1_offset = 0, input2_offset = 0, left_shift = 0;
  QuantizedMultiplier input1_requant, input2_requant, output_requant;
  bool broadcast = false;
  std::vector<int8_t> table;  // Lookup: 256 outputs; ChannelMap: input's requantization (empty: a copy)
  std::vector<int8_t> table2;  // ChannelMap: input2's requantization (empty: a copy)
  std::vector<uint16_t> channel_map;  // ChannelMap: the source of every output channel
  int in2_c = 0;                      // ChannelMap: input2's channels (0: none)
  std::vector<uint16_t> resize_rows, resize_cols;  // Resize: the source of every output row / column
  int32_t diff_min = 0;       // Softmax (with output_requant: the input's beta multiplier and left shift)
  int64_t scratch_bytes = 0;  // the kernel's scratch function's figure
};

// One call per op. Throws InputError when an op cannot run on the int8 kernels.
std::vector<KernelCall> lower(const QuantizedModel& model);

// Runs the lowered model on the host with the C kernels in one arena laid out by the memory
// planner, exactly as the firmware does: layer by layer, or with a patch schedule (patch.h), whose
// stage runs patch by patch reading each patch's input region from the caller's input.
class Int8Interpreter {
 public:
  explicit Int8Interpreter(const QuantizedModel& model);
  // Throws InputError when the schedule cannot run on the model (plan_patch_stage).
  Int8Interpreter(const QuantizedModel& model, const PatchSchedule& schedule);
  std::vector<int8_t> run(const std::vector<int8_t>& input);
  // A graph with an MFCC front-end: the clip (clip_samples int16) goes to the front-end's planned input,
  // tn_mfcc_s8 writes the graph input, then the layers run: model_invoke_audio() of the firmware.
  std::vector<int8_t> run_audio(const std::vector<int16_t>& pcm);
  const MemoryPlan& plan() const { return plan_; }
  const std::optional<PatchStage>& patch_stage() const { return stage_; }

 private:
  std::vector<int8_t> run_layers(size_t first_call);
  std::vector<int8_t> run_patches(const std::vector<int8_t>& input);
  void check(int status, const KernelCall& c) const;  // throws RuntimeFailure unless TN_OK
  const QuantizedModel& model_;
  const AudioFrontendFixed* frontend_ = nullptr;  // default_audio_frontend_fixed() for an MFCC graph
  std::vector<KernelCall> calls_;
  std::optional<PatchStage> stage_;
  MemoryPlan plan_;
  std::vector<int32_t> arena_;  // int32 for the 4-byte alignment the kernels need
};

}  // namespace tinynas::engine
