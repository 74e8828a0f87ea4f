/* Element-wise add, multiply and PRelu with TF-Lite's int8 arithmetic, and table lookup. */
#include "tn_arith.h"
#include "tn_kernels.h"

#if defined(TN_DSP)
/* An input rescaled as tn_fast_requantize does, with t = (x + offset) * 2^21 (|t| < 2^29). With an
 * exponent e >= 1, (SMMLAR(t, m, 2^(e-1)) + (t >> 31)) >> e: SMMLAR adds the rounding constant, and
 * the sign term may come from t instead of the product (they differ only when the product is 0, where
 * both give 0). With e = 0 (a real multiplier of exactly 1/2, the input of the larger scale) it is
 * SMMULR alone. `rounds` (e >= 1) is a constant at each call. */
TN_INLINE int32_t add_rescaled(int32_t t, int32_t multiplier, int32_t half, int32_t exponent, int rounds) {
  return rounds ? (tn_smmlar(t, multiplier, half) + (t >> 31)) >> exponent : tn_smmulr(t, multiplier);
}

/* The DSP path for what the exporter writes: TF-Lite's left shift of 20, input shifts of at most 0 with
 * one of them 0 (the input of the larger scale has a real multiplier of exactly 1/2), an output exponent
 * of 1..22 and no clamp inside the int8 range (an add without activation). Every parameter is a local,
 * so that the int8 stores, which may alias any object, do not make the loop reload them. The sum
 * (|sum| < 2^29) takes the folded output requantization (tn_fast_requantize_folded_shifted). Input 1
 * is the one of shift 0; rounds2 (input 2's exponent >= 1) is a constant at each call. */
TN_INLINE void add_s8_dsp(const tn_add_params* p, const int8_t* input1, const int8_t* input2, int8_t* output,
                          int rounds2) {
  const int32_t size = p->size;
  const int32_t offset1 = (int32_t)((uint32_t)p->input1_offset << 21);
  const int32_t offset2 = (int32_t)((uint32_t)p->input2_offset << 21);
  const int32_t multiplier1 = p->input1_multiplier, multiplier2 = p->input2_multiplier;
  const int32_t exponent2 = -p->input2_shift;
  const int32_t half2 = (int32_t)((1u << exponent2) >> 1);
  const tn_fast_requant out = tn_fast_requant_init(p->output_multiplier, p->output_shift);
  const int32_t output_multiplier = out.multiplier, output_exponent = out.exponent;
  const int32_t folded = tn_fast_requant_folded_constant(&out, p->output_offset);
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t t1 = offset1 + (int32_t)((uint32_t)input1[i] << 21);
    const int32_t t2 = offset2 + (int32_t)((uint32_t)input2[i] << 21);
    const int32_t sum = add_rescaled(t1, multiplier1, 0, 0, 0) + add_rescaled(t2, multiplier2, half2, exponent2, rounds2);
    output[i] = (int8_t)tn_ssat8(tn_fast_requantize_folded_shifted((int32_t)((uint32_t)sum << 1), output_multiplier,
                                                                   folded, output_exponent));
  }
}

/* Whether add_s8_dsp computes this add. */
static int add_s8_dsp_applies(const tn_add_params* p) {
  return p->left_shift == 20 && (p->input1_shift == 0 || p->input2_shift == 0) && p->output_shift <= -1 &&
         p->output_shift >= -22 && p->act_min == -128 && p->act_max == 127;
}

/* Dispatches to the instance of add_s8_dsp for input 2's shift. The sum is symmetric in the inputs, so
 * the input of shift 0 is taken first. */
static void add_s8_fast(const tn_add_params* p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  tn_add_params swapped;
  if (p->input1_shift != 0) {
    const int8_t* first = input2;
    swapped = *p;
    swapped.input1_offset = p->input2_offset;
    swapped.input1_multiplier = p->input2_multiplier;
    swapped.input1_shift = p->input2_shift;
    swapped.input2_offset = p->input1_offset;
    swapped.input2_multiplier = p->input1_multiplier;
    swapped.input2_shift = p->input1_shift;
    input2 = input1;
    input1 = first;
    p = &swapped;
  }
  if (p->input2_shift != 0) add_s8_dsp(p, input1, input2, output, 1);
  else add_s8_dsp(p, input1, input2, output, 0);
}
#endif

