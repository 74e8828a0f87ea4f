/* Standard and 1x1 convolutions as one matrix multiply: TN_CONV_PIXELS_PER_STEP (8) output pixels at a
 * time, their im2col columns widened to int16 in the scratch, times the packed weight rows.
 *
 * Column layout in the scratch, for the pixels p of a step and the row values j (ky, kx, ic):
 * groups of 4 values, [j / 4][p][4], so one pointer walks all the pixels. In the DSP build the 4
 * values of a group are stored in lane order (v0, v2, v1, v3): the words (v0, v2) and (v1, v3) then
 * meet the weight word split by SXTB16 into (w0, w2) and (w1, w3), and each SMLAD adds two products. */
#include "tn_arith.h"
#include "tn_kernels.h"
#include "tn_scratch.h"

#define TN_PX TN_CONV_PIXELS_PER_STEP
#if TN_PX != 8
#error "the DSP matrix multiply is written for 8 pixels per step"
#endif

/* Where value t (0..3) of a group goes. */
#if defined(TN_DSP)
#define TN_LANE(t) ((t) == 1 ? 2 : ((t) == 2 ? 1 : (t)))
#else
#define TN_LANE(t) (t)
#endif

TN_INLINE int16_t* tn_column_group(int16_t* cols, int32_t group, int32_t pixel) {
  return cols + ((group * TN_PX) + pixel) * 4;
}

/* Widens `count` contiguous int8 values (plus the input offset) into pixel `pixel`'s column. */
TN_INLINE void tn_widen_run(const int8_t* src, int32_t count, int32_t input_offset, int16_t* cols, int32_t pixel) {
  int32_t j = 0;
#if defined(TN_DSP)
  const int32_t offset2 = tn_pack16(input_offset, input_offset);
  int16_t* dst = tn_column_group(cols, 0, pixel);
  for (; j + 4 <= count; j += 4, dst += 4 * TN_PX) {
    const int32_t v = tn_read_s32(src + j);
    TN_STORE_PAIR(dst, tn_sxtab16(offset2, v), tn_sxtab16_ror8(offset2, v));
  }
#endif
  for (; j < count; ++j) tn_column_group(cols, j >> 2, pixel)[TN_LANE(j & 3)] = (int16_t)(src[j] + input_offset);
}

#if defined(TN_DSP)
/* The columns of a full step of a 1x1 convolution whose channels fill whole groups: the eight pixels'
 * inputs are contiguous, so one pass over the groups widens all of them (pixel p's group j at
 * in + p in_c + 4 j), without the per-pixel set-up of tn_widen_run, which narrow layers (8 or 16
 * channels) pay once for every two to four words. */
TN_INLINE void tn_widen_step(const int8_t* in, int32_t in_c, int32_t input_offset, int16_t* cols) {
  const int32_t offset2 = tn_pack16(input_offset, input_offset), c2 = 2 * in_c;
  const int8_t* src = in;
  const int8_t* src3 = in + 3 * in_c;
  const int8_t* src6 = in + 6 * in_c;
  int16_t* dst = cols;
  int16_t* const end = cols + in_c * TN_PX;
#define TN_WIDEN_PIXEL(from, byte_offset)                                                      \
  {                                                                                            \
    const int32_t v = tn_read_s32(from);                                                       \
    TN_STORE_PAIR_AT(dst, byte_offset, tn_sxtab16(offset2, v), tn_sxtab16_ror8(offset2, v)); \
  }
  do {
    TN_WIDEN_PIXEL(src, 0)
    TN_WIDEN_PIXEL(src + in_c, 8)
    TN_WIDEN_PIXEL(src + c2, 16)
    TN_WIDEN_PIXEL(src3, 24)
    TN_WIDEN_PIXEL(src3 + in_c, 32)
    TN_WIDEN_PIXEL(src3 + c2, 40)
    TN_WIDEN_PIXEL(src6, 48)
    TN_WIDEN_PIXEL(src6 + in_c, 56)
    src += 4;
    src3 += 4;
    src6 += 4;
    dst += 4 * TN_PX;
  } while (dst != end);
#undef TN_WIDEN_PIXEL
}
#endif

/* Zeroes pixel `pixel`'s whole column of `row` values (a multiple of 4), a group (8 bytes) at a time:
 * the columns past a partial last step's pixels, which the step multiplies but never stores. */
static TN_NOINLINE void tn_zero_column(int32_t row, int16_t* cols, int32_t pixel) {
  int16_t* dst = tn_column_group(cols, 0, pixel);
  int16_t* const end = dst + row * TN_PX;
  for (; dst != end; dst += 4 * TN_PX) {
    tn_write_s32(dst, 0);
    tn_write_s32(dst + 2, 0);
  }
}

TN_INLINE void tn_zero_run(int32_t first, int32_t count, int16_t* cols, int32_t pixel) {
  int32_t j;
  for (j = first; j < first + count; ++j) tn_column_group(cols, j >> 2, pixel)[TN_LANE(j & 3)] = 0;
}

/* What the im2col of one pixel reads from the layer, as values: the loop keeps them in registers
 * (read through p, every int8 store could alias them and they would be reloaded per pixel). */
typedef struct {
  int32_t in_h, in_w, pad_h, pad_w, input_offset;
  int32_t pad_word; /* four bytes of the zero point, which stands for padding */
} tn_im2col_geometry;

/* Copies `count` bytes, four at a time (unaligned word accesses), then the rest one by one. With a
 * constant count (the stem's window rows of 3 or 9 values) the copies unroll. */
TN_INLINE void tn_copy_bytes(int8_t* dst, const int8_t* src, int32_t count) {
  int32_t c = 0;
  for (; c + 4 <= count; c += 4) tn_write_s32(dst + c, tn_read_s32(src + c));
  for (; c < count; ++c) dst[c] = src[c];
}

/* The im2col column of output pixel (oy, ox) into slot `pixel`, in two steps: the raw int8 values
 * (ky, kx, ic) of the group whose channels start at `input` are gathered into the staging row, the
 * zero point standing for padding (it becomes 0 once the offset is added), then widened 4 at a time
 * (in lane order in the DSP build). Gathering contiguous runs of bytes and widening whole words is
 * cheaper than placing values one by one. Inlined with a constant window and channels for the stem,
 * where the loops unroll; in_c is the input's channels per pixel, group_c the group's. */
