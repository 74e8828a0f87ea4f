// An independent integer reference for the int8 kernels, written from TF-Lite's reference
// arithmetic (reference_integer_ops and fixedpoint.h) and straightforward loops over unpacked
// NHWC / OHWI tensors: no code shared with engine/kernels.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace ref {

// gemmlowp's SaturatingRoundingDoublingHighMul, as TF-Lite uses it.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  const bool overflow = a == b && a == std::numeric_limits<int32_t>::min();
  const int64_t ab = int64_t(a) * int64_t(b);
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  const int32_t high = int32_t((ab + nudge) / (int64_t(1) << 31));
  return overflow ? std::numeric_limits<int32_t>::max() : high;
}

// gemmlowp's RoundingDivideByPOT.
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = int32_t((int64_t(1) << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// TF-Lite's MultiplyByQuantizedMultiplier.
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(int32_t(int64_t(x) * (int64_t(1) << left)), multiplier), right);
}

struct Requant {
  std::vector<int32_t> multiplier, shift;
  int32_t input_offset = 0, output_offset = 0, act_min = -128, act_max = 127;
};

inline int8_t output(int32_t acc, const Requant& q, int channel) {
  int32_t v = multiply_by_quantized_multiplier(acc, q.multiplier[size_t(channel)], q.shift[size_t(channel)]);
  v += q.output_offset;
  return int8_t(std::clamp(v, q.act_min, q.act_max));
}

// Standard convolution: input [h][w][ic], weights [oc][k][k][ic] (OHWI), zero padding (the input
// zero point) outside the input.
inline std::vector<int8_t> conv(const std::vector<int8_t>& in, int in_h, int in_w, int in_c, const std::vector<int8_t>& w,
                                const std::vector<int32_t>& bias, int out_c, int k, int stride, int pad_h, int pad_w,
                                int out_h, int out_w, const Requant& q) {
  std::vector<int8_t> out(size_t(out_h) * out_w * out_c);
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int oc = 0; oc < out_c; ++oc) {
        int32_t acc = bias[size_t(oc)];
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int iy = oy * stride - pad_h + ky, ix = ox * stride - pad_w + kx;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
            for (int ic = 0; ic < in_c; ++ic)
              acc += (int32_t(in[(size_t(iy) * in_w + ix) * in_c + ic]) + q.input_offset) *
                     int32_t(w[((size_t(oc) * k + ky) * k + kx) * in_c + ic]);
          }
        out[(size_t(oy) * out_w + ox) * out_c + oc] = output(acc, q, oc);
      }
  return out;
}

// Depthwise convolution: weights [c][k][k].
inline std::vector<int8_t> depthwise(const std::vector<int8_t>& in, int in_h, int in_w, int c, const std::vector<int8_t>& w,
                                     const std::vector<int32_t>& bias, int k, int stride, int pad_h, int pad_w, int out_h,
                                     int out_w, const Requant& q) {
  std::vector<int8_t> out(size_t(out_h) * out_w * c);
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int ch = 0; ch < c; ++ch) {
        int32_t acc = bias[size_t(ch)];
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int iy = oy * stride - pad_h + ky, ix = ox * stride - pad_w + kx;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
            acc += (int32_t(in[(size_t(iy) * in_w + ix) * c + ch]) + q.input_offset) * int32_t(w[(size_t(ch) * k + ky) * k + kx]);
          }
        out[(size_t(oy) * out_w + ox) * c + ch] = output(acc, q, ch);
      }
  return out;
}

inline std::vector<int8_t> fully_connected(const std::vector<int8_t>& in, const std::vector<int8_t>& w,
                                           const std::vector<int32_t>& bias, int out_features, const Requant& q) {
  const size_t n = in.size();
  std::vector<int8_t> out(static_cast<size_t>(out_features));
  for (int o = 0; o < out_features; ++o) {
    int32_t acc = bias[size_t(o)];
    for (size_t i = 0; i < n; ++i) acc += (int32_t(in[i]) + q.input_offset) * int32_t(w[size_t(o) * n + i]);
    out[size_t(o)] = output(acc, q, o);
  }
  return out;
}

// TF-Lite's int8 Add (reference_integer_ops::AddElementwise).
struct AddParams {
  int32_t input1_offset, input2_offset, left_shift, input1_multiplier, input1_shift, input2_multiplier, input2_shift,
      output_multiplier, output_shift, output_offset, act_min, act_max;
};
inline std::vector<int8_t> add(const std::vector<int8_t>& a, const std::vector<int8_t>& b, const AddParams& p) {
  std::vector<int8_t> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const int32_t x1 = (p.input1_offset + a[i]) * (1 << p.left_shift);
    const int32_t x2 = (p.input2_offset + b[i]) * (1 << p.left_shift);
    const int32_t s1 = multiply_by_quantized_multiplier(x1, p.input1_multiplier, p.input1_shift);
    const int32_t s2 = multiply_by_quantized_multiplier(x2, p.input2_multiplier, p.input2_shift);
    const int32_t raw = multiply_by_quantized_multiplier(s1 + s2, p.output_multiplier, p.output_shift) + p.output_offset;
    out[i] = int8_t(std::clamp(raw, p.act_min, p.act_max));
  }
  return out;
}

// TF-Lite's int8 Mul (reference_integer_ops::MulElementwise, and BroadcastMul4DSlow with `b` one
// value per channel when it is shorter than `a`).
struct MulParams {
  int32_t input1_offset, input2_offset, output_multiplier, output_shift, output_offset, act_min, act_max;
};
inline std::vector<int8_t> mul(const std::vector<int8_t>& a, const std::vector<int8_t>& b, int channels, const MulParams& p) {
  std::vector<int8_t> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const int32_t x1 = p.input1_offset + a[i];
    const int32_t x2 = p.input2_offset + b[b.size() < a.size() ? i % size_t(channels) : i];
    const int32_t raw = p.output_offset + multiply_by_quantized_multiplier(x1 * x2, p.output_multiplier, p.output_shift);
    out[i] = int8_t(std::clamp(raw, p.act_min, p.act_max));
  }
  return out;
}

// TF-Lite's int8 AveragePool / MaxPool: the window's elements inside the input; the average rounds
// half away from zero.
inline std::vector<int8_t> pool(const std::vector<int8_t>& in, int in_h, int in_w, int c, int k, int stride, int pad_h,
                                int pad_w, int out_h, int out_w, bool average, int32_t act_min, int32_t act_max) {
  std::vector<int8_t> out(size_t(out_h) * out_w * c);
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int ch = 0; ch < c; ++ch) {
        int32_t acc = average ? 0 : -128;
        int count = 0;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int iy = oy * stride - pad_h + ky, ix = ox * stride - pad_w + kx;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
            const int32_t v = in[(size_t(iy) * in_w + ix) * c + ch];
            acc = average ? acc + v : std::max(acc, v);
            ++count;
          }
        if (average) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        out[(size_t(oy) * out_w + ox) * c + ch] = int8_t(std::clamp(acc, act_min, act_max));
      }
  return out;
}

}  // namespace ref
