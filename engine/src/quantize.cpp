#include "tinynas/engine/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tinynas/engine/lowering.h"
#include "tinynas/core/errors.h"

namespace tinynas::engine {

QuantizedMultiplier quantize_multiplier(double real) {
  // TF-Lite's QuantizeMultiplier: real = q * 2^shift with q in [0.5, 1), q as a Q31 fixed-point value.
  QuantizedMultiplier m;
  if (real == 0.0) return m;
  int shift = 0;
  const double q = std::frexp(real, &shift);
  int64_t q_fixed = std::llround(q * double(int64_t(1) << 31));
  if (q_fixed == (int64_t(1) << 31)) {
    q_fixed /= 2;
    ++shift;
  }
  if (shift < -31) {
    shift = 0;
    q_fixed = 0;
  }
  if (shift > 30) {
    shift = 30;
    q_fixed = (int64_t(1) << 31) - 1;
  }
  m.multiplier = int32_t(q_fixed);
  m.shift = shift;
  return m;
}

namespace {

std::string op_label(const FloatModel& m, size_t i) {
  std::string s = "op " + std::to_string(i) + " (" + to_string(m.graph.ops[i].kind);
  if (i < m.op_names.size() && !m.op_names[i].empty()) s += " '" + m.op_names[i] + "'";
  return s + ")";
}

// TF-Lite's int8 softmax output: probabilities in steps of 1/256 from -128.
const TensorQuant kSoftmaxOutput{1.0f / 256.0f, -128};

// Ops whose output keeps the input's quantization: pooling, resizing, and a channel map of one input (a
// copy of some of its channels).
bool keeps_input_quantization(const Op& op) {
  return op.kind == OpKind::AvgPool2D || op.kind == OpKind::MaxPool2D || op.kind == OpKind::GlobalAvgPool ||
         op.kind == OpKind::Resize ||
         (op.kind == OpKind::ChannelMap && op.input2 < 0 && op.activation == Activation::None);
}

// The 256-entry table of f from int8 values of `in` to int8 values of `out` (index value + 128; round to
// nearest, clamped).
template <typename F>
std::vector<int8_t> lookup_table(const TensorQuant& in, const TensorQuant& out, int32_t act_min, int32_t act_max, F f) {
  std::vector<int8_t> table(256);
  for (int v = -128; v < 128; ++v) {
    const double y = f(double(in.scale) * double(v - in.zero_point));
    const long level = std::lround(std::clamp(y / double(out.scale), -1e9, 1e9)) + out.zero_point;
    table[size_t(v + 128)] = int8_t(std::clamp<long>(level, act_min, act_max));
  }
  return table;
}

// The table that requantizes `in` to `out`, or nothing when the two are the same.
std::vector<int8_t> requantization_table(const TensorQuant& in, const TensorQuant& out, int32_t act_min, int32_t act_max) {
  if (in.scale == out.scale && in.zero_point == out.zero_point && act_min == -128 && act_max == 127) return {};
  return lookup_table(in, out, act_min, act_max, [](double x) { return x; });
}

// The [lo, hi] range of every tensor over the calibration inputs.
struct Range {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
};

std::vector<Range> calibrate_ranges(const FloatModel& model, const std::vector<std::vector<float>>& inputs,
                                    const QuantizeOptions& options) {
  const size_t nt = model.graph.tensors.size();
  std::vector<Range> r(nt);
  for (const auto& in : inputs) {
    const auto values = run_float_all(model, in);
    for (size_t t = 0; t < nt; ++t)
      for (float v : values[t]) {
        r[t].lo = std::min(r[t].lo, v);
        r[t].hi = std::max(r[t].hi, v);
      }
  }
  if (options.calibration == QuantizeOptions::Calibration::MinMax) return r;
  // Percentile: a histogram over each tensor's min/max range, then the range that keeps the given
  // share of the values on each side.
  constexpr int kBins = 4096;
  std::vector<std::vector<int64_t>> hist(nt, std::vector<int64_t>(kBins, 0));
  for (const auto& in : inputs) {
    const auto values = run_float_all(model, in);
    for (size_t t = 0; t < nt; ++t) {
      const float span = r[t].hi - r[t].lo;
      if (!(span > 0)) continue;
      for (float v : values[t]) hist[t][size_t(std::clamp(int((v - r[t].lo) / span * kBins), 0, kBins - 1))]++;
    }
  }
  const double keep = std::clamp(options.percentile, 50.0, 100.0) / 100.0;
  for (size_t t = 0; t < nt; ++t) {
    const float span = r[t].hi - r[t].lo;
    if (!(span > 0)) continue;
    int64_t total = 0;
    for (int64_t c : hist[t]) total += c;
    const auto cut = int64_t(std::floor(double(total) * (1.0 - keep)));
    int lo_bin = 0, hi_bin = kBins - 1;
    for (int64_t acc = 0; lo_bin < kBins - 1 && acc + hist[t][size_t(lo_bin)] <= cut; ++lo_bin) acc += hist[t][size_t(lo_bin)];
    for (int64_t acc = 0; hi_bin > lo_bin && acc + hist[t][size_t(hi_bin)] <= cut; --hi_bin) acc += hist[t][size_t(hi_bin)];
    const float lo = r[t].lo + span * float(lo_bin) / kBins, hi = r[t].lo + span * float(hi_bin + 1) / kBins;
    r[t].lo = lo;
    r[t].hi = hi;
  }
  return r;
}

TensorQuant quant_from_range(float lo, float hi) {
  lo = std::min(lo, 0.0f);  // zero must be exact: padding and ReLU produce it
  hi = std::max(hi, 0.0f);
  TensorQuant q;
  q.scale = std::max((hi - lo) / 255.0f, 1e-8f);
  q.zero_point = int32_t(std::clamp<long>(std::lround(-128.0 - double(lo) / q.scale), -128, 127));
  return q;
}

void activation_clamp(Activation act, const TensorQuant& out, int32_t& act_min, int32_t& act_max) {
  act_min = -128;
  act_max = 127;
  if (act == Activation::None) return;
  act_min = std::max<int32_t>(-128, out.zero_point);
  if (act == Activation::Relu6)
    act_max = int32_t(std::min<long>(127, out.zero_point + std::lround(6.0 / double(out.scale))));
}

// Per-output-channel symmetric weights, int32 bias and requantization of a conv or FC op.
void quantize_weights(const FloatModel& model, size_t i, float input_scale, float output_scale, QuantizedOpParams& q) {
  const Graph& g = model.graph;
  const Op& op = g.ops[i];
  const FloatOpParams& p = model.params[i];
  const int64_t channels = g.tensors[size_t(op.output)].c;
  const int64_t per_channel = int64_t(p.weights.size()) / channels;
  q.weights.resize(p.weights.size());
  q.bias.assign(size_t(channels), 0);
  q.weight_scales.resize(size_t(channels));
  q.requant.resize(size_t(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const float* w = &p.weights[size_t(c * per_channel)];
    float max_abs = 0.0f;
    for (int64_t j = 0; j < per_channel; ++j) max_abs = std::max(max_abs, std::fabs(w[j]));
    const float scale = max_abs > 0.0f ? max_abs / 127.0f : 1.0f;
    q.weight_scales[size_t(c)] = scale;
    for (int64_t j = 0; j < per_channel; ++j)
      q.weights[size_t(c * per_channel + j)] = int8_t(std::clamp<long>(std::lround(w[j] / scale), -127, 127));
    const double bias_scale = double(input_scale) * scale;
    const double b = p.bias.empty() ? 0.0 : double(p.bias[size_t(c)]);
    q.bias[size_t(c)] = int32_t(std::clamp<double>(std::round(b / bias_scale), std::numeric_limits<int32_t>::min(),
                                                   std::numeric_limits<int32_t>::max()));
    q.requant[size_t(c)] = quantize_multiplier(bias_scale / double(output_scale));
  }
}

// The DSP kernels requantize exactly when |acc| * 2^(max(shift, 0) + 1) < 2^31 (tn_arith.h); check
// the worst case of every output channel from its weights and bias.
void check_accumulator_bound(const FloatModel& model, size_t i, const QuantizedModel& qm) {
  const Op& op = qm.graph.ops[i];
  const QuantizedOpParams& q = qm.params[i];
  const int32_t zp = qm.tensors[size_t(op.input)].zero_point;
  const int64_t max_input = std::max(std::abs(-128 - zp), std::abs(127 - zp));
  const int64_t channels = int64_t(q.bias.size());
  const int64_t per_channel = int64_t(q.weights.size()) / channels;
  for (int64_t c = 0; c < channels; ++c) {
    int64_t bound = std::abs(int64_t(q.bias[size_t(c)]));
    for (int64_t j = 0; j < per_channel; ++j) bound += std::abs(int64_t(q.weights[size_t(c * per_channel + j)])) * max_input;
    const int shift = std::max(0, q.requant[size_t(c)].shift) + 1;
    if (bound >= (int64_t(1) << (31 - shift)))
      throw core::InputError("model '" + model.graph.name + "': " + op_label(model, i) + " channel " + std::to_string(c) +
                       ": the int32 accumulator may reach " + std::to_string(bound) +
                       ", beyond what the int8 kernels requantize exactly (2^" + std::to_string(31 - shift) +
                       "); the bias is out of proportion to the weights");
  }
}

}  // namespace

QuantizedModel quantize(const FloatModel& model, const std::vector<std::vector<float>>& calibration_inputs,
                        const QuantizeOptions& options) {
  model.validate();
  const Graph& g = model.graph;
  if (calibration_inputs.empty()) throw core::InputError("quantize '" + g.name + "': no calibration inputs");
  const std::vector<Range> ranges = calibrate_ranges(model, calibration_inputs, options);

  QuantizedModel qm;
  qm.graph = g;
  qm.op_names = model.op_names;
  qm.op_names.resize(g.ops.size());
  qm.tensors.resize(g.tensors.size());
  qm.params.resize(g.ops.size());
  {
    TensorQuant& in = qm.tensors[size_t(g.input)];
    in.scale = 1.0f / model.input_std;
    const long zp = std::lround(double(model.input_mean) - 128.0);
    if (zp < -128 || zp > 127)
      throw core::InputError("model '" + g.name + "': input mean " + std::to_string(model.input_mean) +
                       " gives a zero point outside int8 for pixel - 128 inputs");
    in.zero_point = int32_t(zp);
  }
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    if (keeps_input_quantization(op)) {
      qm.tensors[size_t(op.output)] = qm.tensors[size_t(op.input)];
      continue;
    }
    Range r = ranges[size_t(op.output)];
    if (op.activation != Activation::None) r.lo = std::max(r.lo, 0.0f);
    if (op.activation == Activation::Relu6) r.hi = std::min(r.hi, 6.0f);
    qm.tensors[size_t(op.output)] = op.kind == OpKind::Softmax ? kSoftmaxOutput : quant_from_range(r.lo, r.hi);
    if (auto stated = model.stated_quantization.find(op.output); stated != model.stated_quantization.end()) {
      const TensorQuant q{stated->second.scale, stated->second.zero_point};
      if (op.kind == OpKind::Softmax && (q.scale != kSoftmaxOutput.scale || q.zero_point != kSoftmaxOutput.zero_point))
        throw core::InputError("model '" + g.name + "': " + op_label(model, i) + ": its output is stated with scale " +
                               std::to_string(q.scale) + " and zero point " + std::to_string(q.zero_point) +
                               "; an int8 softmax gives scale 1/256 and zero point -128 (TF-Lite)");
      qm.tensors[size_t(op.output)] = q;
    }
  }
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    QuantizedOpParams& q = qm.params[i];
    const TensorQuant& in = qm.tensors[size_t(op.input)];
    const TensorQuant& out = qm.tensors[size_t(op.output)];
    activation_clamp(op.activation, out, q.act_min, q.act_max);
    switch (op.kind) {
      case OpKind::Conv2D:
      case OpKind::PointwiseConv2D:
      case OpKind::DepthwiseConv2D:
      case OpKind::FullyConnected:
        quantize_weights(model, i, in.scale, out.scale, q);
        check_accumulator_bound(model, i, qm);
        break;
      case OpKind::Add: {
        // TF-Lite's int8 add: both inputs to twice the larger input scale, with 20 bits of headroom.
        const TensorQuant& in2 = qm.tensors[size_t(op.input2)];
        const double twice_max = 2.0 * std::max(in.scale, in2.scale);
        q.left_shift = 20;
        q.input1 = quantize_multiplier(double(in.scale) / twice_max);
        q.input2 = quantize_multiplier(double(in2.scale) / twice_max);
        q.output = quantize_multiplier(twice_max / (double(1 << q.left_shift) * double(out.scale)));
        break;
      }
      case OpKind::Mul: {
        const TensorQuant& in2 = qm.tensors[size_t(op.input2)];
        q.output = quantize_multiplier(double(in.scale) * double(in2.scale) / double(out.scale));
        if (q.output.shift > 14)
          throw core::InputError("model '" + g.name + "': " + op_label(model, i) + ": the output scale is " +
                                 "too small for the product of the input scales (2^" + std::to_string(q.output.shift) +
                                 " times)");
        break;
      }
      case OpKind::Unary:
        q.table = lookup_table(in, out, q.act_min, q.act_max,
                               [&](double x) { return unary_value(op.unary, op.alpha, op.beta, x); });
        break;
      case OpKind::PRelu: {
        // The slopes symmetric int8 (zero point 0), one scale for all; TF-Lite's two multipliers.
        const std::vector<float>& slopes = model.params[i].weights;
        float max_abs = 0.0f;
        for (float v : slopes) max_abs = std::max(max_abs, std::fabs(v));
        const float slope_scale = max_abs > 0.0f ? max_abs / 127.0f : 1.0f;
        q.weight_scales = {slope_scale};
        for (float v : slopes) q.weights.push_back(int8_t(std::clamp<long>(std::lround(v / slope_scale), -127, 127)));
        q.input1 = quantize_multiplier(double(in.scale) / double(out.scale));
        q.input2 = quantize_multiplier(double(in.scale) * double(slope_scale) / double(out.scale));
        if (std::max(q.input1.shift, q.input2.shift) > 14)
          throw core::InputError("model '" + g.name + "': " + op_label(model, i) + ": the output scale is " +
                                 "too small for the input scale (2^" + std::to_string(std::max(q.input1.shift, q.input2.shift)) +
                                 " times)");
        break;
      }
      case OpKind::ChannelMap:
        q.table = requantization_table(in, out, q.act_min, q.act_max);
        if (op.input2 >= 0) q.table2 = requantization_table(qm.tensors[size_t(op.input2)], out, q.act_min, q.act_max);
        break;
      case OpKind::Softmax: {
        // TF-Lite: beta * input scale in Q5.26 as a multiplier above one (beta = 1).
        q.output = quantize_multiplier(std::min(double(in.scale) * double(int64_t(1) << 26), double(INT32_MAX)));
        if (q.output.shift < 0)
          throw core::InputError("model '" + g.name + "': " + op_label(model, i) + ": the input scale " +
                                 std::to_string(in.scale) + " is below the int8 softmax's 2^-27");
        break;
      }
      default: break;  // pools and resizing keep the input quantization
    }
  }
  return qm;
}