TN_INLINE void tn_im2col_pixel(tn_im2col_geometry g, const int8_t* input, int32_t oy, int32_t ox,
                               int16_t* cols, int8_t* stage, int32_t pixel, int32_t kernel_h, int32_t kernel_w,
                               int32_t stride_h, int32_t stride_w, int32_t dilation_h, int32_t dilation_w,
                               int32_t in_c, int32_t group_c) {
  const int32_t row = tn_conv_weights_row_length(group_c, kernel_h, kernel_w);
  const int8_t pad = (int8_t)g.pad_word;
  const int32_t x0 = ox * stride_w - g.pad_w, y0 = oy * stride_h - g.pad_h;
  const int32_t run = kernel_w * group_c;
  int8_t* dst = stage;
  int32_t ky, kx, c;
  /* A window row inside the map horizontally is one contiguous run of the input. */
  const int rows_contiguous = dilation_w == 1 && group_c == in_c && x0 >= 0 && x0 + kernel_w <= g.in_w;
  /* The row's last 0-3 values past the window (row is a multiple of 4) are padding: one word store,
   * which the gathered values then overwrite where they reach. */
  tn_write_s32(stage + row - 4, g.pad_word);
  if (rows_contiguous && y0 >= 0 && y0 + (kernel_h - 1) * dilation_h < g.in_h) {
    /* the window inside the map (most pixels): every window row is one contiguous run */
    const int8_t* src = input + (y0 * g.in_w + x0) * in_c;
    const int32_t row_step = dilation_h * g.in_w * in_c;
    for (ky = 0; ky < kernel_h; ++ky, src += row_step, dst += run) tn_copy_bytes(dst, src, run);
  } else {
    for (ky = 0; ky < kernel_h; ++ky) {
      const int32_t iy = y0 + ky * dilation_h;
      if (iy < 0 || iy >= g.in_h) {
        for (c = 0; c < run; ++c) *dst++ = pad;
      } else if (rows_contiguous) {
        /* the whole window row is inside and contiguous: one run */
        tn_copy_bytes(dst, input + (iy * g.in_w + x0) * in_c, run);
        dst += run;
      } else {
        for (kx = 0; kx < kernel_w; ++kx) {
          const int32_t ix = x0 + kx * dilation_w;
          if (ix < 0 || ix >= g.in_w) {
            for (c = 0; c < group_c; ++c) *dst++ = pad;
          } else {
            const int8_t* src = input + (iy * g.in_w + ix) * in_c;
            for (c = 0; c < group_c; ++c) *dst++ = src[c];
          }
        }
      }
    }
  }
  tn_widen_run(stage, row, g.input_offset, cols, pixel);
}

/* The weight rows one matrix multiply step runs: those of one group's output channels. */
typedef struct {
  const int8_t* weights;
  const int32_t* bias;
  const int32_t* multiplier;
  const int32_t* shift;
  int32_t rows;       /* the group's output channels */
  int32_t out_stride; /* output channels per pixel */
} tn_matmul_rows;

/* How a layer's shifts requantize, from one scan per call. Rows whose shifts all lie in [-22, 0]
 * (nearly every layer) need no left shift beyond SMMULR's doubling, and their rounding constant and
 * zero point fold into (2 * offset + 1) * 2^(e - 1) for e = -shift >= 1: each output channel's set-up
 * is a few instructions instead of tn_fast_requant_init. Without a shift of 0 every channel takes the
 * folded form, which the assembly loop needs. */
enum { TN_SHIFTS_GENERAL, TN_SHIFTS_FOLD, TN_SHIFTS_FOLD_NONZERO };
static int tn_shift_form(const int32_t* shift, int32_t n) {
  int form = TN_SHIFTS_FOLD_NONZERO;
  int32_t i;
  for (i = 0; i < n; ++i) {
    if (shift[i] < -22 || shift[i] > 0) return TN_SHIFTS_GENERAL;
    if (shift[i] == 0) form = TN_SHIFTS_FOLD;
  }
  return form;
}

/* The columns of TN_PX pixels times the weight rows of `m`; writes `valid` pixels of m->rows values.
 * shifts_fold: every shift of the rows is in [-22, 0] (tn_shift_form; a constant in each instance). */
TN_INLINE void tn_matmul_step(const tn_conv_params* p, const tn_matmul_rows* m, const int16_t* cols, int32_t row,
                              int8_t* out, int32_t valid, int full_range, int shifts_fold) {
  /* Everything the loop needs in locals: stores through int8_t pointers may alias any memory, so the
   * compiler would otherwise reload each parameter after every output byte. */
  const int8_t* w = m->weights;
  const int32_t* const bias = m->bias;
  const int32_t* const multiplier = m->multiplier;
  const int32_t* const shift = m->shift;
  const int32_t rows = m->rows, out_c = m->out_stride;
  const int32_t offset = p->q.output_offset, act_min = p->q.act_min, act_max = p->q.act_max;
  int32_t oc;
  for (oc = 0; oc < rows; ++oc) {
    const int32_t b = bias[oc];
    const int16_t* c = cols;
    int8_t* o = out + oc;
#if defined(TN_DSP)
    int32_t a0, a1, a2, a3, a4, a5, a6, a7;
    /* One weight word (4 row values) feeds 2 SMLADs per pixel: 8 pixels, 32 multiply-accumulates
     * per word loaded. */
#define TN_MAC_PIXEL(acc, from, base, k)     \
  TN_LOAD_PAIR(lo, hi, c, (base) + 8 * (k)); \
  acc = tn_smlad(hi, w13, tn_smlad(lo, w02, from));
#define TN_MATMUL_GROUP(base, f0, f1, f2, f3, f4, f5, f6, f7)                                     \
  {                                                                                               \
    const int32_t wv = tn_read_s32(w);                                                            \
    const int32_t w02 = tn_sxtb16(wv);                                                            \
    const int32_t w13 = tn_sxtb16_ror8(wv);                                                       \
    int32_t lo, hi;                                                                               \
    w += 4;                                                                                       \
    TN_MAC_PIXEL(a0, f0, base, 0) TN_MAC_PIXEL(a1, f1, base, 1) TN_MAC_PIXEL(a2, f2, base, 2)     \
    TN_MAC_PIXEL(a3, f3, base, 3) TN_MAC_PIXEL(a4, f4, base, 4) TN_MAC_PIXEL(a5, f5, base, 5)     \
    TN_MAC_PIXEL(a6, f6, base, 6) TN_MAC_PIXEL(a7, f7, base, 7)                                   \
  }
#define TN_GROUP_BYTES (8 * TN_PX)
    {
      /* The groups left over by the four-group loop first, then the loop. */
      const int16_t* const end = c + (row >> 2) * 4 * TN_PX;
      const int16_t* const end1 = c + ((row >> 2) & 3) * 4 * TN_PX;
      a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = b;
      while (c != end1) {
        TN_MATMUL_GROUP(0, a0, a1, a2, a3, a4, a5, a6, a7)
        c += 4 * TN_PX;
      }
      if (c != end) {
        do {
          TN_MATMUL_GROUP(0, a0, a1, a2, a3, a4, a5, a6, a7)
          TN_MATMUL_GROUP(TN_GROUP_BYTES, a0, a1, a2, a3, a4, a5, a6, a7)
          TN_MATMUL_GROUP(2 * TN_GROUP_BYTES, a0, a1, a2, a3, a4, a5, a6, a7)
          TN_MATMUL_GROUP(3 * TN_GROUP_BYTES, a0, a1, a2, a3, a4, a5, a6, a7)
          c += 16 * TN_PX;
        } while (c != end);
      }
    }
#undef TN_GROUP_BYTES
#undef TN_MATMUL_GROUP
#undef TN_MAC_PIXEL
    {
      /* Pixels 0-2 from o, 3-5 from o + 3 out_c, 6-7 from o + 6 out_c: three bases, two offsets. */
      int8_t* const o3 = o + 3 * out_c;
      int8_t* const o6 = o3 + 3 * out_c;
      const int32_t out_c2 = 2 * out_c;
      /* The eight outputs of the step, each through STORE(destination, sum). */
#define TN_STORE_STEP(STORE)                 \
  STORE(o[0], a0);                           \
  if (valid > 1) STORE(o[out_c], a1);        \
  if (valid > 2) STORE(o[out_c2], a2);       \
  if (valid > 3) STORE(o3[0], a3);           \
  if (valid > 4) STORE(o3[out_c], a4);       \
  if (valid > 5) STORE(o3[out_c2], a5);      \
  if (valid > 6) STORE(o6[0], a6);           \
  if (valid > 7) STORE(o6[out_c], a7);
      if (shifts_fold) {
        const int32_t mul = multiplier[oc], e = -shift[oc];
        if (e != 0) { /* the common case: rounding and zero point in one constant */
          const int32_t folded = tn_folded_constant_of_exponent(offset, e);
#define TN_STORE(dst, acc) \
  dst = tn_output_value(tn_fast_requantize_folded_shifted((int32_t)((uint32_t)(acc) << 1), mul, folded, e), 0, act_min, act_max, full_range)
          TN_STORE_STEP(TN_STORE)
#undef TN_STORE
        } else { /* shift 0: the doubling high multiply alone, no rounding division */
#define TN_STORE(dst, acc) \
  dst = tn_output_value(tn_smmulr((int32_t)((uint32_t)(acc) << 1), mul), offset, act_min, act_max, full_range)
          TN_STORE_STEP(TN_STORE)
#undef TN_STORE
        }
      } else {
        const tn_fast_requant r = tn_fast_requant_init(multiplier[oc], shift[oc]);
        if (tn_fast_requant_folds(&r)) { /* rounding and zero point in one constant */
          const int32_t folded = tn_fast_requant_folded_constant(&r, offset);
#define TN_STORE(dst, acc) dst = tn_output_value(tn_fast_requantize_folded(acc, &r, folded), 0, act_min, act_max, full_range)
          TN_STORE_STEP(TN_STORE)
#undef TN_STORE
        } else {
#define TN_STORE(dst, acc) dst = tn_output_value(tn_fast_requantize(acc, &r), offset, act_min, act_max, full_range)
          TN_STORE_STEP(TN_STORE)
#undef TN_STORE
        }
      }
#undef TN_STORE_STEP
    }
#else
    {
      int32_t acc[TN_PX];
      int32_t g, t, k;
      (void)shifts_fold;
      for (k = 0; k < TN_PX; ++k) acc[k] = b;
      for (g = row >> 2; g > 0; --g) {
        for (k = 0; k < TN_PX; ++k)
          for (t = 0; t < 4; ++t) acc[k] += c[4 * k + t] * w[t];
        w += 4;
        c += 4 * TN_PX;
      }
      for (k = 0; k < valid; ++k)
        o[k * out_c] = tn_output_value(tn_requantize(acc[k], multiplier[oc], shift[oc]), offset, act_min, act_max,
                                       full_range);
    }
#endif
  }
}

