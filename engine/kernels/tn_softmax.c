/* Softmax with TF-Lite's int8 arithmetic (its reference integer kernel, on gemmlowp's fixed point):
 * per row, the differences to the row's maximum are scaled to a fixed-point number with 5 integer
 * bits, exponentiated with gemmlowp's exp_on_negative_values, summed with 12 integer bits, and each
 * exponential is multiplied by the reciprocal of the sum. Differences below diff_min (whose
 * exponential is below the output's resolution) are left out. The output has scale 1/256 and zero
 * point -128, as TF-Lite requires of int8 softmax.
 *
 * Fixed-point numbers are int32 raw values with a stated number of integer bits (Qm.(31 - m)). */
#include "tn_arith.h"
#include "tn_kernels.h"

/* gemmlowp's SaturatingRoundingDoublingHighMul for operands of any sign: round(a * b / 2^31), ties
 * away from zero; the one overflowing case saturates. */
static int32_t tn_saturating_high_mul(int32_t a, int32_t b) {
  int64_t ab;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * b;
  return (int32_t)((ab + (ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30))) / ((int64_t)1 << 31));
}

/* x * 2^exponent for exponent > 0, saturating (gemmlowp's SaturatingRoundingMultiplyByPOT). */
static int32_t tn_saturating_shift_left(int32_t x, int32_t exponent) {
  const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), a and the result in Q0.31: a Taylor series of degree 4 around -1/8. */
static int32_t tn_exp_on_quarter_interval(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) */
  const int32_t one_third = 715827883;
  const int32_t x = a + (1 << 28); /* a + 1/8 */
  const int32_t x2 = tn_saturating_high_mul(x, x);
  const int32_t x3 = tn_saturating_high_mul(x2, x);
  const int32_t x4 = tn_saturating_high_mul(x2, x2);
  const int32_t x4_over_4 = tn_rounding_divide_by_pot(x4, 2);
  const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 =
      tn_rounding_divide_by_pot(tn_saturating_high_mul(x4_over_4 + x3, one_third) + x2, 1);
  return exp_minus_one_eighth + tn_saturating_high_mul(exp_minus_one_eighth, x + x4_over_24_plus_x3_over_6_plus_x2_over_2);
}

/* exp(a) for a <= 0 in Q5.26, the result in Q0.31: exp of a's remainder modulo 1/4 from the
 * series, times exp(-2^k) for every bit k (-2..4) of the rest. */
static int32_t tn_exp_on_negative_values(int32_t a) {
  static const int32_t exp_minus_two_to_the[7] = {
      1672461947, /* exp(-1/4) */
      1302514674, /* exp(-1/2) */
      790015084,  /* exp(-1) */
      290630308,  /* exp(-2) */
      39332535,   /* exp(-4) */
      720401,     /* exp(-8) */
      242,        /* exp(-16) */
  };
  const int32_t one_quarter = 1 << 24;
  const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
  int32_t result = tn_exp_on_quarter_interval(tn_saturating_shift_left(a_mod_quarter_minus_one_quarter, 5));
  int32_t k;
  for (k = 0; k < 7; ++k)
    if (remainder & ((int32_t)1 << (24 + k))) result = tn_saturating_high_mul(result, exp_minus_two_to_the[k]);
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), x in Q0.31, the result in Q0.31: three Newton-Raphson steps on the
 * half denominator from the initial guess 48/17 - 32/17 d. */
static int32_t tn_one_over_one_plus_x(int32_t x) {
  const int64_t sum = (int64_t)x + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t q2_48_over_17 = 1515870810, q2_minus_32_over_17 = -1010580540, q2_one = 1 << 29;
  int32_t r = q2_48_over_17 + tn_saturating_high_mul(half_denominator, q2_minus_32_over_17); /* Q2.29 */
  int32_t i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus_half_denominator_times_r = q2_one - tn_saturating_high_mul(half_denominator, r);
    r = r + tn_saturating_shift_left(tn_saturating_high_mul(r, one_minus_half_denominator_times_r), 2);
  }
  return tn_saturating_shift_left(r, 1); /* r / 2 in Q1.30, read as Q0.31 */
}

TN_INLINE int32_t tn_count_leading_zeros(uint32_t x) {
  int32_t n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

/* A difference to the row's maximum (>= diff_min) in Q5.26: difference * beta * input scale. */
TN_INLINE int32_t tn_scaled_difference(const tn_softmax_params* p, int32_t difference) {
  return tn_saturating_high_mul(difference * (1 << p->input_left_shift), p->input_multiplier);
}

tn_status tn_softmax_s8(const tn_softmax_params* p, const int8_t* input, int8_t* output) {
  int32_t row;
  /* Up to 4095 values per row: the sum of their exponentials (each at most 2^19) stays below 2^31. */
  if (!p || !input || !output || p->rows <= 0 || p->row_size <= 0 || p->row_size > 4095 ||
      p->input_multiplier < 0 || p->input_left_shift < 0 || p->input_left_shift > 30 || p->diff_min > 0)
    return TN_ERROR_ARGUMENT;
  for (row = 0; row < p->rows; ++row) {
    const int8_t* x = input + row * p->row_size;
    int8_t* y = output + row * p->row_size;
    int32_t max = -128, sum = 0, headroom, output_shift, reciprocal, i;
    for (i = 0; i < p->row_size; ++i)
      if (x[i] > max) max = x[i];
    for (i = 0; i < p->row_size; ++i) {
      const int32_t difference = x[i] - max;
      if (difference >= p->diff_min) /* Q12.19 */
        sum += tn_rounding_divide_by_pot(tn_exp_on_negative_values(tn_scaled_difference(p, difference)), 12);
    }
    /* sum = 2^(12 - headroom) (1 + f), f in [0, 1): the reciprocal of 1 + f, and the shift that
     * turns probability * 2^31 into steps of 1/256. */
    headroom = tn_count_leading_zeros((uint32_t)sum);
    output_shift = 12 - headroom + 31 - 8;
    reciprocal = tn_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
    for (i = 0; i < p->row_size; ++i) {
      const int32_t difference = x[i] - max;
      int32_t v = -128;
      /* Beyond a shift of 31 every probability (below 2^31 / 2^32) rounds to 0. */
      if (difference >= p->diff_min && output_shift <= 31) {
        const int32_t e = tn_exp_on_negative_values(tn_scaled_difference(p, difference));
        v = tn_rounding_divide_by_pot(tn_saturating_high_mul(reciprocal, e), output_shift) - 128;
      }
      y[i] = (int8_t)tn_clamp(v, -128, 127);
    }
  }
  return TN_OK;
}
