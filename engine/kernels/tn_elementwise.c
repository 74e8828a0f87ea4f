/* Element-wise add, multiply and PRelu with TF-Lite's int8 arithmetic, and table lookup. */
#include "tn_arith.h"
#include "tn_kernels.h"

tn_status tn_add_s8(const tn_add_params* p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  int32_t i;
  if (!p || !input1 || !input2 || !output || p->size < 0 || p->left_shift < 0 || p->left_shift > 20 ||
      p->input1_shift > 0 || p->input2_shift > 0 || p->output_shift > 0 || p->act_min > p->act_max ||
      p->act_min < -128 || p->act_max > 127)
    return TN_ERROR_ARGUMENT;
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