#if defined(TN_ASM_THUMB2)
/* The step of the common case in assembly: all TN_PX pixels, every shift in [-22, -1], the full-range
 * clamp. C leaves pointer reloads, spills and loop control per output channel around its eight
 * requantizations; this loop holds the eight sums and the weight and column pointers in registers
 * through the whole channel and keeps the rest below the stack pointer (it needs all 14 general
 * registers). The per-channel arrays are indexed with the output pointer, hence the bases biased by
 * -4 * out (address arithmetic modulo 2^32, tn_matmul_asm_args_at). Field order is the LDM/STM order. */
typedef struct {
  const int16_t* cols;            /* [sp, #0] */
  uint32_t cols_entry;            /* [sp, #4]: the columns pointer where the four-group loop is entered */
  const int16_t* cols_end;        /* [sp, #8] */
  uint32_t bias_base;             /* [sp, #12] */
  uint32_t multiplier_base;       /* [sp, #16] */
  uint32_t shift_base;            /* [sp, #20] */
  int32_t offset_odd;             /* [sp, #24]: 2 * output offset + 1 */
  int32_t out_stride;             /* [sp, #28] */
  const int8_t* out_end;          /* [sp, #32] */
  const int8_t* weights;          /* [sp, #36], then lr */
  int8_t* out;                    /* [sp, #40]: the channel's output, in r12 between the sums */
  int32_t entry_bytes;            /* then [sp, #44]: the entry's address in the loop (108 or 60 bytes a group) */
  int32_t valid;                  /* [sp, #48]: the step's pixels (the last step's function); [sp, #52] spare */
} tn_matmul_asm_args;

/* One weight word (4 row values) times the eight columns: r8/r9 the weight lanes, r10/r11 a column
 * pair, r12 the columns, lr the weights, r0-r7 the sums. */
#define TN_ASM_PIXEL(base, k, sum) \
  "ldrd r10, r11, [r12, #" #base "+8*" #k "]\n\t" "smlad " sum ", r10, r8, " sum "\n\t" "smlad " sum ", r11, r9, " sum "\n\t"
#define TN_ASM_GROUP(base)                                                                            \
  "ldr r8, [lr], #4\n\t"                                                                              \
  "sxtb16 r9, r8, ror #8\n\t"                                                                         \
  "sxtb16 r8, r8\n\t"                                                                                 \
  TN_ASM_PIXEL(base, 0, "r0") TN_ASM_PIXEL(base, 1, "r1") TN_ASM_PIXEL(base, 2, "r2")                \
  TN_ASM_PIXEL(base, 3, "r3") TN_ASM_PIXEL(base, 4, "r4") TN_ASM_PIXEL(base, 5, "r5")                \
  TN_ASM_PIXEL(base, 6, "r6") TN_ASM_PIXEL(base, 7, "r7")
/* Sum r of the channel to int8 in r11: doubled, high multiply with the folded constant (r8 the
 * multiplier, r9 the constant), the sign term, the shift by e (r10), the clamp. */
#define TN_ASM_REQUANTIZE(r)                                                                          \
  "lsl " r ", " r ", #1\n\t"                                                                         \
  "smmlar r11, " r ", r8, r9\n\t"                                                                    \
  "add r11, r11, " r ", asr #31\n\t"                                                                 \
  "asr r11, r11, r10\n\t"                                                                            \
  "ssat r11, #8, r11\n\t"
/* The first group starts every sum from the bias, held in the last sum it updates. */
#define TN_ASM_FIRST_PIXEL(k, sum, bias) \
  "ldrd r10, r11, [r12, #8*" #k "]\n\t" "smlad " sum ", r10, r8, " bias "\n\t" "smlad " sum ", r11, r9, " sum "\n\t"

/* The arguments below the stack pointer (r11 the weights, r12 the output, r1 the loop entry's offset);
 * r0 still points at them. */
