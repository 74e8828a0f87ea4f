/* Fully connected layer: a matrix-vector product with the packed weight rows.
 *
 * The DSP build computes two outputs per pass, so each load of the input serves both rows. With more
 * than TN_FC_DIRECT_OUTPUTS outputs the input is first widened to int16 (plus its offset) into the
 * scratch, each group of 4 in lane order (x0, x2, x1, x3) as in tn_conv.c, and one LDRD serves 8
 * multiply-accumulates; with fewer (a classifier of 2 to 4 classes) the widening would cost more than
 * it saves, and the input words are widened in registers as they are read. */
#include "tn_arith.h"
#include "tn_kernels.h"
#include "tn_scratch.h"

#define TN_FC_DIRECT_OUTPUTS 4

static int tn_fully_connected_params_valid(const tn_fully_connected_params* p) {
  return p->in_features > 0 && p->out_features > 0 && p->weights && p->bias && p->q.multiplier && p->q.shift &&
         p->q.act_min <= p->q.act_max && p->q.act_min >= -128 && p->q.act_max <= 127;
}

#if defined(TN_DSP)

#if defined(TN_ASM_THUMB2)
/* The classifiers' common case in assembly, one call per pair of rows: 8 input values per pass (one
 * LDRD of the input and one of each row, 25 instructions per 16 multiply-accumulates; C spills a sum
 * or a weight word in every group, 13 values being live), then both outputs requantized in the folded
 * form. Word-aligned input and rows, whole passes of 8 values, the full int8 output range and shifts
 * in [-22, -1] only (tn_fc_classifier_asm checks); everything else takes the C path. */
typedef struct {
  const int8_t* input;
  const int8_t* w0;
  const int8_t* w1;
  int32_t offset2;            /* the input offset in both halfword lanes */
  int32_t bias0, bias1;
  const int8_t* end;          /* the input's end */
  int32_t odd;                /* an odd number of passes: the first runs only the loop's second half */
  int32_t multiplier0, multiplier1;
  int32_t exponent0, exponent1; /* -shift, in [1, 22] */
  int32_t offset_odd;         /* 2 * output offset + 1 */
  int8_t* out0;
  int8_t* out1;
} tn_fc_pair_asm_args;

/* Eight values: the input in r7/r8, row 0 in r9/r10, row 1 in r9/r7 (r7 free once its input word is
 * widened); r11/r12 the input lanes with the offset (r3), lr the weight lanes, r4/r5 the sums. */
#define TN_FC_ASM_ROW_WORD(w, acc)                                      \
  "sxtb16 lr, " w "\n\t" "smlad " acc ", r11, lr, " acc "\n\t"           \
  "sxtb16 lr, " w ", ror #8\n\t" "smlad " acc ", r12, lr, " acc "\n\t"
#define TN_FC_ASM_INPUT_WORD(x)                                         \
  "sxtab16 r11, r3, " x "\n\t"                                          \
  "sxtab16 r12, r3, " x ", ror #8\n\t"
#define TN_FC_ASM_PASS                                                  \
  "ldrd r7, r8, [r0], #8\n\t"                                           \
  "ldrd r9, r10, [r1], #8\n\t"                                          \
  TN_FC_ASM_INPUT_WORD("r7") TN_FC_ASM_ROW_WORD("r9", "r4")             \
  "ldrd r9, r7, [r2], #8\n\t"                                           \
  TN_FC_ASM_ROW_WORD("r9", "r5")                                        \
  TN_FC_ASM_INPUT_WORD("r8") TN_FC_ASM_ROW_WORD("r10", "r4") TN_FC_ASM_ROW_WORD("r7", "r5")
/* Sum `acc` doubled, high multiply with the folded constant (2 offset + 1) 2^(e-1), the sign term,
 * the shift by e, one SSAT: as tn_fast_requantize_folded_shifted. */
#define TN_FC_ASM_REQUANTIZE(acc, multiplier, exponent, out)            \
  "sub r1, " exponent ", #1\n\t"                                        \
  "lsl r1, r10, r1\n\t"                                                 \
  "lsl " acc ", " acc ", #1\n\t"                                        \
  "smmlar r2, " acc ", " multiplier ", r1\n\t"                          \
  "add r2, r2, " acc ", asr #31\n\t"                                    \
  "asr r2, r2, " exponent "\n\t"                                        \
  "ssat r2, #8, r2\n\t"                                                 \
  "strb r2, [" out "]\n\t"