std::vector<int8_t> quantize_pixels(const std::vector<uint8_t>& pixels) {
  std::vector<int8_t> q(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) q[i] = int8_t(int(pixels[i]) - 128);
  return q;
}

void fit_input_quantization(FloatModel& model, const std::vector<std::vector<float>>& inputs) {
  double lo = 0.0, hi = 0.0;  // 0 is always in the range: zero padding must be exact
  bool any = false;
  for (const auto& x : inputs)
    for (float v : x) {
      if (!std::isfinite(v)) throw core::InputError("model '" + model.graph.name + "': a calibration input is not finite");
      lo = std::min(lo, double(v));
      hi = std::max(hi, double(v));
      any = true;
    }
  if (!any) throw core::InputError("model '" + model.graph.name + "': no calibration inputs for the input range");
  if (hi - lo < 1e-30) hi = lo + 1.0;  // all zero: any scale is exact
  const double scale = (hi - lo) / 255.0;
  const long zero_point = std::clamp<long>(std::lround(-128.0 - lo / scale), -128, 127);
  model.input_std = float(1.0 / scale);
  model.input_mean = float(zero_point + 128);
}

namespace {
std::vector<int8_t> quantize_values(const std::vector<float>& x, float scale, int32_t zero_point) {
  std::vector<int8_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = int8_t(std::clamp<long>(std::lround(double(x[i]) / double(scale)) + zero_point, -128, 127));
  return out;
}
}  // namespace

std::vector<int8_t> quantize_input(const QuantizedModel& model, const std::vector<float>& x) {
  const TensorQuant& q = model.tensors[size_t(model.graph.input)];
  return quantize_values(x, q.scale, q.zero_point);
}

std::vector<int8_t> quantize_input(const FloatModel& model, const std::vector<float>& x) {
  return quantize_values(x, 1.0f / model.input_std, int32_t(std::lround(double(model.input_mean) - 128.0)));
}

std::vector<int8_t> run_int8(const QuantizedModel& model, const std::vector<int8_t>& input) {
  Int8Interpreter interpreter(model);
  return interpreter.run(input);
}

std::vector<float> dequantize_output(const QuantizedModel& model, const std::vector<int8_t>& output) {
  const TensorQuant& q = model.tensors[size_t(model.graph.output)];
  std::vector<float> out(output.size());
  for (size_t i = 0; i < output.size(); ++i) out[i] = q.scale * float(int32_t(output[i]) - q.zero_point);
  return out;
}

}  // namespace tinynas::engine