#define TN_ASM_ARGS_TO_STACK \
  "sub sp, sp, #56\n\t"     \
  "ldr r1, [r0, #44]\n\t"   \
  "ldmia r0, {r2-r12}\n\t"  \
  "stmia sp, {r2-r12}\n\t"
/* The groups after the first run in the four-group loop, entered part way (Duff's device) so that the
 * passes end exactly at the last group: the entry address, with the Thumb bit, at [sp, #44]. */
#define TN_ASM_LOOP_SETUP \
  "adr r9, 4f\n\t"       \
  "add r9, r9, r1\n\t"   \
  "orr r9, r9, #1\n\t"   \
  "str r9, [sp, #44]\n\t"
/* Every instruction of a group is 32 bits wide: 108 bytes a group. */
#define TN_ASM_LOOP                                                                             \
  "ldr r12, [sp, #4]\n\t"                                                                       \
  "ldr r10, [sp, #44]\n\t"                                                                      \
  "bx r10\n\t"                                                                                  \
  ".balign 4\n\t"                                                                               \
  "4:\n\t"                                                                                      \
  TN_ASM_GROUP(0) TN_ASM_GROUP(64) TN_ASM_GROUP(128) TN_ASM_GROUP(192)                          \
  "6:\n\t"                                                                                      \
  ".if (6b - 4b) != 4 * 108\n\t"                                                                \
  ".error \"tn_matmul_step_asm: a group is not 108 bytes, the loop entry would be wrong\"\n\t"  \
  ".endif\n\t"                                                                                  \
  "add r12, r12, #256\n\t"                                                                      \
  "ldr r10, [sp, #8]\n\t"                                                                       \
  "cmp r12, r10\n\t"                                                                            \
  "bne 4b\n\t"
/* Pixels 1-7 of a full step: r0 holds the stride, r1 the pixel pairs' base. */
#define TN_ASM_STORES_FULL \
  TN_ASM_REQUANTIZE("r1") "strb r11, [r12, r0]\n\t" \
  "add r1, r12, r0, lsl #1\n\t" \
  TN_ASM_REQUANTIZE("r2") "strb r11, [r1]\n\t" \
  TN_ASM_REQUANTIZE("r3") "strb r11, [r1, r0]\n\t" \
  "add r1, r1, r0, lsl #1\n\t" \
  TN_ASM_REQUANTIZE("r4") "strb r11, [r1]\n\t" \
  TN_ASM_REQUANTIZE("r5") "strb r11, [r1, r0]\n\t" \
  "add r1, r1, r0, lsl #1\n\t" \
  TN_ASM_REQUANTIZE("r6") "strb r11, [r1]\n\t" \
  TN_ASM_REQUANTIZE("r7") "strb r11, [r1, r0]\n\t"
/* Pixels 1 to valid - 1 of a last step of 5 to 7 pixels (counted in lr, the weights pointer kept below). */
#define TN_ASM_STORES_TAIL                                                              \
  "str lr, [sp, #52]\n\t"                                                              \
  "ldr lr, [sp, #48]\n\t"                                                              \
  "cmp lr, #1\n\t" "beq 8f\n\t"                                                        \
  TN_ASM_REQUANTIZE("r1") "strb r11, [r12, r0]\n\t" "cmp lr, #2\n\t" "beq 8f\n\t"     \
  "add r1, r12, r0, lsl #1\n\t"                                                        \
  TN_ASM_REQUANTIZE("r2") "strb r11, [r1]\n\t" "cmp lr, #3\n\t" "beq 8f\n\t"          \
  TN_ASM_REQUANTIZE("r3") "strb r11, [r1, r0]\n\t" "cmp lr, #4\n\t" "beq 8f\n\t"      \
  "add r1, r1, r0, lsl #1\n\t"                                                         \
  TN_ASM_REQUANTIZE("r4") "strb r11, [r1]\n\t" "cmp lr, #5\n\t" "beq 8f\n\t"          \
  TN_ASM_REQUANTIZE("r5") "strb r11, [r1, r0]\n\t" "cmp lr, #6\n\t" "beq 8f\n\t"      \
  "add r1, r1, r0, lsl #1\n\t"                                                         \
  TN_ASM_REQUANTIZE("r6") "strb r11, [r1]\n\t"                                          \
  "8:\n\t"                                                                             \
  "ldr lr, [sp, #52]\n\t"
#define TN_MATMUL_STEP_ASM_FUNCTION(name, SETUP, REST, STORES)                                                            \
TN_ASM_FUNCTION(name, const tn_matmul_asm_args,                                                              \
      TN_ASM_ARGS_TO_STACK                                                                                   \
      "ldr r0, [r0, #48]\n\t"                                                                                \
      "str r0, [sp, #48]\n\t"                                                                                \
      "mov lr, r11\n\t"                                                                                      \
      SETUP                                                                                                  \
      "1:\n\t"                                                                                               \
      "ldr r11, [sp, #12]\n\t"                                                                               \
      "ldr r7, [r11, r12, lsl #2]\n\t"                                                                       \
      "str r12, [sp, #40]\n\t"                                                                               \
      "ldr r12, [sp, #0]\n\t"                                                                                \
      "ldr r8, [lr], #4\n\t"                                                                                 \
      "sxtb16 r9, r8, ror #8\n\t"                                                                            \
      "sxtb16 r8, r8\n\t"                                                                                    \
      TN_ASM_FIRST_PIXEL(0, "r0", "r7") TN_ASM_FIRST_PIXEL(1, "r1", "r7") TN_ASM_FIRST_PIXEL(2, "r2", "r7")  \
      TN_ASM_FIRST_PIXEL(3, "r3", "r7") TN_ASM_FIRST_PIXEL(4, "r4", "r7") TN_ASM_FIRST_PIXEL(5, "r5", "r7")  \
      TN_ASM_FIRST_PIXEL(6, "r6", "r7") TN_ASM_FIRST_PIXEL(7, "r7", "r7")                                    \
      REST                                                                                                   \
      /* The channel's multiplier (r8), e = -shift (r10) and folded constant (2 offset + 1) 2^(e-1) (r9). */ \
      "ldr r12, [sp, #40]\n\t"                                                                               \
      "ldr r11, [sp, #16]\n\t"                                                                               \
      "ldr r8, [r11, r12, lsl #2]\n\t"                                                                       \
      "ldr r11, [sp, #20]\n\t"                                                                               \
      "ldr r10, [r11, r12, lsl #2]\n\t"                                                                      \
      "rsb r10, r10, #0\n\t"                                                                                 \
      "ldr r11, [sp, #24]\n\t"                                                                               \
      "sub r9, r10, #1\n\t"                                                                                  \
      "lsl r9, r11, r9\n\t"                                                                                  \
      /* Pixel 0 at the output pointer; then r0 holds the stride, r1 the pixel pairs' base. */               \
      TN_ASM_REQUANTIZE("r0") "strb r11, [r12]\n\t"                                                          \
      "ldr r0, [sp, #28]\n\t"                                                                                \
      STORES                                                                                                 \
      "ldr r11, [sp, #32]\n\t"                                                                               \
      "add r12, r12, #1\n\t"                                                                                 \
      "cmp r12, r11\n\t"                                                                                     \
      "bne 1b\n\t"                                                                                           \
      "add sp, sp, #56\n\t")