TN_ASM_FUNCTION(tn_fc_pair_asm, const tn_fc_pair_asm_args,
      "push {r0}\n\t"
      "ldr r12, [r0, #28]\n\t"
      "ldmia r0, {r0-r6}\n\t"
      "cmp r12, #0\n\t"
      "bne 2f\n\t"
      "1:\n\t" TN_FC_ASM_PASS
      "2:\n\t" TN_FC_ASM_PASS
      "cmp r0, r6\n\t"
      "bne 1b\n\t"
      "pop {r0}\n\t"
      "ldrd r6, r7, [r0, #32]\n\t"
      "ldrd r8, r9, [r0, #40]\n\t"
      "ldr r10, [r0, #48]\n\t"
      "ldrd r11, r12, [r0, #52]\n\t"
      TN_FC_ASM_REQUANTIZE("r4", "r6", "r8", "r11")
      TN_FC_ASM_REQUANTIZE("r5", "r7", "r9", "r12"))
#undef TN_FC_ASM_REQUANTIZE
#undef TN_FC_ASM_PASS
#undef TN_FC_ASM_INPUT_WORD
#undef TN_FC_ASM_ROW_WORD

/* The whole layer through tn_fc_pair_asm when it qualifies; 0 (nothing written) when it does not. */
static int tn_fc_classifier_asm(const tn_fully_connected_params* p, const int8_t* input, int8_t* output) {
  const int32_t n = p->in_features, out = p->out_features;
  tn_fc_pair_asm_args a;
  int32_t o;
  if ((n & 7) != 0 || ((((uintptr_t)input | (uintptr_t)p->weights) & 3) != 0) || p->q.act_min != -128 ||
      p->q.act_max != 127 || !tn_shifts_within(p->q.shift, out, -22, -1))
    return 0;
  a.offset2 = tn_pack16(p->q.input_offset, p->q.input_offset);
  a.end = input + n;
  a.odd = (n >> 3) & 1;
  a.offset_odd = 2 * p->q.output_offset + 1;
  for (o = 0; o < out; o += 2) {
    /* An odd last row pairs with itself and writes its output twice. */
    const int32_t second = o + 1 < out ? o + 1 : o;
    a.input = input;
    a.w0 = p->weights + o * n; /* rows of a multiple of 8 values need no padding */
    a.w1 = p->weights + second * n;
    a.bias0 = p->bias[o];
    a.bias1 = p->bias[second];
    a.multiplier0 = p->q.multiplier[o];
    a.multiplier1 = p->q.multiplier[second];
    a.exponent0 = -p->q.shift[o];
    a.exponent1 = -p->q.shift[second];
    a.out0 = output + o;
    a.out1 = output + second;
    tn_fc_pair_asm(&a);
  }
  return 1;
}
#endif

/* acc + the dot product of 4 input values (lanes (x0, x2) and (x1, x3)) and the weight word w. */
TN_INLINE int32_t tn_fc_group(int32_t x02, int32_t x13, int32_t w, int32_t acc) {
  return tn_smlad(x13, tn_sxtb16_ror8(w), tn_smlad(x02, tn_sxtb16(w), acc));
}

/* The sums of the weight rows w0 and w1 (row values each) into *acc0 and *acc1: from the widened
 * input in `widened`, or straight from the int8 input with its offset added lane-wise (direct). */
TN_INLINE void tn_fc_pair(const int16_t* widened, const int8_t* input, int32_t input_offset, int32_t in_features,
                          const int8_t* w0, const int8_t* w1, int32_t row, int32_t* acc0, int32_t* acc1,
                          int direct) {
  int32_t a0 = *acc0, a1 = *acc1, g;
  /* Both rows' sums over the group of 4 at g + k, the input in lanes (x02, x13). */
#define TN_FC_ACCUMULATE(k)                                    \
  a0 = tn_fc_group(x02, x13, tn_read_s32(w0 + g + (k)), a0); \
  a1 = tn_fc_group(x02, x13, tn_read_s32(w1 + g + (k)), a1);
  if (direct) {
    const int32_t offset2 = tn_pack16(input_offset, input_offset);
    const int32_t full = in_features & ~3, full16 = in_features & ~15;
#define TN_FC_DIRECT_GROUP(k)                                                     \
  {                                                                               \
    const int32_t x = tn_read_s32(input + g + (k));                               \
    const int32_t x02 = tn_sxtab16(offset2, x), x13 = tn_sxtab16_ror8(offset2, x); \
    TN_FC_ACCUMULATE(k)                                                           \
  }
    /* Four groups per iteration: one loop test per 32 multiply-accumulates. */
    for (g = 0; g < full16; g += 16) {
      TN_FC_DIRECT_GROUP(0) TN_FC_DIRECT_GROUP(4) TN_FC_DIRECT_GROUP(8) TN_FC_DIRECT_GROUP(12)
    }
    for (; g < full; g += 4) TN_FC_DIRECT_GROUP(0)
#undef TN_FC_DIRECT_GROUP
    for (; g < in_features; ++g) {
      const int32_t x = input[g] + input_offset;
      a0 = (int32_t)((uint32_t)a0 + (uint32_t)(x * w0[g])); /* wraps as SMLAD does */
      a1 = (int32_t)((uint32_t)a1 + (uint32_t)(x * w1[g]));
    }
  } else {
    const int16_t* c = (const int16_t*)__builtin_assume_aligned(widened, 4);
    const int32_t row16 = row & ~15;
#define TN_FC_WIDENED_GROUP(k)              \
  {                                         \
    int32_t x02, x13;                       \
    TN_LOAD_PAIR(x02, x13, c + g, 2 * (k)); \
    TN_FC_ACCUMULATE(k)                     \
  }
    for (g = 0; g < row16; g += 16) {
      TN_FC_WIDENED_GROUP(0) TN_FC_WIDENED_GROUP(4) TN_FC_WIDENED_GROUP(8) TN_FC_WIDENED_GROUP(12)
    }
    for (; g < row; g += 4) TN_FC_WIDENED_GROUP(0)
#undef TN_FC_WIDENED_GROUP
  }
#undef TN_FC_ACCUMULATE
  *acc0 = a0;
  *acc1 = a1;
}