tn_status tn_add_s8(const tn_add_params* p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  int32_t i;
  if (!p || !input1 || !input2 || !output || p->size < 0 || p->left_shift < 0 || p->left_shift > 20 ||
      p->input1_shift > 0 || p->input2_shift > 0 || p->output_shift > 0 || p->act_min > p->act_max ||
      p->act_min < -128 || p->act_max > 127)
    return TN_ERROR_ARGUMENT;
#if defined(TN_DSP)
  if (add_s8_dsp_applies(p)) {
    add_s8_fast(p, input1, input2, output);
    return TN_OK;
  }
#endif
  {
#if defined(TN_DSP)
    /* Inputs shifted left by at most 20 stay below 2^29 in magnitude, inside the fast path's bound. */
    const tn_fast_requant r1 = tn_fast_requant_init(p->input1_multiplier, p->input1_shift);
    const tn_fast_requant r2 = tn_fast_requant_init(p->input2_multiplier, p->input2_shift);
    const tn_fast_requant ro = tn_fast_requant_init(p->output_multiplier, p->output_shift);
#endif
    for (i = 0; i < p->size; ++i) {
      const int32_t x1 = (int32_t)((uint32_t)(input1[i] + p->input1_offset) << p->left_shift);
      const int32_t x2 = (int32_t)((uint32_t)(input2[i] + p->input2_offset) << p->left_shift);
#if defined(TN_DSP)
      const int32_t sum = tn_fast_requantize(x1, &r1) + tn_fast_requantize(x2, &r2);
      const int32_t out = tn_fast_requantize(sum, &ro) + p->output_offset;
#else
      const int32_t sum = tn_requantize(x1, p->input1_multiplier, p->input1_shift) +
                          tn_requantize(x2, p->input2_multiplier, p->input2_shift);
      const int32_t out = tn_requantize(sum, p->output_multiplier, p->output_shift) + p->output_offset;
#endif
      output[i] = (int8_t)tn_clamp(out, p->act_min, p->act_max);
    }
  }
  return TN_OK;
}

tn_status tn_mul_s8(const tn_mul_params* p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  int32_t px, c;
  /* |(input1 + offset1) * (input2 + offset2)| <= 2^16: a left shift up to 14 stays inside int32. */
  if (!p || !input1 || !input2 || !output || p->pixels < 0 || p->channels < 0 || p->output_shift > 14 ||
      p->output_shift < -31 || p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127 ||
      p->input1_offset < -127 || p->input1_offset > 128 || p->input2_offset < -127 || p->input2_offset > 128)
    return TN_ERROR_ARGUMENT;
  for (px = 0; px < p->pixels; ++px) {
    const int8_t* x1 = input1 + px * p->channels;
    const int8_t* x2 = p->broadcast ? input2 : input2 + px * p->channels;
    int8_t* y = output + px * p->channels;
    for (c = 0; c < p->channels; ++c) {
      const int32_t product = (x1[c] + p->input1_offset) * (x2[c] + p->input2_offset);
      const int32_t out = tn_requantize(product, p->output_multiplier, p->output_shift) + p->output_offset;
      y[c] = (int8_t)tn_clamp(out, p->act_min, p->act_max);
    }
  }
  return TN_OK;
}

tn_status tn_lookup_s8(const tn_lookup_params* p, const int8_t* input, int8_t* output) {
  int32_t i;
  if (!p || !p->table || !input || !output || p->size < 0) return TN_ERROR_ARGUMENT;
  for (i = 0; i < p->size; ++i) output[i] = p->table[input[i] + 128];
  return TN_OK;
}

tn_status tn_prelu_s8(const tn_prelu_params* p, const int8_t* input, int8_t* output) {
  int32_t px, c;
  /* |input + offset| <= 255 and |slope| <= 127: a left shift up to 14 stays inside int32. */
  if (!p || !p->slopes || !input || !output || p->pixels < 0 || p->channels < 0 || p->positive_shift > 14 ||
      p->negative_shift > 14 || p->positive_shift < -31 || p->negative_shift < -31 || p->act_min > p->act_max ||
      p->act_min < -128 || p->act_max > 127 || p->input_offset < -127 || p->input_offset > 128)
    return TN_ERROR_ARGUMENT;
  for (px = 0; px < p->pixels; ++px) {
    const int8_t* x = input + px * p->channels;
    int8_t* y = output + px * p->channels;
    for (c = 0; c < p->channels; ++c) {
      const int32_t v = x[c] + p->input_offset;
      const int32_t out = (v >= 0 ? tn_requantize(v, p->positive_multiplier, p->positive_shift)
                                  : tn_requantize(v * p->slopes[c], p->negative_multiplier, p->negative_shift)) +
                          p->output_offset;
      y[c] = (int8_t)tn_clamp(out, p->act_min, p->act_max);
    }
  }
  return TN_OK;
}
