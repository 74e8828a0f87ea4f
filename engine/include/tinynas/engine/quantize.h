#pragma once
// Post-training int8 quantization with TF-Lite's arithmetic, so results compare bit for bit with
// other MCU runtimes:
//  - weights: per-output-channel symmetric int8 (zero point 0, range [-127, 127]);
//  - activations: per-tensor asymmetric int8, range calibrated on sample inputs (min/max or
//    percentiles), widened to include 0; a ReLU6 output range is clipped to [0, 6];
//  - bias: int32 with scale input_scale * weight_scale[c];
//  - requantization: per-channel fixed-point multiplier in [2^30, 2^31) and a power-of-two shift,
//    applied as TF-Lite's MultiplyByQuantizedMultiplier (rounding doubling high multiply, then a
//    rounding right shift); the activation becomes the output clamp;
//  - add: TF-Lite's int8 add (inputs shifted left by 20, rescaled to twice the larger input scale);
//    mul: TF-Lite's int8 mul (the product of the offset inputs requantized by s1 * s2 / s_out);
//  - element-wise functions (sigmoid, hard-swish, ...): a 256-entry table of the float function at
//    every int8 input, rounded to the output quantization;
//  - average / global average / max pooling keep the input's scale and zero point (TF-Lite).
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/float_model.h"

namespace tinynas::engine {

struct TensorQuant {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// A real multiplier as TF-Lite encodes it: real = multiplier * 2^(shift - 31), multiplier in
// [2^30, 2^31) (or 0 for a zero real value).
struct QuantizedMultiplier {
  int32_t multiplier = 0;
  int32_t shift = 0;
};
QuantizedMultiplier quantize_multiplier(double real);

struct QuantizedOpParams {
  std::vector<int8_t> weights;          // the FloatModel layout
  std::vector<int32_t> bias;            // per output channel
  std::vector<float> weight_scales;     // per output channel
  std::vector<QuantizedMultiplier> requant;  // per output channel: input * weight / output scale
  int32_t act_min = -128, act_max = 127;     // the output clamp (activation folded in)
  // Add only (TF-Lite's parameters); Mul uses `output` (input1 * input2 / output scale).
  int32_t left_shift = 0;
  QuantizedMultiplier input1, input2, output;
  // Unary: the output for every int8 input (index input + 128), the clamp applied. ChannelMap: the
  // requantization of input (table) and input2 (table2) to the output, empty when the quantization is
  // the same.
  std::vector<int8_t> table, table2;
};

struct QuantizedModel {
  Graph graph;
  std::vector<TensorQuant> tensors;        // per tensor
  std::vector<QuantizedOpParams> params;   // per op
  std::vector<std::string> op_names;       // per op
};

struct QuantizeOptions {
  enum class Calibration { MinMax, Percentile };
  Calibration calibration = Calibration::MinMax;
  double percentile = 99.99;  // with Percentile: the range drops (100 - this) % of the values at each end
};

// Quantizes `model` with activation ranges measured on `calibration_inputs` (graph inputs in NHWC,
// the model's float input scale). The graph input's quantization comes from the model's input mean
// and std, so the firmware takes pixel - 128. Throws InputError for an op the int8 engine cannot run.
QuantizedModel quantize(const FloatModel& model, const std::vector<std::vector<float>>& calibration_inputs,
                        const QuantizeOptions& options = {});

// Sets the model's input mean and std so that the int8 input spans the range of `inputs` (float,
// any layout), widened to hold 0 as TF-Lite's input quantization does: scale (max - min) / 255, zero
// point -128 - min / scale (rounded). Throws InputError for no inputs or a non-finite value.
void fit_input_quantization(FloatModel& model, const std::vector<std::vector<float>>& inputs);

// The int8 input of a quantized model for one raw image (uint8 pixels, NHWC): pixel - 128.
std::vector<int8_t> quantize_pixels(const std::vector<uint8_t>& pixels);
// The int8 input for a float input (the model's float input scale): round(x / scale) + zero point.
std::vector<int8_t> quantize_input(const QuantizedModel& model, const std::vector<float>& x);
// The same before quantizing the model: its input scale is 1 / input_std, its zero point input_mean - 128.
std::vector<int8_t> quantize_input(const FloatModel& model, const std::vector<float>& x);

// Runs the int8 network on the host with the engine's C kernels (the same code the firmware runs)
// in an arena laid out by the memory planner; returns the int8 output.
std::vector<int8_t> run_int8(const QuantizedModel& model, const std::vector<int8_t>& input);
// Dequantized output: scale * (q - zero_point).
std::vector<float> dequantize_output(const QuantizedModel& model, const std::vector<int8_t>& output);

}  // namespace tinynas::engine