/* Requantizes one sum: the folded form when the layer's shifts all lie in [-22, 0] (shifts_fold). */
TN_INLINE int8_t tn_fc_output(const tn_fully_connected_params* p, int32_t o, int32_t acc, int shifts_fold) {
  const int32_t shift = p->q.shift[o], multiplier = p->q.multiplier[o], offset = p->q.output_offset;
  if (shifts_fold && shift != 0) {
    const int32_t folded = tn_folded_constant_of_exponent(offset, -shift);
    return tn_output_value(
        tn_fast_requantize_folded_shifted((int32_t)((uint32_t)acc << 1), multiplier, folded, -shift), 0,
        p->q.act_min, p->q.act_max, 0);
  } else {
    const tn_fast_requant r = tn_fast_requant_init(multiplier, shift);
    return tn_output_value(tn_fast_requantize(acc, &r), offset, p->q.act_min, p->q.act_max, 0);
  }
}

TN_INLINE void tn_fc_rows(const tn_fully_connected_params* p, const int8_t* input, const int16_t* widened,
                          int8_t* output, int direct) {
  const int32_t row = tn_fully_connected_row_length(p->in_features), out = p->out_features;
  const int shifts_fold = tn_shifts_within(p->q.shift, out, -22, 0);
  int32_t o;
  for (o = 0; o < out; o += 2) {
    /* An odd last row pairs with itself; only its first sum is kept. */
    const int32_t second = o + 1 < out ? o + 1 : o;
    int32_t a0 = p->bias[o], a1 = p->bias[second];
    tn_fc_pair(widened, input, p->q.input_offset, p->in_features, p->weights + o * row, p->weights + second * row,
               row, &a0, &a1, direct);
    output[o] = tn_fc_output(p, o, a0, shifts_fold);
    if (second != o) output[second] = tn_fc_output(p, second, a1, shifts_fold);
  }
}

#endif

tn_status tn_fully_connected_s8(const tn_fully_connected_params* p, const int8_t* input, int8_t* output,
                                int16_t* scratch) {
  int32_t row, i;
  if (!p || !input || !output || !scratch || !tn_fully_connected_params_valid(p)) return TN_ERROR_ARGUMENT;
  row = tn_fully_connected_row_length(p->in_features);
#if defined(TN_DSP)
  if (p->out_features <= TN_FC_DIRECT_OUTPUTS) {
#if defined(TN_ASM_THUMB2)
    if (tn_fc_classifier_asm(p, input, output)) return TN_OK;
#endif
    tn_fc_rows(p, input, scratch, output, 1);
    return TN_OK;
  }
  {
    /* The widened input: whole words of 4 values, then the tail and the zero padding of the row. */
    const int32_t offset2 = tn_pack16(p->q.input_offset, p->q.input_offset);
    const int32_t full = p->in_features & ~3;
    for (i = 0; i < full; i += 4) {
      const int32_t x = tn_read_s32(input + i);
      TN_STORE_PAIR(scratch + i, tn_sxtab16(offset2, x), tn_sxtab16_ror8(offset2, x));
    }
    for (; i < row; ++i) {
      const int32_t lane = (i & 3) == 1 ? 2 : ((i & 3) == 2 ? 1 : (i & 3));
      scratch[(i & ~3) + lane] = (int16_t)(i < p->in_features ? input[i] + p->q.input_offset : 0);
    }
  }
  tn_fc_rows(p, input, scratch, output, 0);
#else
  for (i = 0; i < row; ++i) scratch[i] = (int16_t)(i < p->in_features ? input[i] + p->q.input_offset : 0);
  {
    int32_t o, g;
    for (o = 0; o < p->out_features; ++o) {
      const int8_t* w = p->weights + o * row;
      int32_t acc = p->bias[o];
      for (g = 0; g < row; ++g) acc += scratch[g] * w[g];
      output[o] = tn_output_value(tn_requantize(acc, p->q.multiplier[o], p->q.shift[o]), p->q.output_offset,
                                  p->q.act_min, p->q.act_max, 0);
    }
  }
#endif
  return TN_OK;
}