TN_MATMUL_STEP_ASM_FUNCTION(tn_matmul_step_asm, TN_ASM_LOOP_SETUP, TN_ASM_LOOP, TN_ASM_STORES_FULL)
TN_MATMUL_STEP_ASM_FUNCTION(tn_matmul_step_asm_tail, TN_ASM_LOOP_SETUP, TN_ASM_LOOP, TN_ASM_STORES_TAIL)
/* Rows of exactly two groups (8 input channels, common in the first blocks): the second group straight
 * after the first, without the loop's entry and test. */
TN_MATMUL_STEP_ASM_FUNCTION(tn_matmul_step_asm_two_groups, , TN_ASM_GROUP(64), TN_ASM_STORES_FULL)
#undef TN_MATMUL_STEP_ASM_FUNCTION
#undef TN_ASM_LOOP_SETUP
#undef TN_ASM_LOOP
#undef TN_ASM_STORES_FULL
#undef TN_ASM_STORES_TAIL

/* A last step of 4 pixels or fewer runs the first four columns only (half the multiplies of a full
 * step), one of a single pixel the first column only (small maps, e.g. 3x3, 5x5 or 7x7, end with a step
 * of one pixel). Fewer sums leave registers for the output pointer (r4), its stride (r5), the columns'
 * end (r6) and the pixel count (r7); the bias goes through r3. */
#define TN_ASM_GROUP4(base)                                                                           \
  "ldr r8, [lr], #4\n\t"                                                                              \
  "sxtb16 r9, r8, ror #8\n\t"                                                                         \
  "sxtb16 r8, r8\n\t"                                                                                 \
  TN_ASM_PIXEL(base, 0, "r0") TN_ASM_PIXEL(base, 1, "r1") TN_ASM_PIXEL(base, 2, "r2")                \
  TN_ASM_PIXEL(base, 3, "r3")
#define TN_ASM_FIRST4                                                                                 \
  TN_ASM_FIRST_PIXEL(0, "r0", "r3") TN_ASM_FIRST_PIXEL(1, "r1", "r3") TN_ASM_FIRST_PIXEL(2, "r2", "r3") \
  TN_ASM_FIRST_PIXEL(3, "r3", "r3")
#define TN_ASM_STORES4                                                                                \
  "cmp r7, #1\n\t" "beq 8f\n\t"                                                                       \
  TN_ASM_REQUANTIZE("r1") "strb r11, [r4, r5]\n\t"                                                    \
  "cmp r7, #2\n\t" "beq 8f\n\t"                                                                       \
  "add r12, r4, r5, lsl #1\n\t"                                                                       \
  TN_ASM_REQUANTIZE("r2") "strb r11, [r12]\n\t"                                                       \
  "cmp r7, #3\n\t" "beq 8f\n\t"                                                                       \
  TN_ASM_REQUANTIZE("r3") "strb r11, [r12, r5]\n\t"                                                   \
  "8:\n\t"
#define TN_ASM_GROUP1(base)                                                                           \
  "ldr r8, [lr], #4\n\t"                                                                              \
  "sxtb16 r9, r8, ror #8\n\t"                                                                         \
  "sxtb16 r8, r8\n\t"                                                                                 \
  TN_ASM_PIXEL(base, 0, "r0")
#define TN_ASM_FIRST1 TN_ASM_FIRST_PIXEL(0, "r0", "r3")
#define TN_ASM_STORES1
/* GROUP_BYTES: the code bytes of GROUP, every instruction 32 bits wide (a string, for the check). */
#define TN_MATMUL_SMALL_STEP_ASM_FUNCTION(name, GROUP, GROUP_BYTES, FIRST, STORES)                            \
TN_ASM_FUNCTION(name, const tn_matmul_asm_args,                                                              \
      TN_ASM_ARGS_TO_STACK                                                                                   \
      "ldr r7, [r0, #48]\n\t"                                                                                \
      "mov lr, r11\n\t"                                                                                      \
      "mov r4, r12\n\t"                                                                                      \
      "ldr r5, [sp, #28]\n\t"                                                                                \
      "ldr r6, [sp, #8]\n\t"                                                                                 \
      "adr r9, 4f\n\t"                                                                                       \
      "add r9, r9, r1\n\t"                                                                                   \
      "orr r9, r9, #1\n\t"                                                                                   \
      "str r9, [sp, #44]\n\t"                                                                                \
      "1:\n\t"                                                                                               \
      "ldr r11, [sp, #12]\n\t"                                                                               \
      "ldr r3, [r11, r4, lsl #2]\n\t"                                                                        \
      "ldr r12, [sp, #0]\n\t"                                                                                \
      "ldr r8, [lr], #4\n\t"                                                                                 \
      "sxtb16 r9, r8, ror #8\n\t"                                                                            \
      "sxtb16 r8, r8\n\t"                                                                                    \
      FIRST                                                                                                  \
      "ldr r12, [sp, #4]\n\t"                                                                                \
      "ldr r10, [sp, #44]\n\t"                                                                               \
      "bx r10\n\t"                                                                                           \
      ".balign 4\n\t"                                                                                        \
      "4:\n\t"                                                                                               \
      GROUP(0) GROUP(64) GROUP(128) GROUP(192)                                                               \
      "6:\n\t"                                                                                               \
      ".if (6b - 4b) != 4 * " GROUP_BYTES "\n\t"                                                             \
      ".error \"" #name ": a group is not " GROUP_BYTES " bytes, the loop entry would be wrong\"\n\t"        \
      ".endif\n\t"                                                                                           \
      "add r12, r12, #256\n\t"                                                                               \
      "cmp r12, r6\n\t"                                                                                      \
      "bne 4b\n\t"                                                                                           \
      "ldr r11, [sp, #16]\n\t"                                                                               \
      "ldr r8, [r11, r4, lsl #2]\n\t"                                                                        \
      "ldr r11, [sp, #20]\n\t"                                                                               \
      "ldr r10, [r11, r4, lsl #2]\n\t"                                                                       \
      "rsb r10, r10, #0\n\t"                                                                                 \
      "ldr r11, [sp, #24]\n\t"                                                                               \
      "sub r9, r10, #1\n\t"                                                                                  \
      "lsl r9, r11, r9\n\t"                                                                                  \
      TN_ASM_REQUANTIZE("r0") "strb r11, [r4]\n\t"                                                           \
      STORES                                                                                                 \
      "ldr r11, [sp, #32]\n\t"                                                                               \
      "add r4, r4, #1\n\t"                                                                                   \
      "cmp r4, r11\n\t"                                                                                      \
      "bne 1b\n\t"                                                                                           \
      "add sp, sp, #56\n\t")
