// The int8 kernels against the independent integer reference (reference.h), bit for bit, on
// adversarial shapes and quantization parameters. The same file is built twice: against the portable
// C kernels and against the DSP path with its instructions modelled in C (TN_EMULATE_DSP).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "guarded_scratch.h"
#include "reference.h"
#include "tn_arith.h"
#include "tn_kernels.h"
#include "tn_scratch.h"

namespace {

std::vector<int8_t> random_bytes(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = int8_t(d(rng));
  return v;
}

// Weights in [-127, 127] (symmetric, as the quantizer produces).
std::vector<int8_t> random_weights(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = int8_t(d(rng));
  return v;
}

// Quantization parameters whose outputs span the int8 range for accumulators of about
// `typical_acc`, with some channels saturating and some left shifts. Biases stay small enough for
// the accumulator bound of the DSP path (|acc| * 2^(left + 1) < 2^31).
ref::Requant random_requant(std::mt19937& rng, int channels, double typical_acc, int32_t input_zero_point,
                            int32_t output_zero_point, int32_t act_min = -128, int32_t act_max = 127) {
  ref::Requant q;
  std::uniform_int_distribution<int32_t> mult(1 << 30, std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int> jitter(-3, 2);
  const int base = -int(std::lround(std::log2(std::max(1.0, typical_acc) / 64.0)));
  for (int c = 0; c < channels; ++c) {
    q.multiplier.push_back(mult(rng));
    q.shift.push_back(std::min(2, base + jitter(rng)));
  }
  q.input_offset = -input_zero_point;
  q.output_offset = output_zero_point;
  q.act_min = act_min;
  q.act_max = act_max;
  return q;
}

std::vector<int32_t> random_bias(std::mt19937& rng, int n, int32_t magnitude) {
  std::uniform_int_distribution<int32_t> d(-magnitude, magnitude);
  std::vector<int32_t> b(static_cast<size_t>(n));
  for (auto& x : b) x = d(rng);
  return b;
}

tn_requant_params to_kernel(const ref::Requant& q) {
  return tn_requant_params{q.multiplier.data(), q.shift.data(), q.input_offset, q.output_offset, q.act_min, q.act_max};
}

// OHWI weights into the kernels' packed rows (zero-padded to a multiple of 4).
std::vector<int8_t> pack_rows(const std::vector<int8_t>& w, int rows, int length, int packed_length) {
  std::vector<int8_t> out(size_t(rows) * packed_length, 0);
  for (int r = 0; r < rows; ++r) std::memcpy(&out[size_t(r) * packed_length], &w[size_t(r) * length], size_t(length));
  return out;
}

using Scratch = tinynas_test::GuardedScratch;

struct Quant {
  int32_t input_zp, output_zp, act_min, act_max;
};
// Zero points at the int8 limits and in between; full and narrowed (ReLU6-like) output clamps.
const Quant kQuants[] = {{0, 0, -128, 127}, {-128, -128, -128, 127}, {127, 127, -128, 127},
                         {-5, 3, -128, 127}, {-128, -128, -128, 90}, {17, -20, -20, 127}};

struct ConvCase {
  int in_h, in_w, in_c, out_c, k, stride, pad_h, pad_w, pad_h_after, pad_w_after;
};

int out_size(int in, int k, int stride, int before, int after) { return (in + before + after - k) / stride + 1; }

std::string describe(const ConvCase& c) {
  return std::to_string(c.in_h) + "x" + std::to_string(c.in_w) + "x" + std::to_string(c.in_c) + " -> " +
         std::to_string(c.out_c) + " k" + std::to_string(c.k) + " s" + std::to_string(c.stride) + " pad " +
         std::to_string(c.pad_h) + "," + std::to_string(c.pad_w) + "/" + std::to_string(c.pad_h_after) + "," +
         std::to_string(c.pad_w_after);
}

}  // namespace

TEST(Kernels, StandardConvolutionMatchesReference) {
  const ConvCase cases[] = {
      {9, 9, 3, 16, 3, 2, 1, 1, 1, 1},    // the RGB stem path, odd input
      {8, 10, 3, 8, 3, 2, 1, 1, 0, 0},    // the RGB stem path, even input (PyTorch padding)
      {9, 7, 1, 8, 3, 2, 1, 1, 1, 1},     // the gray stem path
      {5, 5, 5, 7, 3, 1, 1, 1, 1, 1},     // odd channels
      {1, 1, 3, 5, 3, 1, 1, 1, 1, 1},     // 1x1 spatial
      {11, 11, 4, 6, 7, 2, 3, 3, 3, 3},   // k7 s2
      {6, 6, 17, 3, 5, 2, 2, 2, 2, 2},    // 17 input channels
      {4, 4, 2, 3, 1, 2, 0, 0, 0, 0},     // 1x1 with stride 2 (generic path)
      {3, 3, 16, 16, 3, 1, 0, 0, 0, 0},   // no padding
      {7, 5, 8, 9, 3, 2, 1, 0, 1, 1},     // asymmetric padding
      {6, 6, 4, 4, 2, 2, 0, 0, 0, 0},     // even kernel
  };
  std::mt19937 rng(1234);
  for (const ConvCase& c : cases)
    for (const Quant& qz : kQuants) {
      SCOPED_TRACE(describe(c) + " zp " + std::to_string(qz.input_zp) + "/" + std::to_string(qz.output_zp));
      const int out_h = out_size(c.in_h, c.k, c.stride, c.pad_h, c.pad_h_after);
      const int out_w = out_size(c.in_w, c.k, c.stride, c.pad_w, c.pad_w_after);
      const int length = c.k * c.k * c.in_c;
      const auto input = random_bytes(rng, size_t(c.in_h) * c.in_w * c.in_c);
      const auto weights = random_weights(rng, size_t(c.out_c) * length);
      const auto bias = random_bias(rng, c.out_c, 1 << 16);
      const auto q = random_requant(rng, c.out_c, std::sqrt(double(length)) * 127 * 100, qz.input_zp, qz.output_zp,
                                    qz.act_min, qz.act_max);
      const auto expected = ref::conv(input, c.in_h, c.in_w, c.in_c, weights, bias, c.out_c,
                                      ref::square_window(c.k, c.stride, c.pad_h, c.pad_w), 1, out_h, out_w, q);
      const int32_t row = tn_conv_weights_row_length(c.in_c, c.k, c.k);
      const auto packed = pack_rows(weights, c.out_c, length, row);
      tn_conv_params p{c.in_h,       c.in_w,      c.in_c,       out_h, out_w, c.out_c, {c.k, c.k, c.stride, c.stride, 1, 1, c.pad_h, c.pad_w},
                       1,            packed.data(), bias.data(), to_kernel(q)};
      Scratch scratch(tn_conv_scratch_bytes(c.in_c, c.k, c.k));
      std::vector<int8_t> out(expected.size(), 0);
      ASSERT_EQ(tn_conv2d_s8(&p, input.data(), out.data(), scratch.get()), TN_OK);
      EXPECT_EQ(out, expected);
      EXPECT_TRUE(scratch.guard_intact());
    }
}

// Windows beyond the search space's square ones, as imported networks have them: non-square kernels
// and strides (DS-CNN's 10x4 stem), dilation, and groups (grouped convs; depthwise layers with a
// channel multiplier or a non-square kernel run as one input channel per group).
TEST(Kernels, NonSquareDilatedAndGroupedConvolutionMatchesReference) {
  struct Case {
    const char* what;
    int in_h, in_w, in_c, out_c, groups;
    ref::Window win;
    int pad_h_after, pad_w_after;
  };
  const Case cases[] = {
      {"DS-CNN stem 10x4 s2", 49, 10, 1, 16, 1, {10, 4, 2, 2, 1, 1, 5, 1}, 5, 1},
      {"1x3 s1x2", 6, 9, 5, 7, 1, {1, 3, 1, 2, 1, 1, 0, 1}, 0, 1},
      {"dilation 2", 9, 9, 4, 6, 1, {3, 3, 1, 1, 2, 2, 2, 2}, 2, 2},
      {"dilation 2x3, stride 1x2", 8, 11, 3, 5, 1, {3, 2, 1, 2, 2, 3, 2, 1}, 2, 2},
      {"2 groups", 6, 6, 8, 6, 2, {3, 3, 1, 1, 1, 1, 1, 1}, 1, 1},
      {"4 groups of 8, stride 2", 7, 7, 32, 32, 4, {3, 3, 2, 2, 1, 1, 1, 1}, 1, 1},
      {"depthwise, channel multiplier 2", 5, 5, 3, 6, 3, {3, 3, 1, 1, 1, 1, 1, 1}, 1, 1},
      {"depthwise 1x3", 7, 6, 4, 4, 4, {1, 3, 1, 1, 1, 1, 0, 1}, 0, 1},
      {"depthwise 3x3 dilation 2", 8, 8, 5, 5, 5, {3, 3, 1, 1, 2, 2, 2, 2}, 2, 2},
      {"1x1 in 3 groups", 4, 5, 6, 9, 3, {1, 1, 1, 1, 1, 1, 0, 0}, 0, 0},
  };
  std::mt19937 rng(4321);
  for (const Case& c : cases)
    for (const Quant& qz : kQuants) {
      SCOPED_TRACE(std::string(c.what) + " zp " + std::to_string(qz.input_zp) + "/" + std::to_string(qz.output_zp));
      const ref::Window& win = c.win;
      const int extent_h = (win.kernel_h - 1) * win.dilation_h + 1, extent_w = (win.kernel_w - 1) * win.dilation_w + 1;
      const int out_h = out_size(c.in_h, extent_h, win.stride_h, win.pad_h, c.pad_h_after);
      const int out_w = out_size(c.in_w, extent_w, win.stride_w, win.pad_w, c.pad_w_after);
      const int group_in = c.in_c / c.groups, length = win.kernel_h * win.kernel_w * group_in;
      const auto input = random_bytes(rng, size_t(c.in_h) * c.in_w * c.in_c);
      const auto weights = random_weights(rng, size_t(c.out_c) * length);
      const auto bias = random_bias(rng, c.out_c, 1 << 16);
      const auto q = random_requant(rng, c.out_c, std::sqrt(double(length)) * 127 * 100, qz.input_zp, qz.output_zp,
                                    qz.act_min, qz.act_max);
      const auto expected =
          ref::conv(input, c.in_h, c.in_w, c.in_c, weights, bias, c.out_c, win, c.groups, out_h, out_w, q);
      const int32_t row = tn_conv_weights_row_length(group_in, win.kernel_h, win.kernel_w);
      const auto packed = pack_rows(weights, c.out_c, length, row);
      const tn_window window{win.kernel_h,   win.kernel_w,   win.stride_h, win.stride_w,
                             win.dilation_h, win.dilation_w, win.pad_h,    win.pad_w};
      tn_conv_params p{c.in_h, c.in_w, c.in_c, out_h, out_w, c.out_c, window, c.groups, packed.data(), bias.data(), to_kernel(q)};
      Scratch scratch(tn_conv_scratch_bytes(group_in, win.kernel_h, win.kernel_w));
      std::vector<int8_t> out(expected.size(), 0);
      ASSERT_EQ(tn_conv2d_s8(&p, input.data(), out.data(), scratch.get()), TN_OK);
      EXPECT_EQ(out, expected);
      EXPECT_TRUE(scratch.guard_intact());
    }
}

TEST(Kernels, PointwiseConvolutionMatchesReference) {
  struct Case {
    int h, w, in_c, out_c;
  };
  const Case cases[] = {{5, 3, 1, 3},  {4, 4, 3, 16}, {1, 1, 5, 7},  {3, 3, 8, 8},  {2, 7, 17, 5},
                        {6, 6, 48, 48}, {1, 2, 4, 1},  {3, 1, 12, 9}, {5, 5, 20, 24}};
  std::mt19937 rng(99);
  for (const Case& c : cases)
    for (const Quant& qz : kQuants) {
      SCOPED_TRACE(std::to_string(c.h) + "x" + std::to_string(c.w) + " " + std::to_string(c.in_c) + " -> " +
                   std::to_string(c.out_c));
      const auto input = random_bytes(rng, size_t(c.h) * c.w * c.in_c);
      const auto weights = random_weights(rng, size_t(c.out_c) * c.in_c);
      const auto bias = random_bias(rng, c.out_c, 1 << 16);
      const auto q = random_requant(rng, c.out_c, std::sqrt(double(c.in_c)) * 127 * 100, qz.input_zp, qz.output_zp,
                                    qz.act_min, qz.act_max);
      const auto expected =
          ref::conv(input, c.h, c.w, c.in_c, weights, bias, c.out_c, ref::square_window(1, 1, 0, 0), 1, c.h, c.w, q);
      const auto packed = pack_rows(weights, c.out_c, c.in_c, tn_conv_weights_row_length(c.in_c, 1, 1));
      tn_conv_params p{c.h, c.w, c.in_c, c.h, c.w, c.out_c, {1, 1, 1, 1, 1, 1, 0, 0}, 1, packed.data(), bias.data(), to_kernel(q)};
      Scratch scratch(tn_pointwise_scratch_bytes(c.in_c));
      std::vector<int8_t> out(expected.size(), 0);
      ASSERT_EQ(tn_pointwise_conv_s8(&p, input.data(), out.data(), scratch.get()), TN_OK);
      EXPECT_EQ(out, expected);
      EXPECT_TRUE(scratch.guard_intact());
      // The standard convolution computes the same layer.
      std::vector<int8_t> out2(expected.size(), 0);
      Scratch scratch2(tn_conv_scratch_bytes(c.in_c, 1, 1));
      ASSERT_EQ(tn_conv2d_s8(&p, input.data(), out2.data(), scratch2.get()), TN_OK);
      EXPECT_EQ(out2, expected);
    }
}

TEST(Kernels, DepthwiseConvolutionMatchesReferenceAndRunsInPlace) {
  struct Case {
    int in_h, in_w, c, k, stride, pad_h, pad_w, pad_h_after, pad_w_after;
  };
  const Case cases[] = {
      {5, 5, 8, 3, 1, 1, 1, 1, 1}, {6, 7, 3, 3, 2, 1, 1, 0, 1}, {1, 1, 17, 3, 1, 1, 1, 1, 1},
      {7, 7, 4, 5, 1, 2, 2, 2, 2}, {9, 8, 5, 5, 2, 2, 2, 2, 1}, {8, 8, 3, 7, 1, 3, 3, 3, 3},
      {11, 11, 2, 7, 2, 3, 3, 3, 3}, {4, 4, 1, 7, 2, 3, 3, 3, 3}, {6, 6, 3, 9, 1, 4, 4, 4, 4},  // k9: generic
      {5, 6, 3, 4, 1, 1, 2, 2, 1},  // even kernel
      {20, 20, 16, 3, 1, 1, 1, 1, 1}, {3, 5, 6, 3, 1, 0, 0, 0, 0},
      // 5x5 and 7x7 beyond the small-map paths (more than TN_DW_SMALL_OUTPUTS outputs), odd widths
      {10, 9, 3, 5, 1, 2, 2, 2, 2}, {17, 17, 2, 5, 2, 2, 2, 2, 2}, {9, 11, 2, 7, 1, 3, 3, 3, 3},
      {19, 17, 2, 7, 2, 3, 3, 3, 3},
      // 3x3 stride 2 beyond the small-map paths: planes 21 and 19 wide (2 out_w + 1), the last pair's
      // fifth column at the plane's very end
      {20, 20, 3, 3, 2, 1, 1, 1, 1}, {18, 19, 2, 3, 2, 1, 1, 1, 1},
      // ... and with whole groups of four channels, read straight from the input: padding on all sides
      // (even and odd windows after the left pair, a bottom row past the map), padding after (every row
      // gathered), none (even and odd rows of windows)
      {20, 20, 8, 3, 2, 1, 1, 1, 1}, {19, 18, 12, 3, 2, 1, 1, 1, 1}, {20, 18, 4, 3, 2, 0, 0, 1, 1},
      {21, 17, 8, 3, 2, 0, 0, 0, 0}, {21, 19, 4, 3, 2, 0, 0, 0, 0},
      // padding on one side only: the top (a gathered first row, windows in place from column 0) and the
      // left (left pairs, a gathered last row)
      {20, 19, 8, 3, 2, 1, 0, 1, 0}, {20, 20, 4, 3, 2, 0, 1, 1, 1},
      {10, 9, 3, 1, 1, 0, 0, 0, 0},  // 1x1 depthwise: the general path
      // 3x3 outputs (two channels a plane fill): an odd and an even channel count, stride 1 and 2
      {3, 3, 7, 3, 1, 1, 1, 1, 1}, {3, 3, 8, 3, 1, 1, 1, 1, 1}, {6, 6, 5, 3, 2, 1, 1, 0, 0}, {6, 6, 2, 3, 2, 1, 1, 1, 1},
  };
  std::mt19937 rng(7);
  for (const Case& c : cases)
    for (const Quant& qz : kQuants) {
      SCOPED_TRACE(std::to_string(c.in_h) + "x" + std::to_string(c.in_w) + "x" + std::to_string(c.c) + " k" +
                   std::to_string(c.k) + " s" + std::to_string(c.stride));
      const int out_h = out_size(c.in_h, c.k, c.stride, c.pad_h, c.pad_h_after);
      const int out_w = out_size(c.in_w, c.k, c.stride, c.pad_w, c.pad_w_after);
      const auto input = random_bytes(rng, size_t(c.in_h) * c.in_w * c.c);
      const auto weights = random_weights(rng, size_t(c.c) * c.k * c.k);
      const auto bias = random_bias(rng, c.c, 1 << 16);
      const auto q = random_requant(rng, c.c, double(c.k) * 127 * 100, qz.input_zp, qz.output_zp, qz.act_min, qz.act_max);
      const auto expected =
          ref::depthwise(input, c.in_h, c.in_w, c.c, weights, bias, c.k, c.stride, c.pad_h, c.pad_w, out_h, out_w, q);
      tn_depthwise_params p{c.in_h, c.in_w, c.c, out_h, out_w, c.k, c.stride, c.pad_h, c.pad_w,
                            weights.data(), bias.data(), to_kernel(q)};
      const int32_t scratch_bytes =
          tn_depthwise_scratch_bytes(c.in_h, c.in_w, c.pad_h, c.pad_w, c.k, c.stride, out_h, out_w);
      {
        Scratch scratch(scratch_bytes);
        std::vector<int8_t> out(expected.size(), 0);
        ASSERT_EQ(tn_depthwise_conv_s8(&p, input.data(), out.data(), scratch.get()), TN_OK);
        EXPECT_EQ(out, expected);
        EXPECT_TRUE(scratch.guard_intact());
      }
      if (out_h * out_w <= c.in_h * c.in_w) {  // in place: the output overwrites the input
        Scratch scratch(scratch_bytes);
        std::vector<int8_t> buffer = input;
        ASSERT_EQ(tn_depthwise_conv_s8(&p, buffer.data(), buffer.data(), scratch.get()), TN_OK);
        buffer.resize(expected.size());
        EXPECT_EQ(buffer, expected);
      }
    }
}

TEST(Kernels, FullyConnectedMatchesReference) {
  struct Case {
    int in, out;
  };
  // Up to 4 outputs the DSP build reads the input directly, beyond it widens it first; both pair the
  // rows, so odd counts (an unpaired last row) are among the cases.
  const Case cases[] = {{1, 1}, {3, 10}, {4, 4}, {17, 3}, {64, 10}, {1280, 10}, {8, 5}, {21, 7}, {160, 2}};
  std::mt19937 rng(5);
  for (const Case& c : cases)
    for (const Quant& qz : kQuants) {
      SCOPED_TRACE(std::to_string(c.in) + " -> " + std::to_string(c.out));
      const auto input = random_bytes(rng, size_t(c.in));
      const auto weights = random_weights(rng, size_t(c.out) * c.in);
      const auto bias = random_bias(rng, c.out, 1 << 16);
      const auto q = random_requant(rng, c.out, std::sqrt(double(c.in)) * 127 * 100, qz.input_zp, qz.output_zp,
                                    qz.act_min, qz.act_max);
      const auto expected = ref::fully_connected(input, weights, bias, c.out, q);
      const auto packed = pack_rows(weights, c.out, c.in, tn_fully_connected_row_length(c.in));
      tn_fully_connected_params p{c.in, c.out, packed.data(), bias.data(), to_kernel(q)};
      Scratch scratch(tn_fully_connected_scratch_bytes(c.in));
      std::vector<int8_t> out(expected.size(), 0);
      ASSERT_EQ(tn_fully_connected_s8(&p, input.data(), out.data(), scratch.get()), TN_OK);
      EXPECT_EQ(out, expected);
      EXPECT_TRUE(scratch.guard_intact());
    }
}

TEST(Kernels, AddMatchesReferenceAndRunsInPlace) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> mult(1 << 30, std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int> shift(-4, 0);
  for (const Quant& qz : kQuants)
    for (int trial = 0; trial < 8; ++trial) {
      // Input shifts -5..-1, or 0 (a multiplier of exactly 1/2: the input of the larger scale) for the
      // second input (trial 1), the first (3, 7) or both (5); output shifts -22..-18 (the DSP build's
      // fast path) on trials 0-5 and -25 (its general one) on 6-7.
      const bool first_zero = trial % 4 == 3 || trial == 5, second_zero = trial % 4 == 1 || trial == 5;
      ref::AddParams r{-qz.input_zp,      qz.output_zp == 127 ? 128 : -qz.output_zp,
                       20,                mult(rng),
                       first_zero ? 0 : shift(rng) - 1,
                       mult(rng),         second_zero ? 0 : shift(rng) - 1,
                       mult(rng),         trial < 6 ? -18 - trial % 5 : -25,
                       qz.output_zp,      qz.act_min,
                       qz.act_max};
      const size_t n = 1 + size_t(trial) * 19;
      const auto a = random_bytes(rng, n), b = random_bytes(rng, n);
      const auto expected = ref::add(a, b, r);
      tn_add_params p{int32_t(n),         r.input1_offset,    r.input2_offset, r.input1_multiplier,
                      r.input1_shift,     r.input2_multiplier, r.input2_shift, r.left_shift,
                      r.output_multiplier, r.output_shift,    r.output_offset, r.act_min,
                      r.act_max};
      std::vector<int8_t> out(n, 0);
      ASSERT_EQ(tn_add_s8(&p, a.data(), b.data(), out.data()), TN_OK);
      EXPECT_EQ(out, expected);
      std::vector<int8_t> in_place = b;
      ASSERT_EQ(tn_add_s8(&p, a.data(), in_place.data(), in_place.data()), TN_OK);
      EXPECT_EQ(in_place, expected);
    }
}

// With the exporter's shifts the output moves by one step per about 2^19 of the rescaled sum, so an
// error of one in an input's rounding would not show. Here one input is rescaled far down (shifts
// -18..-16) and the output barely (-3..-1), so that the outputs stay in range and that input's rounding
// reaches them: all 256 values of it, against zeros of shift 0 (the exporter's other input) as the
// first or the second operand, and against random values of a shift as far down.
TEST(Kernels, AddIsExactWhereEveryRoundingReachesTheOutput) {
  std::mt19937 rng(13);
  std::uniform_int_distribution<int32_t> mult(1 << 30, std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int> input_shift(-18, -16), output_shift(-3, -1);
  std::vector<int8_t> all(256);
  for (int v = 0; v < 256; ++v) all[size_t(v)] = int8_t(v - 128);
  int differing_from_truncation = 0;
  for (const Quant& qz : kQuants)
    for (int trial = 0; trial < 6; ++trial) {
      // trial % 3: 0 = zeros first, 1 = zeros second, 2 = random values of a far-down shift second.
      const bool zeros = trial % 3 != 2, zeros_first = trial % 3 == 0;
      const auto other = zeros ? std::vector<int8_t>(all.size(), 0) : random_bytes(rng, all.size());
      const std::vector<int8_t>& a = zeros_first ? other : all;
      const std::vector<int8_t>& b = zeros_first ? all : other;
      const int32_t other_offset = zeros ? 0 : -qz.input_zp, other_shift = zeros ? 0 : input_shift(rng);
      ref::AddParams r{zeros_first ? other_offset : -qz.input_zp,
                       zeros_first ? -qz.input_zp : other_offset,
                       20,
                       mult(rng),
                       zeros_first ? other_shift : input_shift(rng),
                       mult(rng),
                       zeros_first ? input_shift(rng) : other_shift,
                       mult(rng),
                       output_shift(rng),
                       qz.output_zp,
                       qz.act_min,
                       qz.act_max};
      const auto expected = ref::add(a, b, r);
      tn_add_params p{int32_t(all.size()), r.input1_offset,    r.input2_offset, r.input1_multiplier,
                      r.input1_shift,      r.input2_multiplier, r.input2_shift, r.left_shift,
                      r.output_multiplier, r.output_shift,     r.output_offset, r.act_min,
                      r.act_max};
      std::vector<int8_t> out(all.size(), 0);
      ASSERT_EQ(tn_add_s8(&p, a.data(), b.data(), out.data()), TN_OK);
      EXPECT_EQ(out, expected) << "trial " << trial;
      // The case is sensitive: rescaling the inputs with truncation instead of rounding changes outputs.
      for (size_t i = 0; i < all.size(); ++i) {
        auto truncated = [&](int8_t x, int32_t offset, int32_t multiplier, int32_t shift) {
          return int32_t((int64_t(offset + x) * (int64_t(1) << r.left_shift) * multiplier) >> (31 - shift));
        };
        const int32_t sum = truncated(a[i], r.input1_offset, r.input1_multiplier, r.input1_shift) +
                            truncated(b[i], r.input2_offset, r.input2_multiplier, r.input2_shift);
        const int32_t raw = ref::multiply_by_quantized_multiplier(sum, r.output_multiplier, r.output_shift) + r.output_offset;
        differing_from_truncation += int8_t(std::clamp(raw, r.act_min, r.act_max)) != expected[i];
      }
    }
  EXPECT_GT(differing_from_truncation, 100);

  // An input of shift 0 (multiplier exactly 1/2 of its real value's range) rescales to about 2^19 per
  // step, so its rounding shows only where the other input cancels it: b = -a, with multipliers that
  // nearly match (both shifts 0, or shift -1 against 0, which the DSP build takes in swapped order).
  std::vector<int8_t> negated(all.size());
  for (size_t i = 0; i < all.size(); ++i) negated[i] = int8_t(std::max(-127, -int(all[i])));
  std::uniform_int_distribution<int32_t> near(0, 1 << 10);
  for (int trial = 0; trial < 8; ++trial) {
    const bool halves = trial % 2 == 0;
    const int32_t m2 = (1 << 30) + near(rng);
    const int32_t m1 = halves ? m2 + near(rng) - (1 << 9) : std::numeric_limits<int32_t>::max() - near(rng);
    ref::AddParams r{0, 0, 20, m1, halves ? 0 : -1, m2, 0, mult(rng), -1, 0, -128, 127};
    const auto expected = ref::add(all, negated, r);
    tn_add_params p{int32_t(all.size()), 0, 0, r.input1_multiplier, r.input1_shift, r.input2_multiplier, 0, 20,
                    r.output_multiplier, -1, 0, -128, 127};
    std::vector<int8_t> out(all.size(), 0);
    ASSERT_EQ(tn_add_s8(&p, all.data(), negated.data(), out.data()), TN_OK);
    EXPECT_EQ(out, expected) << "trial " << trial;
    int saturated = 0;
    for (int8_t v : expected) saturated += v == -128 || v == 127;
    EXPECT_LT(saturated, 200) << "trial " << trial;
  }
}

TEST(Kernels, MulMatchesReferenceBroadcastsPerChannelAndRunsInPlace) {
  std::mt19937 rng(12);
  std::uniform_int_distribution<int32_t> mult(1 << 30, std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int> shift(-12, 2);
  for (const Quant& qz : kQuants)
    for (int trial = 0; trial < 4; ++trial)
      for (const bool broadcast : {false, true}) {
        const int channels = 1 + trial * 5, pixels = 1 + trial * 3;
        ref::MulParams r{-qz.input_zp, 3 - trial, mult(rng), shift(rng), qz.output_zp, qz.act_min, qz.act_max};
        const auto a = random_bytes(rng, size_t(pixels * channels));
        const auto b = random_bytes(rng, size_t(broadcast ? channels : pixels * channels));
        const auto expected = ref::mul(a, b, channels, r);
        tn_mul_params p{pixels, channels, broadcast ? 1 : 0, r.input1_offset, r.input2_offset, r.output_multiplier,
                        r.output_shift, r.output_offset, r.act_min, r.act_max};
        std::vector<int8_t> out(a.size(), 0);
        ASSERT_EQ(tn_mul_s8(&p, a.data(), b.data(), out.data()), TN_OK);
        EXPECT_EQ(out, expected);
        std::vector<int8_t> in_place = a;
        ASSERT_EQ(tn_mul_s8(&p, in_place.data(), b.data(), in_place.data()), TN_OK);
        EXPECT_EQ(in_place, expected);
      }
  tn_mul_params bad{1, 1, 0, 0, 0, 1 << 30, 15, 0, -128, 127};  // a left shift that could overflow
  int8_t x = 1;
  EXPECT_EQ(tn_mul_s8(&bad, &x, &x, &x), TN_ERROR_ARGUMENT);
}

TEST(Kernels, LookupReadsTheTableAtInputPlus128InPlace) {
  std::mt19937 rng(13);
  const auto table = random_bytes(rng, 256);
  std::vector<int8_t> x(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = int8_t(int(i % 256) - 128);
  const tn_lookup_params p{int32_t(x.size()), table.data()};
  std::vector<int8_t> out(x.size());
  ASSERT_EQ(tn_lookup_s8(&p, x.data(), out.data()), TN_OK);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(out[i], table[size_t(x[i] + 128)]);
  ASSERT_EQ(tn_lookup_s8(&p, x.data(), x.data()), TN_OK);
  EXPECT_EQ(x, out);
}

TEST(Kernels, PoolingMatchesReference) {
  struct Case {
    int in_h, in_w, c;
    ref::Window win;
    int pad_h_after, pad_w_after;
  };
  const Case cases[] = {
      {4, 4, 3, {2, 2, 2, 2, 1, 1, 0, 0}, 0, 0}, {5, 5, 2, {3, 3, 1, 1, 1, 1, 1, 1}, 1, 1},
      {7, 6, 5, {3, 3, 2, 2, 1, 1, 1, 1}, 1, 0}, {1, 1, 4, {3, 3, 1, 1, 1, 1, 1, 1}, 1, 1},
      {6, 6, 1, {5, 5, 3, 3, 1, 1, 2, 2}, 1, 1},
      {9, 7, 3, {3, 2, 2, 1, 1, 1, 1, 0}, 1, 1},  // non-square window and strides
      {9, 9, 2, {3, 3, 1, 2, 2, 2, 2, 2}, 2, 2},  // dilation 2 (ONNX's MaxPool)
      {8, 10, 3, {2, 3, 1, 1, 3, 2, 1, 2}, 2, 2},
  };
  std::mt19937 rng(3);
  for (const Case& c : cases)
    for (const bool average : {true, false})
      for (const Quant& qz : kQuants) {
        const ref::Window& win = c.win;
        const int out_h = out_size(c.in_h, (win.kernel_h - 1) * win.dilation_h + 1, win.stride_h, win.pad_h, c.pad_h_after);
        const int out_w = out_size(c.in_w, (win.kernel_w - 1) * win.dilation_w + 1, win.stride_w, win.pad_w, c.pad_w_after);
        const auto input = random_bytes(rng, size_t(c.in_h) * c.in_w * c.c);
        const auto expected =
            ref::pool(input, c.in_h, c.in_w, c.c, win, out_h, out_w, average, qz.act_min, qz.act_max);
        tn_pool_params p{c.in_h, c.in_w, c.c, out_h, out_w,
                         {win.kernel_h, win.kernel_w, win.stride_h, win.stride_w, win.dilation_h, win.dilation_w, win.pad_h, win.pad_w},
                         qz.act_min, qz.act_max};
        std::vector<int8_t> out(expected.size(), 0);
        ASSERT_EQ(average ? tn_avg_pool_s8(&p, input.data(), out.data()) : tn_max_pool_s8(&p, input.data(), out.data()),
                  TN_OK);
        EXPECT_EQ(out, expected);
      }
  // Global average pooling is the pool whose window is the whole input.
  for (const int size : {1, 2, 5, 7, 20}) {
    const auto input = random_bytes(rng, size_t(size) * size * 6);
    const auto expected = ref::pool(input, size, size, 6, ref::square_window(size, 1, 0, 0), 1, 1, true, -128, 127);
    tn_pool_params p{size, size, 6, 1, 1, {size, size, 1, 1, 1, 1, 0, 0}, -128, 127};
    std::vector<int8_t> out(6, 0);
    ASSERT_EQ(tn_global_avg_pool_s8(&p, input.data(), out.data()), TN_OK);
    EXPECT_EQ(out, expected) << size;
  }
}

// Runs a kernel that may write over its input both ways; each must give `expected`.
template <typename Run>
void expect_out_of_place_and_in_place(const std::vector<int8_t>& input, const std::vector<int8_t>& expected, Run run) {
  std::vector<int8_t> out(input.size(), 0);
  ASSERT_EQ(run(input.data(), out.data()), TN_OK);
  EXPECT_EQ(out, expected);
  std::vector<int8_t> in_place = input;
  ASSERT_EQ(run(in_place.data(), in_place.data()), TN_OK);
  EXPECT_EQ(in_place, expected);
}

// TF-Lite's int8 softmax: bit for bit against the reference, and within one output step (1/256) of
// the float softmax, for input scales from 1/1000 to 1 and rows of 1 to 4095 values.
TEST(Kernels, SoftmaxMatchesTfLiteReferenceAndFloatWithinOneStep) {
  std::mt19937 rng(11);
  for (const double input_scale : {0.001, 0.02, 0.0625, 0.1, 0.37, 1.0})
    for (const int row_size : {1, 2, 10, 100, 1000, 4095}) {
      SCOPED_TRACE("scale " + std::to_string(input_scale) + ", rows of " + std::to_string(row_size));
      // TF-Lite's Prepare: beta * input scale * 2^26 as a Q31 multiplier and a left shift; diff_min
      // from CalculateInputRadius(5 integer bits, the left shift).
      int left_shift = 0;
      const double q = std::frexp(input_scale * double(1 << 26), &left_shift);
      const auto multiplier = int32_t(std::llround(q * double(int64_t(1) << 31)));
      const int32_t diff_min = -int32_t(std::floor(31.0 * double(1 << 26) / double(int64_t(1) << left_shift)));
      const int rows = 3;
      auto input = random_bytes(rng, size_t(rows) * size_t(row_size));
      if (row_size > 2) input[1] = input[2];  // ties for the maximum
      const auto expected = ref::softmax(input, row_size, {multiplier, left_shift, diff_min});
      const tn_softmax_params p{rows, row_size, multiplier, left_shift, diff_min};
      expect_out_of_place_and_in_place(input, expected, [&](const int8_t* x, int8_t* y) { return tn_softmax_s8(&p, x, y); });
      double worst = 0.0;
      for (int r = 0; r < rows; ++r) {
        const int8_t* x = &input[size_t(r) * size_t(row_size)];
        const int max = *std::max_element(x, x + row_size);
        double sum = 0.0;
        for (int i = 0; i < row_size; ++i) sum += std::exp(input_scale * (x[i] - max));
        for (int i = 0; i < row_size; ++i) {
          const double probability = std::exp(input_scale * (x[i] - max)) / sum;
          const double got = (expected[size_t(r) * size_t(row_size) + size_t(i)] + 128) / 256.0;
          worst = std::max(worst, std::abs(got - probability));
        }
      }
      EXPECT_LE(worst, 1.0 / 256.0);
    }
}

// PRelu with a slope per channel: zero points at the limits, multipliers below and above one, narrow clamps.
TEST(Kernels, PreluMatchesReferenceAndRunsInPlace) {
  std::mt19937 rng(31);
  std::uniform_int_distribution<int32_t> mult(1 << 30, std::numeric_limits<int32_t>::max());
  for (const Quant& qz : kQuants)
    for (const int channels : {1, 3, 16}) {
      const int pixels = 7;
      const auto input = random_bytes(rng, size_t(pixels) * size_t(channels));
      const auto slopes = random_weights(rng, size_t(channels));
      const ref::PreluParams r{-qz.input_zp, mult(rng), 1, mult(rng), -6, qz.output_zp, qz.act_min, qz.act_max};
      const auto expected = ref::prelu(input, slopes, r);
      const tn_prelu_params p{pixels,  channels, slopes.data(), r.input_offset, r.positive_multiplier, r.positive_shift,
                              r.negative_multiplier, r.negative_shift, r.output_offset, r.act_min, r.act_max};
      expect_out_of_place_and_in_place(input, expected, [&](const int8_t* x, int8_t* y) { return tn_prelu_s8(&p, x, y); });
    }
}

// Concat, Split / Slice and channel shuffles as channel maps: copies, and requantization tables.
TEST(Kernels, ChannelMapMatchesReference) {
  struct Case {
    const char* what;
    int pixels, a_c, b_c;
    std::vector<int> map;
    bool table_a, table_b;
  };
  std::vector<int> shuffle(24);  // two groups of 12
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 12; ++j) shuffle[size_t(j * 2 + i)] = i * 12 + j;
  const Case cases[] = {
      {"concat", 9, 5, 3, {0, 1, 2, 3, 4, 5, 6, 7}, false, false},
      {"concat, both requantized", 4, 4, 4, {0, 1, 2, 3, 4, 5, 6, 7}, true, true},
      {"concat, the second requantized", 7, 2, 6, {0, 1, 2, 3, 4, 5, 6, 7}, false, true},
      {"split, second half", 6, 10, 0, {5, 6, 7, 8, 9}, false, false},
      {"slice with step 3", 5, 10, 0, {1, 4, 7}, true, false},
      {"shuffle", 8, 24, 0, shuffle, false, false},
      {"interleave two inputs", 3, 4, 4, {0, 4, 1, 5, 2, 6, 3, 7}, true, false},
  };
  std::mt19937 rng(21);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const auto a = random_bytes(rng, size_t(c.pixels) * size_t(c.a_c));
    const auto b = random_bytes(rng, size_t(c.pixels) * size_t(c.b_c));
    const auto table_a = c.table_a ? random_bytes(rng, 256) : std::vector<int8_t>{};
    const auto table_b = c.table_b ? random_bytes(rng, 256) : std::vector<int8_t>{};
    const auto expected = ref::channel_map(a, c.a_c, b, c.b_c, c.map, table_a, table_b);
    const std::vector<uint16_t> map(c.map.begin(), c.map.end());
    const tn_channel_map_params p{c.pixels, c.a_c, c.b_c, int32_t(map.size()), map.data(),
                                  table_a.empty() ? nullptr : table_a.data(), table_b.empty() ? nullptr : table_b.data()};
    std::vector<int8_t> out(expected.size(), 0);
    ASSERT_EQ(tn_channel_map_s8(&p, a.data(), c.b_c ? b.data() : nullptr, out.data()), TN_OK);
    EXPECT_EQ(out, expected);
  }
  const std::vector<uint16_t> beyond{0, 4};
  const std::vector<int8_t> x(8);
  std::vector<int8_t> y(8);
  const tn_channel_map_params out_of_range{2, 2, 2, 2, beyond.data(), nullptr, nullptr};
  EXPECT_EQ(tn_channel_map_s8(&out_of_range, x.data(), x.data(), y.data()), TN_ERROR_ARGUMENT);
  const tn_channel_map_params no_second{2, 2, 2, 2, beyond.data(), nullptr, nullptr};
  EXPECT_EQ(tn_channel_map_s8(&no_second, x.data(), nullptr, y.data()), TN_ERROR_ARGUMENT);
}

// Nearest-neighbour resizing: upsampling by 2, a non-integer factor, downsampling, one axis only, one
// channel and a row of many channels.
TEST(Kernels, ResizeNearestMatchesReference) {
  struct Case {
    const char* what;
    int in_h, in_w, c;
    std::vector<int> rows, cols;
  };
  const Case cases[] = {
      {"2x upsampling", 3, 4, 5, {0, 0, 1, 1, 2, 2}, {0, 0, 1, 1, 2, 2, 3, 3}},
      {"3 -> 5 rows, 4 -> 7 columns", 3, 4, 3, {0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2, 3}},
      {"downsampling", 6, 6, 2, {1, 3, 5}, {0, 2, 4}},
      {"columns only", 2, 3, 17, {0, 1}, {2, 1, 0, 0}},
      {"one channel, one pixel to many", 1, 1, 1, {0, 0, 0}, {0, 0}},
  };
  std::mt19937 rng(23);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const auto x = random_bytes(rng, size_t(c.in_h) * size_t(c.in_w) * size_t(c.c));
    const auto expected = ref::resize_nearest(x, c.in_w, c.c, c.rows, c.cols);
    const std::vector<uint16_t> rows(c.rows.begin(), c.rows.end()), cols(c.cols.begin(), c.cols.end());
    const tn_resize_params p{c.in_h, c.in_w, c.c, int32_t(rows.size()), int32_t(cols.size()), rows.data(), cols.data()};
    std::vector<int8_t> out(expected.size(), 0);
    ASSERT_EQ(tn_resize_nearest_s8(&p, x.data(), out.data()), TN_OK);
    EXPECT_EQ(out, expected);
  }
  const std::vector<uint16_t> rows{0, 2}, cols{0, 1};
  const std::vector<int8_t> x(8);
  std::vector<int8_t> y(8);
  const tn_resize_params row_out_of_range{2, 2, 2, 2, 2, rows.data(), cols.data()};
  EXPECT_EQ(tn_resize_nearest_s8(&row_out_of_range, x.data(), y.data()), TN_ERROR_ARGUMENT);
  const tn_resize_params column_out_of_range{2, 2, 2, 2, 2, cols.data(), rows.data()};
  EXPECT_EQ(tn_resize_nearest_s8(&column_out_of_range, x.data(), y.data()), TN_ERROR_ARGUMENT);
}

TEST(Kernels, RequantizationMatchesTfLiteOnEdgeValues) {
  // Exact ties, negative values, the largest shifts and multipliers: a 1x1 conv with one input
  // channel and weight 1 passes the accumulator (bias + input) straight to the requantization.
  std::mt19937 rng(17);
  const int32_t multipliers[] = {1 << 30, (1 << 30) + 1, 1518500250, std::numeric_limits<int32_t>::max()};
  const int32_t shifts[] = {-31, -20, -8, -1, 0, 1, 2};
  for (const int32_t m : multipliers)
    for (const int32_t s : shifts) {
      const int n = 64;
      std::vector<int8_t> input(static_cast<size_t>(n));
      std::vector<int32_t> bias(1);
      for (int trial = 0; trial < 8; ++trial) {
        // Accumulators at exact halves of the final step, and random ones, both signs.
        std::uniform_int_distribution<int32_t> big(-(1 << 26), 1 << 26);
        bias[0] = trial < 4 ? (trial % 2 ? -1 : 1) * (int32_t(1) << std::min(29, std::max(0, -s) + trial)) : big(rng);
        if (s > 0) bias[0] >>= s + 1;  // keep |acc| * 2^(shift + 1) < 2^31
        for (int i = 0; i < n; ++i) input[size_t(i)] = int8_t(i - 32);
        const std::vector<int8_t> w = {1};
        ref::Requant q;
        q.multiplier = {m};
        q.shift = {s};
        const auto expected = ref::conv(input, 1, n, 1, w, bias, 1, ref::square_window(1, 1, 0, 0), 1, 1, n, q);
        const auto packed = pack_rows(w, 1, 1, 4);
        tn_conv_params p{1, n, 1, 1, n, 1, {1, 1, 1, 1, 1, 1, 0, 0}, 1, packed.data(), bias.data(), to_kernel(q)};
        Scratch scratch(tn_pointwise_scratch_bytes(1));
        std::vector<int8_t> out(static_cast<size_t>(n));
        ASSERT_EQ(tn_pointwise_conv_s8(&p, input.data(), out.data(), scratch.get()), TN_OK);
        EXPECT_EQ(out, expected) << "multiplier " << m << " shift " << s << " bias " << bias[0];
        // The same accumulators through the 3x3 depthwise path (its own requantization code): a
        // kernel whose centre tap is 1 passes bias + input on.
        const std::vector<int8_t> centre = {0, 0, 0, 0, 1, 0, 0, 0, 0};
        tn_depthwise_params dw{1, n, 1, 1, n, 3, 1, 1, 1, centre.data(), bias.data(), to_kernel(q)};
        Scratch dw_scratch(tn_depthwise_scratch_bytes(1, n, 1, 1, 3, 1, 1, n));
        std::vector<int8_t> dw_out(static_cast<size_t>(n));
        ASSERT_EQ(tn_depthwise_conv_s8(&dw, input.data(), dw_out.data(), dw_scratch.get()), TN_OK);
        EXPECT_EQ(dw_out, expected) << "depthwise: multiplier " << m << " shift " << s << " bias " << bias[0];
      }
    }
}

TEST(Kernels, FastRequantizationEqualsTfLiteOnEveryAccumulatorNearZero) {
#if defined(TN_DSP)
  // The DSP path's requantization (SMMULR, and SMMLAR with the rounding constant and zero point folded
  // in) against the reference for every accumulator in [-4096, 4096], where the products round to
  // zero or one and the sign terms matter, and for large ones.
  std::mt19937 rng(23);
  std::uniform_int_distribution<int32_t> large(-(1 << 22), 1 << 22);
  const int32_t multipliers[] = {1 << 30, (1 << 30) + 1, 1518500250, 2100000000, std::numeric_limits<int32_t>::max()};
  for (const int32_t m : multipliers)
    for (int32_t shift = -24; shift <= 2; ++shift)
      for (const int32_t offset : {-128, -1, 0, 5, 127}) {
        const tn_fast_requant r = tn_fast_requant_init(m, shift);
        const bool folds = tn_fast_requant_folds(&r);
        const int32_t folded = folds ? tn_fast_requant_folded_constant(&r, offset) : 0;
        std::vector<int32_t> accs;
        for (int32_t a = -4096; a <= 4096; ++a) accs.push_back(a);
        for (int i = 0; i < 2000; ++i) accs.push_back(large(rng) >> std::max(0, shift));
        for (const int32_t acc : accs) {
          const int32_t expected = ref::multiply_by_quantized_multiplier(acc, m, shift) + offset;
          ASSERT_EQ(tn_fast_requantize(acc, &r) + offset, expected) << m << " " << shift << " " << acc;
          if (folds) {
            ASSERT_EQ(tn_fast_requantize_folded(acc, &r, folded), expected) << m << " " << shift << " " << acc;
          }
        }
      }
#else
  GTEST_SKIP() << "the fast requantization is part of the DSP path";
#endif
}

TEST(Kernels, RejectInvalidArguments) {
  const std::vector<int8_t> w(16, 1), in(64, 0);
  const std::vector<int32_t> bias(4, 0), mult(4, 1 << 30), shift(4, 0);
  std::vector<int8_t> out(64);
  Scratch scratch(1024);
  const tn_requant_params q{mult.data(), shift.data(), 0, 0, -128, 127};
  tn_conv_params conv{4, 4, 1, 4, 4, 4, {1, 1, 1, 1, 1, 1, 0, 0}, 1, w.data(), bias.data(), q};
  EXPECT_EQ(tn_conv2d_s8(&conv, in.data(), out.data(), nullptr), TN_ERROR_ARGUMENT);
  tn_conv_params bad = conv;
  bad.window.stride_w = 0;
  EXPECT_EQ(tn_conv2d_s8(&bad, in.data(), out.data(), scratch.get()), TN_ERROR_ARGUMENT);
  bad = conv;
  bad.window.dilation_h = 0;
  EXPECT_EQ(tn_conv2d_s8(&bad, in.data(), out.data(), scratch.get()), TN_ERROR_ARGUMENT);
  bad = conv;
  bad.groups = 3;  // does not divide the 4 output channels
  EXPECT_EQ(tn_conv2d_s8(&bad, in.data(), out.data(), scratch.get()), TN_ERROR_ARGUMENT);
  bad = conv;
  bad.groups = 0;
  EXPECT_EQ(tn_conv2d_s8(&bad, in.data(), out.data(), scratch.get()), TN_ERROR_ARGUMENT);
  bad = conv;
  bad.q.act_min = 10;
  bad.q.act_max = 5;
  EXPECT_EQ(tn_pointwise_conv_s8(&bad, in.data(), out.data(), scratch.get()), TN_ERROR_ARGUMENT);
  bad = conv;
  bad.window.kernel_h = 3;  // not a pointwise layer
  EXPECT_EQ(tn_pointwise_conv_s8(&bad, in.data(), out.data(), scratch.get()), TN_ERROR_ARGUMENT);
  tn_depthwise_params dw{2, 2, 4, 4, 4, 3, 1, 1, 1, w.data(), bias.data(), q};
  std::vector<int8_t> buffer(64);
  // In place with more output than input elements.
  EXPECT_EQ(tn_depthwise_conv_s8(&dw, buffer.data(), buffer.data(), scratch.get()), TN_ERROR_ARGUMENT);
  for (const tn_softmax_params& softmax : {tn_softmax_params{1, 0, 1 << 30, 20, -100}, tn_softmax_params{1, 4096, 1 << 30, 20, -100},
                                          tn_softmax_params{1, 4, 1 << 30, 31, -100}, tn_softmax_params{1, 4, 1 << 30, 20, 1}})
    EXPECT_EQ(tn_softmax_s8(&softmax, in.data(), out.data()), TN_ERROR_ARGUMENT);
  tn_pool_params pool{4, 4, 1, 1, 1, {4, 4, 1, 1, 1, 1, 0, 0}, -128, 127};
  pool.out_h = 2;
  EXPECT_EQ(tn_global_avg_pool_s8(&pool, in.data(), out.data()), TN_ERROR_ARGUMENT);
}
