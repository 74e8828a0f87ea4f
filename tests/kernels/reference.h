// An independent integer reference for the int8 kernels, written from TF-Lite's reference
// arithmetic (reference_integer_ops and fixedpoint.h) and straightforward loops over unpacked
// NHWC / OHWI tensors: no code shared with engine/kernels.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
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

// A convolution or pooling window: taps dilation apart, moved by stride, pad rows / columns before.
struct Window {
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1, pad_h = 0, pad_w = 0;
};

// Standard convolution in `groups` groups: input [h][w][ic], weights [oc][kh][kw][ic / groups] (OHWI
// over the group's input channels), zero padding (the input zero point) outside the input.
inline std::vector<int8_t> conv(const std::vector<int8_t>& in, int in_h, int in_w, int in_c, const std::vector<int8_t>& w,
                                const std::vector<int32_t>& bias, int out_c, const Window& win, int groups, int out_h,
                                int out_w, const Requant& q) {
  const int group_in = in_c / groups, group_out = out_c / groups;
  std::vector<int8_t> out(size_t(out_h) * out_w * out_c);
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int oc = 0; oc < out_c; ++oc) {
        const int first_in = oc / group_out * group_in;
        int32_t acc = bias[size_t(oc)];
        for (int ky = 0; ky < win.kernel_h; ++ky)
          for (int kx = 0; kx < win.kernel_w; ++kx) {
            const int iy = oy * win.stride_h - win.pad_h + ky * win.dilation_h;
            const int ix = ox * win.stride_w - win.pad_w + kx * win.dilation_w;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
            for (int ic = 0; ic < group_in; ++ic)
              acc += (int32_t(in[(size_t(iy) * in_w + ix) * in_c + size_t(first_in + ic)]) + q.input_offset) *
                     int32_t(w[((size_t(oc) * win.kernel_h + ky) * win.kernel_w + kx) * group_in + ic]);
          }
        out[(size_t(oy) * out_w + ox) * out_c + oc] = output(acc, q, oc);
      }
  return out;
}