TN_MATMUL_SMALL_STEP_ASM_FUNCTION(tn_matmul_step_asm4, TN_ASM_GROUP4, "60", TN_ASM_FIRST4, TN_ASM_STORES4)
TN_MATMUL_SMALL_STEP_ASM_FUNCTION(tn_matmul_step_asm1, TN_ASM_GROUP1, "24", TN_ASM_FIRST1, TN_ASM_STORES1)
#undef TN_MATMUL_SMALL_STEP_ASM_FUNCTION

/* tn_widen_step of six pixels on the cores: a pointer per pixel, advanced by its load, and one STM for
 * each two pixels' four words (23 instructions a group; C takes 30, with a store per pixel). */
typedef struct {
  const int8_t* in;
  int32_t in_c;
  int32_t offset2; /* the input offset in both halves */
  int16_t* cols;
  const int16_t* cols_end;
} tn_widen_asm_args;
#define TN_ASM_WIDEN_TWO_PIXELS(pa, pb)      \
  "ldr r9, [" pa "], #4\n\t"                 \
  "ldr r11, [" pb "], #4\n\t"                \
  "sxtab16 r10, r2, r9, ror #8\n\t"          \
  "sxtab16 r9, r2, r9\n\t"                   \
  "sxtab16 r12, r2, r11, ror #8\n\t"         \
  "sxtab16 r11, r2, r11\n\t"                 \
  "stmia r3!, {r9, r10, r11, r12}\n\t"
__attribute__((noinline, optimize("omit-frame-pointer"))) static void tn_widen_six_pixels_asm(const tn_widen_asm_args* args) {
  register const tn_widen_asm_args* r0 __asm__("r0") = args;
  __asm__ volatile(
      "ldr r1, [r0, #4]\n\t"
      "ldr r2, [r0, #8]\n\t"
      "ldr r3, [r0, #12]\n\t"
      "ldr r4, [r0, #16]\n\t"
      "ldr r0, [r0]\n\t"
      "add r5, r0, r1\n\t"
      "add r6, r5, r1\n\t"
      "add r7, r6, r1\n\t"
      "add r8, r7, r1\n\t"
      "add r1, r8, r1\n\t"
      "1:\n\t"
      TN_ASM_WIDEN_TWO_PIXELS("r0", "r5") TN_ASM_WIDEN_TWO_PIXELS("r6", "r7") TN_ASM_WIDEN_TWO_PIXELS("r8", "r1")
      "cmp r3, r4\n\t"
      "bne 1b\n\t"
      : "+r"(r0)
      :
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
}
#undef TN_ASM_WIDEN_TWO_PIXELS

/* The 1x1 convolutions' step on the cores: TN_POINTWISE_PIXELS_PER_STEP (6) pixels, whose columns
 * (48 bytes a group) one LDM of four words brings two pixels at a time. Eight pixels hold all the
 * registers with their sums, so each pixel's column pair took an LDRD of its own; six sums leave four
 * registers for the LDM: a group is 18 instructions for 24 multiply-accumulates instead of 27 for 32.
 * The groups after the first run in a 16-group loop entered part way (the columns pointer advances
 * with the LDMs, so the entry needs no move back). */
#define TN_ASM_LDM_PAIR(s0, s1, f0, f1)                                                      \
  "ldmia.w r12!, {r6, r7, r10, r11}\n\t"                                                     \
  "smlad " s0 ", r6, r8, " f0 "\n\t" "smlad " s0 ", r7, r9, " s0 "\n\t"                     \
  "smlad " s1 ", r10, r8, " f1 "\n\t" "smlad " s1 ", r11, r9, " s1 "\n\t"
#define TN_ASM_WEIGHT_WORD   \
  "ldr.w r8, [lr], #4\n\t"     \
  "sxtb16 r9, r8, ror #8\n\t" \
  "sxtb16 r8, r8\n\t"
#define TN_ASM_GROUP6 \
  TN_ASM_WEIGHT_WORD TN_ASM_LDM_PAIR("r0", "r1", "r0", "r1") TN_ASM_LDM_PAIR("r2", "r3", "r2", "r3") \
  TN_ASM_LDM_PAIR("r4", "r5", "r4", "r5")
#define TN_ASM_GROUP6_X4 TN_ASM_GROUP6 TN_ASM_GROUP6 TN_ASM_GROUP6 TN_ASM_GROUP6
#if TN_POINTWISE_LOOP_GROUPS != 16
#error "tn_pointwise_step6_asm's loop runs 16 groups a pass"
#endif
TN_ASM_FUNCTION(tn_pointwise_step6_asm, const tn_matmul_asm_args,
      TN_ASM_ARGS_TO_STACK
      "mov lr, r11\n\t"
      "adr r9, 4f\n\t"
      "add r9, r9, r1\n\t"
      "orr r9, r9, #1\n\t"
      "str r9, [sp, #44]\n\t"
      "1:\n\t"
      /* The first group starts every sum from the bias, held in r5 (the last sum it updates). */
      "ldr r11, [sp, #12]\n\t"
      "ldr r5, [r11, r12, lsl #2]\n\t"
      "str r12, [sp, #40]\n\t"
      "ldr r12, [sp, #0]\n\t"
      TN_ASM_WEIGHT_WORD
      TN_ASM_LDM_PAIR("r0", "r1", "r5", "r5") TN_ASM_LDM_PAIR("r2", "r3", "r5", "r5")
      TN_ASM_LDM_PAIR("r4", "r5", "r5", "r5")
      "ldr r10, [sp, #44]\n\t"
      "bx r10\n\t"
      ".balign 4\n\t"
      "4:\n\t"
      TN_ASM_GROUP6_X4 TN_ASM_GROUP6_X4 TN_ASM_GROUP6_X4 TN_ASM_GROUP6_X4
      "6:\n\t"
      ".if (6b - 4b) != 16 * 72\n\t"
      ".error \"tn_pointwise_step6_asm: a group is not 72 bytes, the loop entry would be wrong\"\n\t"
      ".endif\n\t"
      "ldr r10, [sp, #8]\n\t"
      "cmp r12, r10\n\t"
      "bne 4b\n\t"
      /* The channel's multiplier (r8), e = -shift (r10) and folded constant (2 offset + 1) 2^(e-1) (r9). */
      "ldr r12, [sp, #40]\n\t"
      "ldr r11, [sp, #16]\n\t"
      "ldr r8, [r11, r12, lsl #2]\n\t"
      "ldr r11, [sp, #20]\n\t"
      "ldr r10, [r11, r12, lsl #2]\n\t"
      "rsb r10, r10, #0\n\t"
      "ldr r11, [sp, #24]\n\t"
      "sub r9, r10, #1\n\t"
      "lsl r9, r11, r9\n\t"
      /* Pixel 0 at the output pointer, then pairs from r7: r6 holds the stride. */
      TN_ASM_REQUANTIZE("r0") "strb r11, [r12]\n\t"
      "ldr r6, [sp, #28]\n\t"
      TN_ASM_REQUANTIZE("r1") "strb r11, [r12, r6]\n\t"
      "add r7, r12, r6, lsl #1\n\t"
      TN_ASM_REQUANTIZE("r2") "strb r11, [r7]\n\t"
      TN_ASM_REQUANTIZE("r3") "strb r11, [r7, r6]\n\t"
      "add r7, r7, r6, lsl #1\n\t"
      TN_ASM_REQUANTIZE("r4") "strb r11, [r7]\n\t"
      TN_ASM_REQUANTIZE("r5") "strb r11, [r7, r6]\n\t"
      "ldr r11, [sp, #32]\n\t"
      "add r12, r12, #1\n\t"
      "cmp r12, r11\n\t"
      "bne 1b\n\t"
      "add sp, sp, #56\n\t")
#undef TN_ASM_GROUP6_X4
#undef TN_ASM_GROUP6
#undef TN_ASM_WEIGHT_WORD
#undef TN_ASM_LDM_PAIR
#undef TN_ASM_ARGS_TO_STACK
#undef TN_ASM_GROUP4
#undef TN_ASM_FIRST4
#undef TN_ASM_STORES4
#undef TN_ASM_GROUP1
#undef TN_ASM_FIRST1
#undef TN_ASM_STORES1
#undef TN_ASM_FIRST_PIXEL
#undef TN_ASM_GROUP
#undef TN_ASM_PIXEL
#undef TN_ASM_REQUANTIZE
#endif

/* The C steps: instances with constants for full steps of rows whose shifts fold, with and without the
 * full-range clamp (one SSAT), and one general instance for the rest (the last step, other shifts).
 * One copy that every convolution loop calls (inlined into each, it multiplied their code): on the
 * cores only the layers the assembly does not take come here. */
static TN_NOINLINE void tn_matmul_step_c(const tn_conv_params* p, const tn_matmul_rows* m, const int16_t* cols,
                                         int32_t row, int8_t* out, int32_t valid, int shifts_fold, int full_range) {
  if (valid == TN_PX && shifts_fold && full_range)
    tn_matmul_step(p, m, cols, row, out, TN_PX, 1, 1);
  else if (valid == TN_PX && shifts_fold)
    tn_matmul_step(p, m, cols, row, out, TN_PX, 0, 1);
  else
    tn_matmul_step(p, m, cols, row, out, valid, 0, 0);
}

#if defined(TN_ASM_THUMB2)
/* Points the assembly step's per-channel array bases (biased by -4 * out) and output range at the
 * step's outputs at `out`. */
TN_INLINE void tn_matmul_asm_args_at(tn_matmul_asm_args* a, const tn_matmul_rows* m, int8_t* out) {
  a->bias_base = (uint32_t)(uintptr_t)m->bias - 4u * (uint32_t)(uintptr_t)out;
  a->multiplier_base = (uint32_t)(uintptr_t)m->multiplier - 4u * (uint32_t)(uintptr_t)out;
  a->shift_base = (uint32_t)(uintptr_t)m->shift - 4u * (uint32_t)(uintptr_t)out;
  a->out = out;
  a->out_end = out + m->rows;
}
#endif

TN_INLINE void tn_matmul_step_dispatch(const tn_conv_params* p, const tn_matmul_rows* m, const int16_t* cols,
                                       int32_t row, int8_t* out, int32_t valid, int shift_form) {
  /* On the cores the common case (every shift in [-22, -1], the clamp of no activation or of a ReLU6
   * whose range covers the output's, rows of two groups or more) runs an assembly step chosen by the
   * step's pixels and the row's groups; everything else the C steps. */
  const int full_range = p->q.act_min == -128 && p->q.act_max == 127;
  const int shifts_fold = shift_form != TN_SHIFTS_GENERAL;
#if defined(TN_ASM_THUMB2)
  if (shift_form == TN_SHIFTS_FOLD_NONZERO && full_range && row >= 8) {
    /* After the first group, (groups - 1) % 4 groups run in a first, partial pass of the loop, which
     * is entered at group (4 - that) % 4 with the columns pointer moved back as many groups. */
    const int32_t groups = row >> 2, skipped = (4 - ((groups - 1) & 3)) & 3;
    const int32_t columns = tn_conv_step_columns(valid);
    const int32_t group_code_bytes = columns == TN_PX ? 108 : columns == 4 ? 60 : 24;
    tn_matmul_asm_args a;
    a.cols = cols;
    a.cols_entry = (uint32_t)(uintptr_t)cols + (uint32_t)((1 - skipped) * 8 * TN_PX);
    a.cols_end = cols + groups * 4 * TN_PX;
    a.entry_bytes = skipped * group_code_bytes;
    a.offset_odd = 2 * p->q.output_offset + 1;
    a.out_stride = m->out_stride;
    a.weights = m->weights;
    a.valid = valid;
    tn_matmul_asm_args_at(&a, m, out);
    /* a last step: the columns past `valid` are zeros, their sums not stored */
    if (valid == TN_PX && groups == 2)
      tn_matmul_step_asm_two_groups(&a);
    else if (valid == TN_PX)
      tn_matmul_step_asm(&a);
    else if (columns == TN_PX)
      tn_matmul_step_asm_tail(&a);
    else if (columns == 4)
      tn_matmul_step_asm4(&a);
    else
      tn_matmul_step_asm1(&a);
    return;
  }
#endif
  tn_matmul_step_c(p, m, cols, row, out, valid, shifts_fold, full_range);
}

/* The weight rows of group g. */
TN_INLINE tn_matmul_rows tn_group_rows(const tn_conv_params* p, int32_t group, int32_t group_out, int32_t row) {
  tn_matmul_rows m;
  m.weights = p->weights + group * group_out * row;
  m.bias = p->bias + group * group_out;
  m.multiplier = p->q.multiplier + group * group_out;
  m.shift = p->q.shift + group * group_out;
  m.rows = group_out;
  m.out_stride = p->out_c;
  return m;
}

/* The reach of a window along one dimension: (kernel - 1) * dilation + 1. */
TN_INLINE int32_t tn_window_extent(int32_t kernel, int32_t dilation) { return (kernel - 1) * dilation + 1; }

static int tn_conv_params_valid(const tn_conv_params* p) {
  const tn_window* w = &p->window;
  return p->in_h > 0 && p->in_w > 0 && p->in_c > 0 && p->out_h > 0 && p->out_w > 0 && p->out_c > 0 &&
         w->kernel_h > 0 && w->kernel_w > 0 && w->stride_h > 0 && w->stride_w > 0 && w->dilation_h > 0 &&
         w->dilation_w > 0 && w->pad_h >= 0 && w->pad_w >= 0 &&
         w->pad_h < tn_window_extent(w->kernel_h, w->dilation_h) &&
         w->pad_w < tn_window_extent(w->kernel_w, w->dilation_w) && p->groups > 0 && p->in_c % p->groups == 0 &&
         p->out_c % p->groups == 0 && p->weights && p->bias && p->q.multiplier && p->q.shift &&
         p->q.act_min <= p->q.act_max && p->q.act_min >= -128 && p->q.act_max <= 127;
}

/* The convolution loop over steps of TN_PX output pixels, each step group by group; the window and
 * the channels are passed separately so the stem instance sees constants. */
TN_INLINE void tn_conv_loop(const tn_conv_params* p, const int8_t* input, int8_t* output, int16_t* cols,
                            int32_t kernel_h, int32_t kernel_w, int32_t stride_h, int32_t stride_w,
                            int32_t dilation_h, int32_t dilation_w, int32_t in_c, int32_t group_c) {
  const int32_t row = tn_conv_weights_row_length(group_c, kernel_h, kernel_w);
  const int32_t groups = in_c / group_c, group_out = p->out_c / groups;
  int8_t* const stage = (int8_t*)(void*)(cols + TN_PX * row);
  const int32_t pixels = p->out_h * p->out_w;
  const int shift_form = tn_shift_form(p->q.shift, p->out_c);
  tn_im2col_geometry geo;
  int32_t first;
  int32_t oy = 0, ox = 0;
  geo.in_h = p->in_h;
  geo.in_w = p->in_w;
  geo.pad_h = p->window.pad_h;
  geo.pad_w = p->window.pad_w;
  geo.input_offset = p->q.input_offset;
  geo.pad_word = (int32_t)((uint32_t)(uint8_t)(int8_t)-p->q.input_offset * 0x01010101u);
  for (first = 0; first < pixels; first += TN_PX) {
    const int32_t valid = pixels - first < TN_PX ? pixels - first : TN_PX;
    const int32_t step_oy = oy, step_ox = ox;
    int32_t g;
    for (g = 0; g < groups; ++g) {
      const tn_matmul_rows m = tn_group_rows(p, g, group_out, row);
      int32_t s;
      oy = step_oy;
      ox = step_ox;
      for (s = 0; s < valid; ++s) {
        tn_im2col_pixel(geo, input + g * group_c, oy, ox, cols, stage, s, kernel_h, kernel_w, stride_h, stride_w,
                        dilation_h, dilation_w, in_c, group_c);
        if (++ox == p->out_w) {
          ox = 0;
          ++oy;
        }
      }
      for (; s < TN_PX; ++s) tn_zero_column(row, cols, s);
      tn_matmul_step_dispatch(p, &m, cols, row, output + first * p->out_c + g * group_out, valid, shift_form);
    }
  }
}

tn_status tn_conv2d_s8(const tn_conv_params* p, const int8_t* input, int8_t* output, int16_t* scratch) {
  const tn_window* w = p ? &p->window : 0;
  if (!p || !input || !output || !scratch || !tn_conv_params_valid(p)) return TN_ERROR_ARGUMENT;
  /* The stem: 3x3 stride 2 over a gray or RGB image, with the im2col loops unrolled. */
  if (w->kernel_h == 3 && w->kernel_w == 3 && w->stride_h == 2 && w->stride_w == 2 && w->dilation_h == 1 &&
      w->dilation_w == 1 && p->groups == 1 && p->in_c == 3)
    tn_conv_loop(p, input, output, scratch, 3, 3, 2, 2, 1, 1, 3, 3);
  else if (w->kernel_h == 3 && w->kernel_w == 3 && w->stride_h == 2 && w->stride_w == 2 && w->dilation_h == 1 &&
           w->dilation_w == 1 && p->groups == 1 && p->in_c == 1)
    tn_conv_loop(p, input, output, scratch, 3, 3, 2, 2, 1, 1, 1, 1);
  else
    tn_conv_loop(p, input, output, scratch, w->kernel_h, w->kernel_w, w->stride_h, w->stride_w, w->dilation_h,
                 w->dilation_w, p->in_c, p->in_c / p->groups);
  return TN_OK;
}

tn_status tn_pointwise_conv_s8(const tn_conv_params* p, const int8_t* input, int8_t* output, int16_t* scratch) {
  const int32_t pixels = p ? p->in_h * p->in_w : 0;
  int32_t first;
  if (!p || !input || !output || !scratch || !tn_conv_params_valid(p) || p->window.kernel_h != 1 ||
      p->window.kernel_w != 1 || p->window.stride_h != 1 || p->window.stride_w != 1 || p->window.pad_h != 0 ||
      p->window.pad_w != 0 || p->groups != 1 || p->out_h != p->in_h || p->out_w != p->in_w)
    return TN_ERROR_ARGUMENT;
  {
    const int32_t row = tn_conv_weights_row_length(p->in_c, 1, 1);
    const tn_matmul_rows m = tn_group_rows(p, 0, p->out_c, row);
    const int shift_form = tn_shift_form(p->q.shift, p->out_c);
    first = 0;
#if defined(TN_ASM_THUMB2)
    if (tn_pointwise_takes_six_pixel_steps(p->in_c) && shift_form == TN_SHIFTS_FOLD_NONZERO &&
        p->q.act_min == -128 && p->q.act_max == 127) {
      /* The cores' common case (tn_pointwise_step6_asm) in steps of six pixels; a last step of fewer
       * runs as below. After the first group, (groups - 1) % 16 groups run in a first, partial pass of
       * the loop (72 code bytes a group). */
      const int32_t groups = row >> 2, rest = groups - 1;
      const int32_t full = pixels - pixels % TN_POINTWISE_PIXELS_PER_STEP;
      tn_matmul_asm_args a;
      a.cols = scratch;
      a.cols_entry = 0;
      a.cols_end = scratch + groups * 4 * TN_POINTWISE_PIXELS_PER_STEP;
      a.entry_bytes = (TN_POINTWISE_LOOP_GROUPS - rest % TN_POINTWISE_LOOP_GROUPS) % TN_POINTWISE_LOOP_GROUPS * 72;
      a.offset_odd = 2 * p->q.output_offset + 1;
      a.out_stride = m.out_stride;
      a.weights = m.weights;
      a.valid = TN_POINTWISE_PIXELS_PER_STEP;
      tn_widen_asm_args widen;
      widen.in_c = p->in_c;
      widen.offset2 = tn_pack16(p->q.input_offset, p->q.input_offset);
      widen.cols = scratch;
      widen.cols_end = scratch + p->in_c * TN_POINTWISE_PIXELS_PER_STEP;
      for (; first < full; first += TN_POINTWISE_PIXELS_PER_STEP) {
        widen.in = input + first * p->in_c;
        tn_widen_six_pixels_asm(&widen);
        tn_matmul_asm_args_at(&a, &m, output + first * p->out_c);
        tn_pointwise_step6_asm(&a);
      }
    }
#endif
    for (; first < pixels; first += TN_PX) {
      const int32_t valid = pixels - first < TN_PX ? pixels - first : TN_PX;
      int32_t s;
#if defined(TN_DSP)
      if (valid == TN_PX && row == p->in_c)
        tn_widen_step(input + first * p->in_c, p->in_c, p->q.input_offset, scratch);
      else
#endif
        {
          for (s = 0; s < valid; ++s) {
            tn_widen_run(input + (first + s) * p->in_c, p->in_c, p->q.input_offset, scratch, s);
            tn_zero_run(p->in_c, row - p->in_c, scratch, s);
          }
          for (; s < TN_PX; ++s) tn_zero_column(row, scratch, s);
        }
      tn_matmul_step_dispatch(p, &m, scratch, row, output + first * p->out_c, valid, shift_form);
    }
  }
  return TN_OK;
}