// A square window (the search space's layers).
inline Window square_window(int k, int stride, int pad_h, int pad_w) {
  Window win;
  win.kernel_h = win.kernel_w = k;
  win.stride_h = win.stride_w = stride;
  win.pad_h = pad_h;
  win.pad_w = pad_w;
  return win;
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
inline std::vector<int8_t> pool(const std::vector<int8_t>& in, int in_h, int in_w, int c, const Window& win, int out_h,
                                int out_w, bool average, int32_t act_min, int32_t act_max) {
  std::vector<int8_t> out(size_t(out_h) * out_w * c);
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int ch = 0; ch < c; ++ch) {
        int32_t acc = average ? 0 : -128;
        int count = 0;
        for (int ky = 0; ky < win.kernel_h; ++ky)
          for (int kx = 0; kx < win.kernel_w; ++kx) {
            const int iy = oy * win.stride_h - win.pad_h + ky * win.dilation_h;
            const int ix = ox * win.stride_w - win.pad_w + kx * win.dilation_w;
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

// TF-Lite's int8 PRelu (reference_ops::BroadcastPrelu4DSlow) with one int8 slope per channel, zero
// point 0.
struct PreluParams {
  int32_t input_offset, positive_multiplier, positive_shift, negative_multiplier, negative_shift, output_offset, act_min,
      act_max;
};
inline std::vector<int8_t> prelu(const std::vector<int8_t>& in, const std::vector<int8_t>& slopes, const PreluParams& p) {
  std::vector<int8_t> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const int32_t input_value = p.input_offset + in[i];
    int32_t output_value;
    if (input_value >= 0) {
      output_value = multiply_by_quantized_multiplier(input_value, p.positive_multiplier, p.positive_shift);
    } else {
      const int32_t alpha_value = slopes[i % slopes.size()];
      output_value = multiply_by_quantized_multiplier(input_value * alpha_value, p.negative_multiplier, p.negative_shift);
    }
    out[i] = int8_t(std::clamp(output_value + p.output_offset, p.act_min, p.act_max));
  }
  return out;
}

// A channel gather: output channel j of every pixel is channel map[j] of a's channels followed by
// b's, through that input's 256-entry table (empty: a copy).
inline std::vector<int8_t> channel_map(const std::vector<int8_t>& a, int a_c, const std::vector<int8_t>& b, int b_c,
                                       const std::vector<int>& map, const std::vector<int8_t>& table_a,
                                       const std::vector<int8_t>& table_b) {
  const size_t pixels = a.size() / size_t(a_c);
  std::vector<int8_t> out;
  for (size_t p = 0; p < pixels; ++p)
    for (const int c : map) {
      const bool first = c < a_c;
      const int8_t v = first ? a[p * size_t(a_c) + size_t(c)] : b[p * size_t(b_c) + size_t(c - a_c)];
      const std::vector<int8_t>& table = first ? table_a : table_b;
      out.push_back(table.empty() ? v : table[size_t(v + 128)]);
    }
  return out;
}

// Nearest-neighbour resizing of an NHWC tensor: output pixel (y, x) is input pixel (rows[y], cols[x]).
inline std::vector<int8_t> resize_nearest(const std::vector<int8_t>& in, int in_w, int c, const std::vector<int>& rows,
                                          const std::vector<int>& cols) {
  std::vector<int8_t> out;
  for (const int y : rows)
    for (const int x : cols)
      for (int k = 0; k < c; ++k) out.push_back(in[(size_t(y) * size_t(in_w) + size_t(x)) * size_t(c) + size_t(k)]);
  return out;
}

// TF-Lite's int8 Softmax (reference_ops::Softmax on gemmlowp's FixedPoint), written with a fixed-point
// type that carries its integer bits, as gemmlowp does.
template <int IntegerBits>
struct Fixed {
  int32_t raw;
  static constexpr int kFractional = 31 - IntegerBits;
};
template <int Exponent>
int32_t gemmlowp_multiply_by_pot(int32_t x) {  // SaturatingRoundingMultiplyByPOT
  if constexpr (Exponent < 0) {
    return rounding_divide_by_pot(x, -Exponent);
  } else {
    const int32_t threshold = int32_t((int64_t(1) << (31 - Exponent)) - 1);
    if (x > threshold) return std::numeric_limits<int32_t>::max();
    if (x < -threshold) return std::numeric_limits<int32_t>::min();
    return int32_t(uint32_t(x) << Exponent);
  }
}
template <int A, int B>
Fixed<A + B> operator*(Fixed<A> a, Fixed<B> b) { return {saturating_rounding_doubling_high_mul(a.raw, b.raw)}; }
template <int To, int From>
Fixed<To> rescale(Fixed<From> x) { return {gemmlowp_multiply_by_pot<From - To>(x.raw)}; }
template <int I>
Fixed<I> one() { return {I == 0 ? std::numeric_limits<int32_t>::max() : int32_t(1) << (31 - I)}; }

inline Fixed<0> exp_on_interval_between_negative_one_quarter_and_0_excl(Fixed<0> a) {
  const Fixed<0> constant_term{1895147668}, constant_1_over_3{715827883};
  const Fixed<0> x{a.raw + (1 << 28)};
  const Fixed<0> x2 = x * x, x3 = x2 * x, x4 = x2 * x2;
  const Fixed<0> x4_over_4{gemmlowp_multiply_by_pot<-2>(x4.raw)};
  const Fixed<0> poly{gemmlowp_multiply_by_pot<-1>((Fixed<0>{x4_over_4.raw + x3.raw} * constant_1_over_3).raw + x2.raw)};
  return {constant_term.raw + (constant_term * Fixed<0>{x.raw + poly.raw}).raw};
}
template <int I>
Fixed<0> exp_on_negative_values(Fixed<I> a) {
  constexpr int kFractional = Fixed<I>::kFractional;
  const int32_t one_quarter = int32_t(1) << (kFractional - 2);
  const int32_t a_mod_quarter_minus_one_quarter = (a.raw & (one_quarter - 1)) - one_quarter;
  Fixed<0> result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale<0>(Fixed<I>{a_mod_quarter_minus_one_quarter}));
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a.raw;
  const std::pair<int, int32_t> barrel[] = {{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
                                            {2, 39332535},    {3, 720401},      {4, 242}};
  for (const auto& [exponent, multiplier] : barrel)
    if (I > exponent) {
      const int shift = kFractional + exponent;
      if (shift >= 0 && shift < 31 && (remainder & (int32_t(1) << shift))) result = result * Fixed<0>{multiplier};
    }
  return a.raw == 0 ? one<0>() : result;
}
inline Fixed<0> one_over_one_plus_x_for_x_in_0_1(Fixed<0> a) {
  const int64_t sum = int64_t(a.raw) + int64_t(one<0>().raw);
  const Fixed<0> half_denominator{int32_t((sum + (sum >= 0 ? 1 : -1)) / 2)};
  const Fixed<2> constant_48_over_17{1515870810}, constant_neg_32_over_17{-1010580540};
  Fixed<2> x{constant_48_over_17.raw + (half_denominator * constant_neg_32_over_17).raw};
  for (int i = 0; i < 3; ++i) {
    const Fixed<2> half_denominator_times_x = half_denominator * x;
    const Fixed<2> one_minus{one<2>().raw - half_denominator_times_x.raw};
    x = Fixed<2>{x.raw + rescale<2>(x * one_minus).raw};
  }
  return rescale<0>(Fixed<1>{x.raw});  // ExactMulByPot<-1>: the same raw value with one integer bit less
}

struct SoftmaxParams {
  int32_t input_multiplier, input_left_shift, diff_min;
};
inline std::vector<int8_t> softmax(const std::vector<int8_t>& in, int row_size, const SoftmaxParams& p) {
  std::vector<int8_t> out(in.size());
  for (size_t row = 0; row < in.size() / size_t(row_size); ++row) {
    const int8_t* x = &in[row * size_t(row_size)];
    const int32_t max_in_row = *std::max_element(x, x + row_size);
    auto scaled = [&](int32_t diff) {
      return Fixed<5>{saturating_rounding_doubling_high_mul(diff * (1 << p.input_left_shift), p.input_multiplier)};
    };
    Fixed<12> sum_of_exps{0};
    for (int c = 0; c < row_size; ++c)
      if (x[c] - max_in_row >= p.diff_min) sum_of_exps.raw += rescale<12>(exp_on_negative_values(scaled(x[c] - max_in_row))).raw;
    // GetReciprocal
    int headroom_plus_one = 0;
    while (!((uint32_t(sum_of_exps.raw) << headroom_plus_one) & 0x80000000u)) ++headroom_plus_one;
    const int num_bits_over_unit = 12 - headroom_plus_one;
    const int32_t shifted_sum_minus_one = int32_t((uint32_t(sum_of_exps.raw) << headroom_plus_one) - (uint32_t(1) << 31));
    const Fixed<0> shifted_scale = one_over_one_plus_x_for_x_in_0_1(Fixed<0>{shifted_sum_minus_one});
    for (int c = 0; c < row_size; ++c) {
      int32_t v = -128;
      if (x[c] - max_in_row >= p.diff_min) {
        const int32_t product = (shifted_scale * exp_on_negative_values(scaled(x[c] - max_in_row))).raw;
        const int exponent = num_bits_over_unit + 31 - 8;
        v = (exponent > 31 ? 0 : rounding_divide_by_pot(product, exponent)) - 128;
      }
      out[row * size_t(row_size) + size_t(c)] = int8_t(std::clamp(v, -128, 127));
    }
  }
  return out;
}

}  // namespace ref
