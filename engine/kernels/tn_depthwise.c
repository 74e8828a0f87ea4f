/* Depthwise convolution, one channel at a time through an int16 plane in the scratch (3x3 stride-2
 * layers with whole groups of four channels: four channels at a time straight from the input, see
 * tn_dw3x3_s2_quads).
 *
 * The plane holds the channel with its padding, widened to int16 (raw values; the input offset is
 * folded into the bias), so the inner loops need no bounds checks and load two neighbouring values
 * with one (unaligned) word load for SMLAD. Copying the whole channel out before writing any of its
 * outputs is also what makes the in-place variant safe: output (oy, ox, c) only overwrites input
 * slots of channel c, which the plane already holds. The plane's border is set to the zero point
 * once per call; each channel then rewrites only the interior. */
#include "tn_arith.h"
#include "tn_kernels.h"
#include "tn_scratch.h"

/* Largest kernel whose weights are widened into a local array. */
#define TN_DW_MAX_KERNEL 7

/* Copies channel `channel` of the input into the plane's interior as raw int8 values: the input
 * offset is folded into the bias instead (tn_effective_bias) and the border holds the zero point, so
 * the copy is one load and one store per element. */
#if !defined(TN_ASM_THUMB2) /* the cores take tn_fill_plane_asm */
static void tn_fill_plane(const tn_depthwise_params* p, const int8_t* input, int32_t channel, int16_t* plane,
                          int32_t plane_w) {
  const int32_t c = p->channels, c2 = 2 * c, c3 = 3 * c, in_w = p->in_w;
  const int8_t* src = input + channel;
  int16_t* dst = plane + p->pad_h * plane_w + p->pad_w;
  int16_t* const end = dst + p->in_h * plane_w;
  const int32_t skip = plane_w - in_w; /* the border columns between two rows */
  do {
    /* Eight values per iteration, two per (unaligned) word store; the second four through their
     * own base pointer, so every load is a base plus one of three offset registers. Rows of the
     * input follow each other, so src just keeps going. */
    int32_t n = in_w;
    for (; n >= 8; n -= 8) {
      const int8_t* src4 = src + 2 * c2;
      tn_write_s32(dst, tn_pack16(src[0], src[c]));
      tn_write_s32(dst + 2, tn_pack16(src[c2], src[c3]));
      tn_write_s32(dst + 4, tn_pack16(src4[0], src4[c]));
      tn_write_s32(dst + 6, tn_pack16(src4[c2], src4[c3]));
      src = src4 + 2 * c2;
      dst += 8;
    }
    /* The last 0-3 pairs straight through (a loop's set-up and tests cost more than the copies on
     * rows of 10-40 values), then an odd last value. */
#define TN_FILL_PAIR                                \
  tn_write_s32(dst, tn_pack16(src[0], src[c]));     \
  src += c2;                                        \
  dst += 2;
    switch (n >> 1) {
      case 3: TN_FILL_PAIR /* fall through */
      case 2: TN_FILL_PAIR /* fall through */
      case 1: TN_FILL_PAIR /* fall through */
      default: break;
    }
#undef TN_FILL_PAIR
    if (n & 1) {
      *dst++ = *src;
      src += c;
    }
    dst += skip;
  } while (dst != end);
}
#endif

#if defined(TN_ASM_THUMB2)
/* tn_fill_plane in assembly: every value of the loop in a register (GCC spent about 30 instructions a
 * row around its loop), eight values per iteration through two pairs of PKHBT and four stores, then
 * the row's last 4, 2 and 1 values. Field order is the LDM order. */
typedef struct {
  const int8_t* src; /* r0: the channel's first input value */
  int16_t* dst;      /* r1: the plane's first interior value */
  int32_t c;         /* r2-r4: the input's channels, twice and three times that */
  int32_t c2;
  int32_t c3;
  int16_t* dst_end;  /* r10 (r5-r9 are the loop's values and a row's end of whole groups of 8) */
  int32_t skip_bytes; /* r11: 2 (plane_w - in_w), the border between two rows */
  int32_t group_bytes; /* r12: (in_w & ~7) c, the input span of a row's groups of 8 (the straight
                        * instances below: their entry) */
  int32_t tail;      /* lr: in_w & 7 (the straight instances: in_w & 3) */
} tn_fill_plane_args;

/* Four values: four byte loads c apart, two pairs packed, two (unaligned) word stores. */
#define TN_FILL4_ASM                                                                                \
  "ldrsb r5, [r0]\n\t" "ldrsb r6, [r0, r2]\n\t" "ldrsb r7, [r0, r3]\n\t" "ldrsb r8, [r0, r4]\n\t"    \
  "add r0, r0, r2, lsl #2\n\t" "pkhbt r5, r5, r6, lsl #16\n\t" "pkhbt r7, r7, r8, lsl #16\n\t"        \
  "str r7, [r1, #4]\n\t" "str r5, [r1], #8\n\t"

TN_ASM_FUNCTION(tn_fill_plane_asm, const tn_fill_plane_args,
      "add r12, r0, #20\n\t"
      "ldmia r12, {r10-r12, lr}\n\t"
      "ldmia r0, {r0-r4}\n\t"
      "1:\n\t"
      "add r9, r0, r12\n\t"
      "cmp r0, r9\n\t"
      "beq 3f\n\t"
      "2:\n\t" TN_FILL4_ASM TN_FILL4_ASM
      "cmp r0, r9\n\t"
      "bne 2b\n\t"
      "3:\n\t"
      "tst lr, #4\n\t"
      "beq 4f\n\t" TN_FILL4_ASM
      "4:\n\t"
      "tst lr, #2\n\t"
      "beq 5f\n\t"
      "ldrsb r5, [r0]\n\t"
      "ldrsb r6, [r0, r2]\n\t"
      "add r0, r0, r3\n\t"
      "pkhbt r5, r5, r6, lsl #16\n\t"
      "str r5, [r1], #4\n\t"
      "5:\n\t"
      "tst lr, #1\n\t"
      "beq 6f\n\t"
      "ldrsb r5, [r0]\n\t"
      "add r0, r0, r2\n\t"
      "strh r5, [r1], #2\n\t"
      "6:\n\t"
      "add r1, r1, r11\n\t"
      "cmp r1, r10\n\t"
      "bne 1b\n\t")

/* Rows of at most 4 TN_FILL_SHORT_GROUPS values: the groups of four run straight, entered part way
 * (entry_bytes 36 times the groups a row lacks), then the row's last 2 and 1 values, in the instance
 * whose rows have them (the flags of one shift tell which), so a row costs a branch and its end test. */
#define TN_FILL_SHORT_GROUPS 8
/* TN_FILL4_ASM in 32-bit encodings: 36 bytes a group, for the entry. */
#define TN_FILL4_WIDE_ASM                                                                           \
  "ldrsb.w r5, [r0]\n\t" "ldrsb.w r6, [r0, r2]\n\t" "ldrsb.w r7, [r0, r3]\n\t" "ldrsb.w r8, [r0, r4]\n\t" \
  "add.w r0, r0, r2, lsl #2\n\t" "pkhbt r5, r5, r6, lsl #16\n\t" "pkhbt r7, r7, r8, lsl #16\n\t"    \
  "str.w r7, [r1, #4]\n\t" "str r5, [r1], #8\n\t"
#define TN_FILL_TAIL_ASM                  \
  "lsls r12, lr, #31\n\t" /* C: a pair, N: a single value */ \
  "bcc 6f\n\t"                           \
  "ldrsb r5, [r0]\n\t"                   \
  "ldrsb r6, [r0, r2]\n\t"               \
  "add r0, r0, r3\n\t"                   \
  "pkhbt r5, r5, r6, lsl #16\n\t"        \
  "str r5, [r1], #4\n\t"                 \
  "6:\n\t"                               \
  "bpl 7f\n\t"                           \
  "ldrsb r5, [r0]\n\t"                   \
  "add r0, r0, r2\n\t"                   \
  "strh r5, [r1], #2\n\t"                \
  "7:\n\t"
#define TN_FILL_SHORT_ASM_FUNCTION(name, TAIL)                                                              \
  TN_ASM_FUNCTION(name, const tn_fill_plane_args,                                                           \
        "add r12, r0, #20\n\t"                                                                              \
        "ldmia r12, {r10-r12, lr}\n\t"                                                                      \
        "ldmia r0, {r0-r4}\n\t"                                                                             \
        "adr r9, 4f\n\t"                                                                                    \
        "add r9, r9, r12\n\t"                                                                               \
        "orr r9, r9, #1\n\t"                                                                                \
        "1:\n\t"                                                                                            \
        "bx r9\n\t"                                                                                         \
        ".balign 4\n\t"                                                                                     \
        "4:\n\t" TN_FILL4_WIDE_ASM TN_FILL4_WIDE_ASM TN_FILL4_WIDE_ASM TN_FILL4_WIDE_ASM TN_FILL4_WIDE_ASM   \
        TN_FILL4_WIDE_ASM TN_FILL4_WIDE_ASM TN_FILL4_WIDE_ASM                                                \
        "5:\n\t"                                                                                            \
        ".if (5b - 4b) != 8 * 36\n\t"                                                                       \
        ".error \"" #name ": a group is not 36 bytes, the entry would be wrong\"\n\t"                        \
        ".endif\n\t" TAIL                                                                                    \
        "add r1, r1, r11\n\t"                                                                               \
        "cmp r1, r10\n\t"                                                                                   \
        "bne 1b\n\t")
typedef char tn_fill_short_groups_check[TN_FILL_SHORT_GROUPS == 8 ? 1 : -1]; /* the eight groups above */
TN_FILL_SHORT_ASM_FUNCTION(tn_fill_plane_short_asm, )
TN_FILL_SHORT_ASM_FUNCTION(tn_fill_plane_short_asm_tail, TN_FILL_TAIL_ASM)
#undef TN_FILL_SHORT_ASM_FUNCTION
#undef TN_FILL_TAIL_ASM
#undef TN_FILL4_WIDE_ASM
#undef TN_FILL4_ASM

/* A channel's rows into the plane: the straight instances for rows of at most 4 TN_FILL_SHORT_GROUPS
 * values, the loop otherwise. */
static void tn_fill_plane_run(tn_fill_plane_args* fill, int32_t in_w) {
  if (in_w > 4 * TN_FILL_SHORT_GROUPS)
    tn_fill_plane_asm(fill);
  else if (in_w & 3)
    tn_fill_plane_short_asm_tail(fill);
  else
    tn_fill_plane_short_asm(fill);
}
#endif

#if defined(TN_DSP) /* the small-map paths */
/* tn_fill_plane for small maps (a few values per row), where its word-pair loops cost more than they
 * save: one load and one store per value. */
TN_INLINE void tn_fill_plane_small(const tn_depthwise_params* p, const int8_t* input, int32_t channel, int16_t* plane,
                                   int32_t plane_w) {
  const int32_t c = p->channels, in_w = p->in_w;
  const int8_t* src = input + channel;
  int16_t* dst = plane + p->pad_h * plane_w + p->pad_w;
  int16_t* const end = dst + p->in_h * plane_w;
  do {
    int16_t* const row_end = dst + in_w;
    do {
      *dst++ = *src;
      src += c;
    } while (dst != row_end);
    dst += plane_w - in_w;
  } while (dst != end);
}
#endif

/* The plane before the first channel: every element the zero point (-input_offset), so the border
 * stands for real zeros once the interior holds raw values. */
static void tn_init_plane(int16_t* plane, int32_t elements, int32_t input_offset) {
  int32_t i;
  for (i = 0; i < elements; ++i) plane[i] = (int16_t)-input_offset;
}

/* bias + input_offset * sum(weights): the sums over raw input values then equal the sums over
 * offset-corrected ones, exactly. */
static int32_t tn_effective_bias(int32_t bias, const int8_t* w, int32_t taps, int32_t input_offset) {
  int32_t sum = 0, i;
  for (i = 0; i < taps; ++i) sum += w[i];
  return bias + input_offset * sum;
}

#if defined(TN_DSP)

/* The 3x3 kernels (stride 1 or 2), the depthwise layers of most MCU networks, in two passes per output
 * row: a multiply-accumulate pass that writes int32 sums into the row buffer and a requantization
 * pass. Each is its own function, so each gets the registers for its constants (the nine weights in
 * five words; the requantization constants) instead of reloading them from the stack. Two outputs
 * share the loads of each plane row. */

typedef struct {
  int32_t w01, w34, w67; /* (w[ky][0], w[ky][1]) */
  int32_t w25, w8;       /* the last column: (w[0][2], w[1][2]) and (w[2][2], 0) */
  int32_t bias;
  int32_t w12, w45, w78; /* (w[ky][1], w[ky][2]): the assembly multiply pass (tn_dw3x3_s1_sums_asm) */
} tn_dw3x3_weights;

/* The last output of an odd-width row, its window at q (rows q, q + plane_w, q + 2 plane_w). The
 * third column is loaded as a single value: a word load would reach one element past the plane. */
TN_INLINE int32_t tn_dw3x3_single(const int16_t* q, int32_t plane_w, const tn_dw3x3_weights* k) {
  int32_t a = k->bias;
  a = tn_smlabb(q[2], k->w25, tn_smlad(tn_read_s32(q), k->w01, a));
  a = tn_smlabt(q[plane_w + 2], k->w25, tn_smlad(tn_read_s32(q + plane_w), k->w34, a));
  return tn_smlabb(q[2 * plane_w + 2], k->w8, tn_smlad(tn_read_s32(q + 2 * plane_w), k->w67, a));
}

/* Sums of `rows` output rows of width out_w into s (row after row), the first row's window at r0.
 * One call per block of tn_depthwise_sum_rows rows keeps the call overhead off the short rows of small
 * feature maps. */
static TN_NOINLINE void tn_dw3x3_sums_s1(const int16_t* r0, int32_t plane_w, int32_t out_w, int32_t rows,
                                         const tn_dw3x3_weights* k, int32_t* s) {
  const int32_t w01 = k->w01, w34 = k->w34, w67 = k->w67, w25 = k->w25, w8 = k->w8, bias = k->bias;
  const int32_t pairs = out_w >> 1;
  /* One pair of outputs at column offset `col` of the row pointers. */
#define TN_DW3X3_S1_PAIR(col, out)                                  \
  {                                                                 \
    int32_t a0 = bias, a1 = bias, x;                                \
    x = tn_read_s32(p0 + (col) + 2);                                \
    a0 = tn_smlabb(x, w25, tn_smlad(tn_read_s32(p0 + (col)), w01, a0));     \
    a1 = tn_smlatb(x, w25, tn_smlad(tn_read_s32(p0 + (col) + 1), w01, a1)); \
    x = tn_read_s32(p1 + (col) + 2);                                \
    a0 = tn_smlabt(x, w25, tn_smlad(tn_read_s32(p1 + (col)), w34, a0));     \
    a1 = tn_smlatt(x, w25, tn_smlad(tn_read_s32(p1 + (col) + 1), w34, a1)); \
    x = tn_read_s32(p2 + (col) + 2);                                \
    a0 = tn_smlabb(x, w8, tn_smlad(tn_read_s32(p2 + (col)), w67, a0));      \
    a1 = tn_smlatb(x, w8, tn_smlad(tn_read_s32(p2 + (col) + 1), w67, a1));  \
    (out)[0] = a0;                                                  \
    (out)[1] = a1;                                                  \
  }
  {
    /* The row pointers run on from row to row, past the border columns in between. */
    const int16_t* p0 = r0;
    const int16_t* p1 = p0 + plane_w;
    const int16_t* p2 = p1 + plane_w;
    const int32_t skip = plane_w - 2 * pairs;
    int32_t* const end = s + rows * out_w;
    do {
      int32_t* const end4 = s + 4 * (pairs >> 1);
      while (s != end4) { /* two pairs per iteration, so the pointer updates are shared */
        TN_DW3X3_S1_PAIR(0, s)
        TN_DW3X3_S1_PAIR(2, s + 2)
        s += 4;
        p0 += 4;
        p1 += 4;
        p2 += 4;
      }
      if (pairs & 1) {
        TN_DW3X3_S1_PAIR(0, s)
        s += 2;
        p0 += 2;
        p1 += 2;
        p2 += 2;
      }
      if (out_w & 1) *s++ = tn_dw3x3_single(p0, plane_w, k);
      p0 += skip;
      p1 += skip;
      p2 += skip;
    } while (s != end);
  }
#undef TN_DW3X3_S1_PAIR
}

/* Stride 2: output 0 reads columns 0-2, output 1 columns 2-4 (the fifth alone: on a plane 2 out_w + 1
 * wide a word would reach past its last row); rows advance by two plane rows. */
static TN_NOINLINE void tn_dw3x3_sums_s2(const int16_t* r0, int32_t plane_w, int32_t out_w, int32_t rows,
                                         const tn_dw3x3_weights* k, int32_t* s) {
  const int32_t w01 = k->w01, w34 = k->w34, w67 = k->w67, w25 = k->w25, w8 = k->w8, bias = k->bias;
  const int32_t pairs = out_w >> 1;
  int32_t row;
  for (row = 0; row < rows; ++row) {
    const int16_t* p0 = r0 + 2 * row * plane_w;
    const int16_t* p1 = p0 + plane_w;
    const int16_t* p2 = p1 + plane_w;
    int32_t* const end = s + 2 * pairs;
    while (s != end) {
      int32_t a0 = bias, a1 = bias, x;
      x = tn_read_s32(p0 + 2);
      a0 = tn_smlabb(x, w25, tn_smlad(tn_read_s32(p0), w01, a0));
      a1 = tn_smlabb(p0[4], w25, tn_smlad(x, w01, a1));
      x = tn_read_s32(p1 + 2);
      a0 = tn_smlabt(x, w25, tn_smlad(tn_read_s32(p1), w34, a0));
      a1 = tn_smlabt(p1[4], w25, tn_smlad(x, w34, a1));
      x = tn_read_s32(p2 + 2);
      a0 = tn_smlabb(x, w8, tn_smlad(tn_read_s32(p2), w67, a0));
      a1 = tn_smlabb(p2[4], w8, tn_smlad(x, w67, a1));
      s[0] = a0;
      s[1] = a1;
      s += 2;
      p0 += 4;
      p1 += 4;
      p2 += 4;
    }
    if (out_w & 1) *s++ = tn_dw3x3_single(p0, plane_w, k);
  }
}

/* Requantizes n sums into every c-th output byte. */
TN_INLINE void tn_requant_row(const int32_t* sums, int32_t n, const tn_fast_requant* rq, int8_t* o, int32_t c,
                              int32_t offset, int32_t act_min, int32_t act_max, int full_range) {
  const tn_fast_requant r = *rq;
  const int32_t* const end2 = sums + (n & ~1);
  while (sums != end2) { /* two per iteration: one loop test for two outputs */
    o[0] = tn_output_value(tn_fast_requantize(sums[0], &r), offset, act_min, act_max, full_range);
    o[c] = tn_output_value(tn_fast_requantize(sums[1], &r), offset, act_min, act_max, full_range);
    sums += 2;
    o += 2 * c;
  }
  if (n & 1) *o = tn_output_value(tn_fast_requantize(*sums, &r), offset, act_min, act_max, full_range);
}
static TN_NOINLINE void tn_requant_row_full(const int32_t* sums, int32_t n, const tn_fast_requant* rq, int8_t* o,
                                            int32_t c, int32_t offset) {
  if (tn_fast_requant_folds(rq)) { /* the common case: rounding and zero point in one constant */
    const tn_fast_requant r = *rq;
    const int32_t folded = tn_fast_requant_folded_constant(&r, offset);
    const int32_t* const end2 = sums + (n & ~1);
    while (sums != end2) {
      o[0] = (int8_t)tn_ssat8(tn_fast_requantize_folded(sums[0], &r, folded));
      o[c] = (int8_t)tn_ssat8(tn_fast_requantize_folded(sums[1], &r, folded));
      sums += 2;
      o += 2 * c;
    }
    if (n & 1) *o = (int8_t)tn_ssat8(tn_fast_requantize_folded(*sums, &r, folded));
    return;
  }
  tn_requant_row(sums, n, rq, o, c, offset, -128, 127, 1);
}
static TN_NOINLINE void tn_requant_row_clamp(const int32_t* sums, int32_t n, const tn_fast_requant* r, int8_t* o,
                                             int32_t c, int32_t offset, int32_t act_min, int32_t act_max) {
  tn_requant_row(sums, n, r, o, c, offset, act_min, act_max, 0);
}

#if defined(TN_ASM_THUMB2)
/* The two passes of tn_dw3x3_channel_fast in assembly for stride 1 over a plane of even width (every
 * row word-aligned; an odd output width ends each row with a single output, in its own instance): GCC
 * kept a third of the multiply pass's live values on the stack. Each plane row of a pair of outputs is one LDRD of four values (x0..x3), and the weights
 * of a row are held twice, as (k0, k1) and (k1, k2):
 *   out0 = SMLAD((x0, x1), (k0, k1)) + x2 k2,  out1 = x1 k0 + SMLAD((x2, x3), (k1, k2)),
 * four multiplies and one load per row and pair. Field order is the LDM order. */
typedef struct {
  const int16_t* p0; /* r0-r2: the plane rows of the first window row */
  const int16_t* p1;
  const int16_t* p2;
  int32_t* sums;                        /* r3 */
  int32_t k01_0, k12_0, k01_1, k12_1;   /* r4-r9: (k0, k1) and (k1, k2) of window rows 0-2 */
  int32_t k01_2, k12_2;
  int32_t bias;                         /* the frame on the stack, from here on */
  const int32_t* sums_end;
  int32_t row_bytes;                    /* 8 (out_w / 2): the sums of a row's pairs */
  int32_t skip_bytes;                   /* 2 (plane_w - 2 (out_w / 2)): from a row's last pair to the next row */
  int32_t entry_bytes;                  /* 68 ((4 - (out_w / 2) % 4) % 4): the four-pair loop's entry */
} tn_dw3x3_s1_sums_args;

/* One pair of outputs: r10/r11 a row's four values (row 0 by a load that advances r0, rows 1 and 2
 * from LOAD1 and LOAD2), r12/lr the two sums, started from the register BIAS. Every instruction is 32
 * bits wide, 64 bytes a pair, for the loops' entries. */
#define TN_DW3X3_S1_PAIR_ROWS_ASM(BIAS, LOAD1, LOAD2)                                               \
  "ldrd r10, r11, [r0], #4\n\t" "smlatb lr, r10, r4, " BIAS "\n\t" "smlad r12, r10, r4, " BIAS "\n\t" \
  "smlabt r12, r11, r5, r12\n\t" "smlad lr, r11, r5, lr\n\t"                                        \
  "ldrd r10, r11, " LOAD1 "\n\t" "smlad r12, r10, r6, r12\n\t" "smlatb lr, r10, r6, lr\n\t"       \
  "smlabt r12, r11, r7, r12\n\t" "smlad lr, r11, r7, lr\n\t"                                        \
  "ldrd r10, r11, " LOAD2 "\n\t" "smlad r12, r10, r8, r12\n\t" "smlatb lr, r10, r8, lr\n\t"       \
  "smlabt r12, r11, r9, r12\n\t" "smlad lr, r11, r9, lr\n\t"                                        \
  "strd r12, lr, [r3], #8\n\t"
/* Here the bias is reloaded into r12 and each row has its pointer: 68 bytes a pair. */
#define TN_DW3X3_S1_PAIR_ASM "ldr.w r12, [sp]\n\t" TN_DW3X3_S1_PAIR_ROWS_ASM("r12", "[r1], #4", "[r2], #4")

/* The single output ending a row of odd width: (x0, x1) times (k0, k1) and x2 times k2, the top of
 * (k1, k2); ROW0-ROW2 the rows' addresses as "base, #offset". */
#define TN_DW3X3_S1_SINGLE_ROWS_ASM(BIAS, ROW0, ROW1, ROW2)                                                  \
  "ldr r10, [" ROW0 "]\n\t" "ldrsh r11, [" ROW0 " + 4]\n\t" "smlad r12, r10, r4, " BIAS "\n\t"              \
  "smlabt r12, r11, r5, r12\n\t"                                                                             \
  "ldr r10, [" ROW1 "]\n\t" "ldrsh r11, [" ROW1 " + 4]\n\t" "smlad r12, r10, r6, r12\n\t" "smlabt r12, r11, r7, r12\n\t" \
  "ldr r10, [" ROW2 "]\n\t" "ldrsh r11, [" ROW2 " + 4]\n\t" "smlad r12, r10, r8, r12\n\t" "smlabt r12, r11, r9, r12\n\t" \
  "str r12, [r3], #4\n\t"
#define TN_DW3X3_S1_SINGLE_ASM \
  "ldr r12, [sp]\n\t" TN_DW3X3_S1_SINGLE_ROWS_ASM("r12", "r0, #0", "r1, #0", "r2, #0")
/* The sums of the rows from p0.. up to sums_end, row after row; returns the row pointers advanced to
 * the next row's windows. Two instances, for even and odd output widths (SINGLE the code after a row's
 * pairs), so that even rows pay no test. A row's pairs run in a four-pair loop entered part way (the entry address, with
 * the Thumb bit, at [sp, #16]), so that the passes end exactly at the row's last pair. */
#define TN_DW3X3_S1_SUMS_ASM_FUNCTION(name, SINGLE)                                                   \
  TN_ASM_FUNCTION(name, tn_dw3x3_s1_sums_args,                                                        \
        "push {r0}\n\t"                                                                               \
        "add r12, r0, #40\n\t"                                                                        \
        "ldmia r12, {r7-r11}\n\t"                                                                     \
        "sub sp, sp, #24\n\t"                                                                         \
        "stmia sp, {r7-r11}\n\t" /* sp: bias, sums_end, row_bytes, skip_bytes, entry, row end */      \
        "adr r10, 4f\n\t"                                                                             \
        "add r10, r10, r11\n\t"                                                                       \
        "orr r10, r10, #1\n\t"                                                                        \
        "str r10, [sp, #16]\n\t"                                                                      \
        "ldmia r0, {r0-r9}\n\t"                                                                       \
        "1:\n\t"                                                                                      \
        "ldr r10, [sp, #8]\n\t"                                                                       \
        "add r10, r3, r10\n\t"                                                                        \
        "str r10, [sp, #20]\n\t"                                                                      \
        "ldr r10, [sp, #16]\n\t"                                                                      \
        "bx r10\n\t"                                                                                  \
        ".balign 4\n\t"                                                                               \
        "4:\n\t" TN_DW3X3_S1_PAIR_ASM TN_DW3X3_S1_PAIR_ASM TN_DW3X3_S1_PAIR_ASM TN_DW3X3_S1_PAIR_ASM   \
        "5:\n\t"                                                                                      \
        ".if (5b - 4b) != 4 * 68\n\t"                                                                 \
        ".error \"" #name ": a pair is not 68 bytes, the loop entry would be wrong\"\n\t"            \
        ".endif\n\t"                                                                                  \
        "ldr r10, [sp, #20]\n\t"                                                                      \
        "cmp r3, r10\n\t"                                                                             \
        "bne 4b\n\t"                                                                                  \
        SINGLE                                                                                        \
        "ldr r10, [sp, #12]\n\t"                                                                      \
        "add r0, r0, r10\n\t"                                                                         \
        "add r1, r1, r10\n\t"                                                                         \
        "add r2, r2, r10\n\t"                                                                         \
        "ldr r10, [sp, #4]\n\t"                                                                       \
        "cmp r3, r10\n\t"                                                                             \
        "bne 1b\n\t"                                                                                  \
        "add sp, sp, #24\n\t"                                                                         \
        "pop {r10}\n\t"                                                                               \
        "stmia r10, {r0-r3}\n\t")
TN_DW3X3_S1_SUMS_ASM_FUNCTION(tn_dw3x3_s1_sums_asm, )
TN_DW3X3_S1_SUMS_ASM_FUNCTION(tn_dw3x3_s1_sums_asm_odd, TN_DW3X3_S1_SINGLE_ASM)
#undef TN_DW3X3_S1_SUMS_ASM_FUNCTION

/* Rows of at most TN_DW3X3_S1_SHORT_PAIRS pairs (and a single), over a plane whose rows are
 * TN_DW3X3_S1_SHORT_PLANE_W values apart whatever the map's width (tn_depthwise_plane_width): window
 * rows 1 and 2 are then fixed offsets from one pointer, which leaves registers for the bias and the
 * border between rows. The pairs run straight, entered part way, so a row costs its entry, the step
 * over the border and the end test (21 instructions in the looped instances above, 6 here), and a pair
 * 16 (no bias reload). Field order is the LDM order. */
#define TN_DW3X3_S1_SHORT_PAIRS ((TN_DW3X3_S1_SHORT_PLANE_W - 3) / 2)
typedef struct {
  const int16_t* p0;                    /* r0: the first window's top row */
  int32_t skip_bytes;                   /* r1: 2 (TN_DW3X3_S1_SHORT_PLANE_W - 2 (out_w / 2)) */
  int32_t bias;                         /* r2 */
  int32_t* sums;                        /* r3 */
  int32_t k01_0, k12_0, k01_1, k12_1;   /* r4-r9, as tn_dw3x3_s1_sums_args */
  int32_t k01_2, k12_2;
  const int32_t* sums_end;              /* the frame on the stack, from here on */
  int32_t entry_bytes;                  /* 64 (TN_DW3X3_S1_SHORT_PAIRS - out_w / 2) */
} tn_dw3x3_s1_short_args;

/* Rows 1 and 2 at 72 and 144 bytes from row 0 (less the 4 a pair's first load advanced r0). */
#define TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_PAIR_ROWS_ASM("r2", "[r0, #68]", "[r0, #140]")
#define TN_DW3X3_S1_SHORT_SINGLE_ASM TN_DW3X3_S1_SINGLE_ROWS_ASM("r2", "r0, #0", "r0, #72", "r0, #144")
#define TN_DW3X3_S1_SHORT_ASM_FUNCTION(name, SINGLE)                                                  \
  TN_ASM_FUNCTION(name, tn_dw3x3_s1_short_args,                                                       \
        "push {r0}\n\t"                                                                               \
        "add r12, r0, #40\n\t"                                                                        \
        "ldmia r12, {r10, r11}\n\t"                                                                   \
        "adr r12, 4f\n\t"                                                                             \
        "add r11, r11, r12\n\t"                                                                       \
        "orr r11, r11, #1\n\t"                                                                        \
        "push {r10, r11}\n\t" /* sp: sums_end, entry */                                              \
        "ldmia r0, {r0-r9}\n\t"                                                                       \
        "1:\n\t"                                                                                      \
        "ldr r10, [sp, #4]\n\t"                                                                       \
        "bx r10\n\t"                                                                                  \
        ".balign 4\n\t"                                                                               \
        "4:\n\t" TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM        \
        TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM                 \
        TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM                 \
        TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM                 \
        TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM TN_DW3X3_S1_SHORT_PAIR_ASM                 \
        TN_DW3X3_S1_SHORT_PAIR_ASM                                                                    \
        "5:\n\t"                                                                                      \
        ".if (5b - 4b) != 16 * 64\n\t"                                                                \
        ".error \"" #name ": a pair is not 64 bytes, the entry would be wrong\"\n\t"                  \
        ".endif\n\t" SINGLE                                                                            \
        "add r0, r0, r1\n\t"                                                                          \
        "ldr r10, [sp]\n\t"                                                                           \
        "cmp r3, r10\n\t"                                                                             \
        "bne 1b\n\t"                                                                                  \
        "add sp, sp, #8\n\t"                                                                          \
        "pop {r10}\n\t"                                                                               \
        "stmia r10, {r0-r3}\n\t")
/* the sixteen pairs above, and the offsets of rows 1 and 2 (72 and 144 bytes) */
typedef char tn_dw3x3_s1_short_check[TN_DW3X3_S1_SHORT_PAIRS == 16 && TN_DW3X3_S1_SHORT_PLANE_W == 36 ? 1 : -1];
TN_DW3X3_S1_SHORT_ASM_FUNCTION(tn_dw3x3_s1_short_asm, )
TN_DW3X3_S1_SHORT_ASM_FUNCTION(tn_dw3x3_s1_short_asm_odd, TN_DW3X3_S1_SHORT_SINGLE_ASM)
#undef TN_DW3X3_S1_SHORT_ASM_FUNCTION
#undef TN_DW3X3_S1_SHORT_SINGLE_ASM
#undef TN_DW3X3_S1_SHORT_PAIR_ASM
#undef TN_DW3X3_S1_SINGLE_ROWS_ASM
#undef TN_DW3X3_S1_PAIR_ROWS_ASM
#undef TN_DW3X3_S1_SINGLE_ASM
#undef TN_DW3X3_S1_PAIR_ASM

/* The multiply pass for stride 2 (any plane width, so word loads may be unaligned): output 0 of a pair
 * reads columns 0-2, output 1 columns 2-4 of each row; one data register, each row's loads feeding
 * both sums (x0x1, then x2x3, then x4 alone: a word would reach past the plane). An odd output width
 * ends each row with a single output. */
typedef struct {
  const int16_t* p0; /* r0-r2 */
  const int16_t* p1;
  const int16_t* p2;
  int32_t* sums;                /* r3 */
  int32_t w01, w34, w67, w25, w8; /* r4-r8, as tn_dw3x3_weights */
  int32_t bias;                 /* r9 */
  const int32_t* sums_end;      /* the frame on the stack, from here on */
  int32_t pair_bytes;           /* 8 (out_w / 2): the sums of a row's pairs */
  int32_t skip_bytes;           /* 4 plane_w - 8 (out_w / 2): to the next row's first window */
  int32_t odd;                  /* out_w & 1 */
} tn_dw3x3_s2_sums_args;

/* One window row of a pair: P the row pointer, W its (k0, k1), K/HALF its k2; the sums r12 and r11
 * start from IN0 and IN1 (the bias register in the first row). */
#define TN_DW3X3_S2_ROW_ASM(P, W, K, HALF, IN0, IN1)                                                \
  "ldr r10, [" P "], #8\n\t" "smlad r12, r10, " W ", " IN0 "\n\t" "ldr r10, [" P ", #-4]\n\t"      \
  "smla" HALF " r12, r10, " K ", r12\n\t" "smlad r11, r10, " W ", " IN1 "\n\t" "ldrsh r10, [" P "]\n\t" \
  "smla" HALF " r11, r10, " K ", r11\n\t"
#define TN_DW3X3_S2_SINGLE_ROW_ASM(P, W, K, HALF, IN0)                                              \
  "ldr r10, [" P "]\n\t" "smlad r12, r10, " W ", " IN0 "\n\t" "ldrsh r10, [" P ", #4]\n\t"        \
  "smla" HALF " r12, r10, " K ", r12\n\t"

TN_ASM_FUNCTION(tn_dw3x3_s2_sums_asm, tn_dw3x3_s2_sums_args,
      "push {r0}\n\t"
      "add r12, r0, #40\n\t"
      "ldmia r12, {r8-r11}\n\t"
      "sub sp, sp, #16\n\t"
      "stmia sp, {r8-r11}\n\t" /* sp: sums_end, pair_bytes, skip_bytes, odd */
      "ldmia r0, {r0-r9}\n\t"
      "1:\n\t"
      "ldr lr, [sp, #4]\n\t"
      "add lr, r3, lr\n\t"
      "cmp r3, lr\n\t"
      "beq 3f\n\t"
      "2:\n\t"
      TN_DW3X3_S2_ROW_ASM("r0", "r4", "r7", "bb", "r9", "r9") TN_DW3X3_S2_ROW_ASM("r1", "r5", "r7", "bt", "r12", "r11")
          TN_DW3X3_S2_ROW_ASM("r2", "r6", "r8", "bb", "r12", "r11")
      "strd r12, r11, [r3], #8\n\t"
      "cmp r3, lr\n\t"
      "bne 2b\n\t"
      "3:\n\t"
      "ldr r10, [sp, #12]\n\t"
      "cmp r10, #0\n\t"
      "beq 4f\n\t"
      TN_DW3X3_S2_SINGLE_ROW_ASM("r0", "r4", "r7", "bb", "r9") TN_DW3X3_S2_SINGLE_ROW_ASM("r1", "r5", "r7", "bt", "r12")
          TN_DW3X3_S2_SINGLE_ROW_ASM("r2", "r6", "r8", "bb", "r12")
      "str r12, [r3], #4\n\t"
      "4:\n\t"
      "ldr r10, [sp, #8]\n\t"
      "add r0, r0, r10\n\t"
      "add r1, r1, r10\n\t"
      "add r2, r2, r10\n\t"
      "ldr r10, [sp]\n\t"
      "cmp r3, r10\n\t"
      "bne 1b\n\t"
      "add sp, sp, #16\n\t"
      "pop {r10}\n\t"
      "stmia r10, {r0-r3}\n\t")
#undef TN_DW3X3_S2_ROW_ASM
#undef TN_DW3X3_S2_SINGLE_ROW_ASM

/* The requantization pass in assembly: four sums per LDM, each SMMLAR with the folded constant, the
 * sign term, the exponent shift, SSAT and its byte store, c bytes apart; eight per loop pass, after the
 * sums past the groups of eight (one, two, four). */
typedef struct {
  const int32_t* sums; /* r4 */
  const int32_t* sums_end;
  int8_t* out;       /* r6 */
  int32_t channels;  /* r7: the output stride */
  int32_t multiplier; /* r10 */
  int32_t folded;     /* r11 */
  int32_t exponent;   /* r12 */
} tn_dw_requant_args;

#define TN_DW_REQUANT_ASM(R, STORE)                                                        \
  "smmlar lr, " R ", r10, r11\n\t" "add " R ", lr, " R ", asr #31\n\t" "asr " R ", " R ", r12\n\t" \
  "ssat " R ", #8, " R "\n\t" "strb " R ", " STORE "\n\t"

#define TN_DW_REQUANT_FOUR_ASM                                                                                  \
  "ldmia r4!, {r0-r3}\n\t" TN_DW_REQUANT_ASM("r0", "[r6]") TN_DW_REQUANT_ASM("r1", "[r6, r7]")                   \
      TN_DW_REQUANT_ASM("r2", "[r6, r8]") TN_DW_REQUANT_ASM("r3", "[r6, r9]") "add r6, r6, r7, lsl #2\n\t"

TN_ASM_FUNCTION(tn_dw_requant_asm, const tn_dw_requant_args,
      "ldmia r0, {r4-r7, r10-r12}\n\t"
      "add r8, r7, r7\n\t"
      "add r9, r8, r7\n\t"
      "sub r1, r5, r4\n\t" /* the sums past the groups of eight: one, two, then four */
      "tst r1, #4\n\t"
      "beq 4f\n\t"
      "ldr r0, [r4], #4\n\t" TN_DW_REQUANT_ASM("r0", "[r6]")
      "add r6, r6, r7\n\t"
      "4:\n\t"
      /* N the two-sum bit, C the four-sum bit; nothing below sets the flags before the tests */
      "lsls r1, r1, #28\n\t"
      "bpl 1f\n\t"
      "ldmia r4!, {r0, r1}\n\t" TN_DW_REQUANT_ASM("r0", "[r6]") TN_DW_REQUANT_ASM("r1", "[r6, r7]")
      "add r6, r6, r8\n\t"
      "1:\n\t"
      "bcc 5f\n\t"
      TN_DW_REQUANT_FOUR_ASM
      "5:\n\t"
      "cmp r4, r5\n\t"
      "beq 3f\n\t"
      "2:\n\t"
      TN_DW_REQUANT_FOUR_ASM TN_DW_REQUANT_FOUR_ASM
      "cmp r4, r5\n\t"
      "bne 2b\n\t"
      "3:\n\t")
#undef TN_DW_REQUANT_FOUR_ASM
#undef TN_DW_REQUANT_ASM
#endif

/* The common case of the 3x3 kernels, a whole channel in one call: the full int8 output range, a
 * rounding exponent that folds with the zero point (tn_fast_requant_folds), and weights and bias
 * pre-scaled by 2^pre_shift (the caller checks that they fit int16 / int32), so the sums are already
 * shifted for SMMULR. Per output row: the multiply-accumulate pass, then the requantization pass. */
static TN_NOINLINE void tn_dw3x3_channel_fast(const int16_t* plane, int32_t plane_w, int32_t stride, int32_t out_h,
                                              int32_t out_w, const tn_dw3x3_weights* k, int32_t* sums, int8_t* out,
                                              int32_t c, const tn_fast_requant* rq, int32_t folded) {
  const int32_t multiplier = rq->multiplier, exponent = rq->exponent;
  const int32_t block_rows = tn_depthwise_sum_rows(out_h, out_w);
  int32_t oy;
#if defined(TN_ASM_THUMB2)
  /* The assembly passes: stride 1 needs word-aligned plane rows (LDRD) and a pair in every row. */
  if (stride == 2 || (!(plane_w & 1) && out_w >= 2 && !((uintptr_t)plane & 3))) {
    tn_dw3x3_s1_sums_args a1;
    tn_dw3x3_s1_short_args as;
    tn_dw3x3_s2_sums_args a2;
    tn_dw_requant_args q;
    const int short_rows = stride == 1 && tn_dw3x3_s1_short_rows(plane_w, out_w);
    if (short_rows) {
      as.p0 = plane;
      as.skip_bytes = 2 * (TN_DW3X3_S1_SHORT_PLANE_W - 2 * (out_w >> 1));
      as.bias = k->bias;
      as.k01_0 = k->w01;
      as.k12_0 = k->w12;
      as.k01_1 = k->w34;
      as.k12_1 = k->w45;
      as.k01_2 = k->w67;
      as.k12_2 = k->w78;
      as.entry_bytes = (TN_DW3X3_S1_SHORT_PAIRS - (out_w >> 1)) * 64;
    } else if (stride == 1) {
      a1.p0 = plane;
      a1.p1 = plane + plane_w;
      a1.p2 = plane + 2 * plane_w;
      a1.k01_0 = k->w01;
      a1.k12_0 = k->w12;
      a1.k01_1 = k->w34;
      a1.k12_1 = k->w45;
      a1.k01_2 = k->w67;
      a1.k12_2 = k->w78;
      a1.bias = k->bias;
      a1.row_bytes = 8 * (out_w >> 1);
      a1.skip_bytes = 2 * (plane_w - 2 * (out_w >> 1));
      a1.entry_bytes = (4 - (out_w >> 1) % 4) % 4 * 68;
    } else {
      a2.p0 = plane;
      a2.p1 = plane + plane_w;
      a2.p2 = plane + 2 * plane_w;
      a2.w01 = k->w01;
      a2.w34 = k->w34;
      a2.w67 = k->w67;
      a2.w25 = k->w25;
      a2.w8 = k->w8;
      a2.bias = k->bias;
      a2.pair_bytes = 8 * (out_w >> 1);
      a2.skip_bytes = 4 * plane_w - 8 * (out_w >> 1);
      a2.odd = out_w & 1;
    }
    q.channels = c;
    q.multiplier = multiplier;
    q.folded = folded;
    q.exponent = exponent;
    for (oy = 0; oy < out_h; oy += block_rows) {
      const int32_t rows = out_h - oy < block_rows ? out_h - oy : block_rows;
      const int32_t* const sums_end = sums + rows * out_w;
      /* each pass advances its row pointers to the next block's rows */
      if (short_rows) {
        as.sums = sums;
        as.sums_end = sums_end;
        if (out_w & 1)
          tn_dw3x3_s1_short_asm_odd(&as);
        else
          tn_dw3x3_s1_short_asm(&as);
      } else if (stride == 1) {
        a1.sums = sums;
        a1.sums_end = sums_end;
        if (out_w & 1) {
          tn_dw3x3_s1_sums_asm_odd(&a1);
        } else {
          tn_dw3x3_s1_sums_asm(&a1);
        }
      } else {
        a2.sums = sums;
        a2.sums_end = sums_end;
        tn_dw3x3_s2_sums_asm(&a2);
      }
      q.sums = sums;
      q.sums_end = sums_end;
      q.out = out + oy * out_w * c;
      tn_dw_requant_asm(&q);
    }
    return;
  }
#endif
  for (oy = 0; oy < out_h; oy += block_rows) {
    const int32_t rows = out_h - oy < block_rows ? out_h - oy : block_rows;
    const int16_t* r0 = plane + oy * stride * plane_w;
    /* The outputs of consecutive rows of one channel are every c-th byte without a gap. */
    int8_t* o = out + oy * out_w * c;
    if (stride == 1)
      tn_dw3x3_sums_s1(r0, plane_w, out_w, rows, k, sums);
    else
      tn_dw3x3_sums_s2(r0, plane_w, out_w, rows, k, sums);
    {
      /* Four outputs per iteration: two LDRDs, one loop test. */
      const int32_t n = rows * out_w;
      const int32_t* s = sums;
      const int32_t* const end4 = sums + (n & ~3);
      const int32_t* const end = sums + n;
      const int32_t c2 = 2 * c, c3 = 3 * c;
#define TN_DW_OUT(k) (int8_t) tn_ssat8(tn_fast_requantize_folded_shifted(s[k], multiplier, folded, exponent))
      while (s != end4) {
        o[0] = TN_DW_OUT(0);
        o[c] = TN_DW_OUT(1);
        o[c2] = TN_DW_OUT(2);
        o[c3] = TN_DW_OUT(3);
        s += 4;
        o += 4 * c;
      }
      while (s != end) {
        *o = TN_DW_OUT(0);
        s += 1;
        o += c;
      }
#undef TN_DW_OUT
    }
  }
}

static void tn_dw3x3_channel_dsp(const tn_depthwise_params* p, const int16_t* plane, int32_t plane_w, const int8_t* w,
                                 int32_t bias, const tn_fast_requant* r, int32_t* sums, int8_t* out, int full_range) {
  const int32_t stride = p->stride, out_w = p->out_w, c = p->channels;
  tn_dw3x3_weights k;
  int32_t oy;
  if (full_range && tn_fast_requant_folds(r) && r->pre_shift <= 8) {
    /* Weights times 2^pre_shift stay within int16 (|w| <= 127, pre_shift <= 8); the bias times it
     * within int32 by the accumulator bound quantization checks. */
    const int32_t scale = 1 << r->pre_shift; /* a product, not a shift: the weights may be negative */
    k.w01 = tn_pack16(w[0] * scale, w[1] * scale);
    k.w34 = tn_pack16(w[3] * scale, w[4] * scale);
    k.w67 = tn_pack16(w[6] * scale, w[7] * scale);
    k.w25 = tn_pack16(w[2] * scale, w[5] * scale);
    k.w8 = tn_pack16(w[8] * scale, 0);
    k.w12 = tn_pack16(w[1] * scale, w[2] * scale);
    k.w45 = tn_pack16(w[4] * scale, w[5] * scale);
    k.w78 = tn_pack16(w[7] * scale, w[8] * scale);
    k.bias = (int32_t)((uint32_t)bias << r->pre_shift);
    tn_dw3x3_channel_fast(plane, plane_w, stride, p->out_h, out_w, &k, sums, out, c, r,
                          tn_fast_requant_folded_constant(r, p->q.output_offset));
    return;
  }
  k.w01 = tn_pack16(w[0], w[1]);
  k.w34 = tn_pack16(w[3], w[4]);
  k.w67 = tn_pack16(w[6], w[7]);
  k.w25 = tn_pack16(w[2], w[5]);
  k.w8 = tn_pack16(w[8], 0);
  k.bias = bias;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int16_t* r0 = plane + oy * stride * plane_w;
    int8_t* o = out + oy * out_w * c;
    if (stride == 1)
      tn_dw3x3_sums_s1(r0, plane_w, out_w, 1, &k, sums);
    else
      tn_dw3x3_sums_s2(r0, plane_w, out_w, 1, &k, sums);
    if (full_range)
      tn_requant_row_full(sums, out_w, r, o, c, p->q.output_offset);
    else
      tn_requant_row_clamp(sums, out_w, r, o, c, p->q.output_offset, p->q.act_min, p->q.act_max);
  }
}

/* Layers with small output maps (at most TN_DW_SMALL_OUTPUTS outputs per channel: the last
 * stages of MCU networks, 3x3 to 8x8 maps of hundreds of channels), where the per-channel set-up of
 * the row-pass path costs more than the outputs. One loop over the channels: the nine weights from
 * two word loads, doubled lane-wise for SMMULR's doubling (every shift of the layer is in [-22, -1],
 * so the pre-shift is 1 and the rounding constant and zero point fold, see tn_shifts_within), the
 * input offset's share of the bias from the packed weights, then each output's window
 * multiply-accumulated and requantized in registers. The full int8 output range only. */
TN_INLINE void tn_dw3x3_small_maps_stride(const tn_depthwise_params* p, const int8_t* input, int8_t* output,
                                          int16_t* plane, int32_t plane_w, int32_t stride) {
  const int32_t c = p->channels, out_h = p->out_h, out_w = p->out_w;
  const int32_t input_offset = p->q.input_offset;
  const int32_t output_offset = p->q.output_offset;
  const int32_t row_step = stride * plane_w - stride * out_w; /* from a row's end to the next row's start */
  const int32_t ones = 0x00010001;
  int32_t ch;
  for (ch = 0; ch < c; ++ch) {
    const int8_t* w = p->weights + 9 * ch;
    const int32_t wv0 = tn_read_s32(w), wv1 = tn_read_s32(w + 4);
    /* (w0, w2), (w1, w3), (w4, w6), (w5, w7), each lane doubled by adding the bytes once more */
    const int32_t e02 = tn_sxtab16(tn_sxtb16(wv0), wv0), o13 = tn_sxtab16_ror8(tn_sxtb16_ror8(wv0), wv0);
    const int32_t e46 = tn_sxtab16(tn_sxtb16(wv1), wv1), o57 = tn_sxtab16_ror8(tn_sxtb16_ror8(wv1), wv1);
    const int32_t w01 = tn_pack16(e02, o13), w34 = tn_pack16(o13 >> 16, e46);
    const int32_t w67 = tn_pack16(e46 >> 16, o57 >> 16), w25 = tn_pack16(e02 >> 16, o57);
    const int32_t w8 = 2 * w[8];
    /* 2 (bias + input_offset * sum(w)): the sums over the plane's raw values, doubled */
    const int32_t sum2 = tn_smlad(w01, ones, tn_smlad(w34, ones, tn_smlad(w67, ones, tn_smlad(w25, ones, w8))));
    const int32_t bias = (int32_t)(((uint32_t)p->bias[ch] << 1) + (uint32_t)(input_offset * sum2));
    const int32_t multiplier = p->q.multiplier[ch], exponent = -p->q.shift[ch];
    const int32_t folded = tn_folded_constant_of_exponent(output_offset, exponent);
    const int16_t* q0 = plane;
    const int16_t* q1 = q0 + plane_w;
    const int16_t* q2 = q1 + plane_w;
    int8_t* o = output + ch;
    int32_t oy;
    tn_fill_plane_small(p, input, ch, plane, plane_w);
    for (oy = 0; oy < out_h; ++oy, q0 += row_step, q1 += row_step, q2 += row_step) {
      int8_t* const row_end = o + out_w * c;
      do {
        /* The third column as single values: a word would reach one element past the plane. */
        int32_t a = tn_smlad(tn_read_s32(q0), w01, bias);
        a = tn_smlabb(q0[2], w25, a);
        a = tn_smlad(tn_read_s32(q1), w34, a);
        a = tn_smlabt(q1[2], w25, a);
        a = tn_smlad(tn_read_s32(q2), w67, a);
        a = tn_smlabb(q2[2], w8, a);
        *o = (int8_t)tn_ssat8(tn_fast_requantize_folded_shifted(a, multiplier, folded, exponent));
        o += c;
        q0 += stride;
        q1 += stride;
        q2 += stride;
      } while (o != row_end);
    }
  }
}

/* The same for the 5x5 and 7x7 kernels (the kernel constant in each instance): per channel the
 * weights are packed doubled into (w[ky][kx], w[ky][kx+1]) pairs and a last column, the input offset's
 * share of the bias comes from the packed pairs, and each output's window is multiply-accumulated
 * row by row and requantized in registers. */
TN_INLINE void tn_dw_small_maps(const tn_depthwise_params* p, const int8_t* input, int8_t* output, int16_t* plane,
                                int32_t plane_w, int32_t kernel, int32_t stride) {
  const int32_t c = p->channels, out_h = p->out_h, out_w = p->out_w, pairs = kernel >> 1;
  const int32_t input_offset = p->q.input_offset;
  const int32_t output_offset = p->q.output_offset;
  const int32_t row_step = stride * plane_w - stride * out_w;
  const int32_t ones = 0x00010001;
  int32_t wpairs[TN_DW_MAX_KERNEL * (TN_DW_MAX_KERNEL / 2)];
  int32_t wlast[TN_DW_MAX_KERNEL];
  int32_t ch;
  for (ch = 0; ch < c; ++ch) {
    const int8_t* w = p->weights + kernel * kernel * ch;
    const int32_t multiplier = p->q.multiplier[ch], exponent = -p->q.shift[ch];
    const int32_t folded = tn_folded_constant_of_exponent(output_offset, exponent);
    const int16_t* q = plane;
    int8_t* o = output + ch;
    int32_t sum2 = 0, bias, ky, k, oy;
    for (ky = 0; ky < kernel; ++ky, w += kernel) {
      for (k = 0; k < pairs; ++k) {
        const int32_t pair = tn_pack16(2 * w[2 * k], 2 * w[2 * k + 1]);
        wpairs[ky * pairs + k] = pair;
        sum2 = tn_smlad(pair, ones, sum2);
      }
      wlast[ky] = 2 * w[kernel - 1];
      sum2 += wlast[ky];
    }
    /* 2 (bias + input_offset * sum(w)): the sums over the plane's raw values, doubled */
    bias = (int32_t)(((uint32_t)p->bias[ch] << 1) + (uint32_t)(input_offset * sum2));
    tn_fill_plane_small(p, input, ch, plane, plane_w);
    for (oy = 0; oy < out_h; ++oy, q += row_step) {
      int8_t* const row_end = o + out_w * c;
      do {
        const int16_t* r = q;
        const int32_t* wp = wpairs;
        int32_t a = bias;
        for (ky = 0; ky < kernel; ++ky, r += plane_w, wp += pairs) {
          for (k = 0; k < pairs; ++k) a = tn_smlad(tn_read_s32(r + 2 * k), wp[k], a);
          a = tn_smlabb(r[kernel - 1], wlast[ky], a);
        }
        *o = (int8_t)tn_ssat8(tn_fast_requantize_folded_shifted(a, multiplier, folded, exponent));
        o += c;
        q += stride;
      } while (o != row_end);
    }
  }
}
#define TN_DW_FIXED_MAX_W 8

#if defined(TN_ASM_THUMB2)
/* The nine outputs of one channel of tn_dw3x3_fixed_map in assembly, every plane value at a constant
 * offset: 18 instructions an output. C keeps two or three constants in memory here (14 live values),
 * reloading them in every output. Field order is the LDM order. */
typedef struct {
  const int16_t* plane;                 /* r0 */
  int32_t w01, w34, w67, w25, w8;       /* r1-r5: the weight pairs, doubled */
  int32_t bias;                         /* r6: doubled, the input offset's share included */
  int32_t multiplier, folded, exponent; /* r7-r9 */
  int8_t* out;                          /* r10 */
  int32_t out_stride;                   /* r11: the channels */
} tn_dw3x3_asm_args;

/* The output whose window starts at plane element E of a plane PW wide: three pairs and three single
 * values, the requantization, the store, the next output. r12 the sum, lr the value. */
#define TN_DW3X3_ASM_OUTPUT(E, PW)                                                        \
  "ldr lr, [r0, #2*(" #E ")]\n\t" "smlad r12, lr, r1, r6\n\t"                           \
  "ldrsh lr, [r0, #2*(" #E "+2)]\n\t" "smlabb r12, lr, r4, r12\n\t"                     \
  "ldr lr, [r0, #2*(" #E "+" #PW ")]\n\t" "smlad r12, lr, r2, r12\n\t"                  \
  "ldrsh lr, [r0, #2*(" #E "+" #PW "+2)]\n\t" "smlabt r12, lr, r4, r12\n\t"             \
  "ldr lr, [r0, #2*(" #E "+2*" #PW ")]\n\t" "smlad r12, lr, r3, r12\n\t"                \
  "ldrsh lr, [r0, #2*(" #E "+2*" #PW "+2)]\n\t" "smlabb r12, lr, r5, r12\n\t"           \
  "smmlar lr, r12, r7, r8\n\t"                                                          \
  "add lr, lr, r12, asr #31\n\t"                                                        \
  "asr lr, lr, r9\n\t"                                                                  \
  "ssat lr, #8, lr\n\t"                                                                 \
  "strb lr, [r10]\n\t"                                                                  \
  "add r10, r10, r11\n\t"
#define TN_DW3X3_ASM_ROW(E0, E1, E2, PW) TN_DW3X3_ASM_OUTPUT(E0, PW) TN_DW3X3_ASM_OUTPUT(E1, PW) TN_DW3X3_ASM_OUTPUT(E2, PW)

/* 3x3 outputs, stride 1: a plane 5 wide. */
TN_ASM_FUNCTION(tn_dw3x3_outputs_s1_asm, const tn_dw3x3_asm_args,
                "ldmia r0, {r0-r11}\n\t" TN_DW3X3_ASM_ROW(0, 1, 2, 5) TN_DW3X3_ASM_ROW(5, 6, 7, 5)
                    TN_DW3X3_ASM_ROW(10, 11, 12, 5))
/* 3x3 outputs, stride 2: a plane 7 wide. */
TN_ASM_FUNCTION(tn_dw3x3_outputs_s2_asm, const tn_dw3x3_asm_args,
                "ldmia r0, {r0-r11}\n\t" TN_DW3X3_ASM_ROW(0, 2, 4, 7) TN_DW3X3_ASM_ROW(14, 16, 18, 7)
                    TN_DW3X3_ASM_ROW(28, 30, 32, 7))
#undef TN_DW3X3_ASM_ROW
#undef TN_DW3X3_ASM_OUTPUT
#endif

/* tn_dw3x3_small_maps_stride for one geometry, every size a constant of the instance: the planes of
 * two channels filled at once (one halfword load reads both channels of a pixel; SXTB16 splits two
 * pixels into one word of each plane), every window read at constant offsets and all loops over
 * the map unrolled, so each output is its six loads, six multiply-accumulates and requantization.
 * For 3x3 outputs (tn_depthwise_fixed_map), the last stage of networks at 80-96 pixels, whose short
 * rows leave the general loops mostly overhead. The padding is `pad` on the top and left. */
TN_INLINE void tn_dw3x3_fixed_map(const tn_depthwise_params* p, const int8_t* input, int8_t* output, int16_t* plane,
                                  int32_t in_h, int32_t in_w, int32_t out_h, int32_t out_w, int32_t stride,
                                  int32_t pad) {
  const int32_t plane_w = (out_w - 1) * stride + 3, plane_size = plane_w * ((out_h - 1) * stride + 3);
  const int32_t c = p->channels;
  const int32_t input_offset = p->q.input_offset;
  const int32_t output_offset = p->q.output_offset;
  const int32_t ones = 0x00010001;
  int16_t* const interior = plane + pad * plane_w + pad;
  /* The parameters in locals: stores through int8_t pointers may alias them. */
  const int8_t* w = p->weights;
  const int32_t* bias_of = p->bias;
  const int32_t* multiplier_of = p->q.multiplier;
  const int32_t* shift_of = p->q.shift;
  int8_t* o_base = output;
  int32_t ch;
  /* The second plane's border (the caller set the first one's). */
  tn_init_plane(plane + plane_size, plane_size, input_offset);
  for (ch = 0; ch < c; ch += 2) {
    const int32_t channels = ch + 1 < c ? 2 : 1;
    const int8_t* src = input + ch;
    int32_t y, x, k;
    TN_OPAQUE_POINTER(src);
    if (channels == 2) {
#pragma GCC unroll 8
      for (y = 0; y < in_h; ++y) {
#pragma GCC unroll 4
        for (x = 0; x + 1 < in_w; x += 2) {
          const int32_t both = tn_pack16(tn_read_u16(src), tn_read_u16(src + c)); /* (a0 b0 a1 b1) */
          tn_write_s32(interior + y * plane_w + x, tn_sxtb16(both));
          tn_write_s32(interior + plane_size + y * plane_w + x, tn_sxtb16_ror8(both));
          src += 2 * c;
        }
        if (in_w & 1) {
          interior[y * plane_w + in_w - 1] = src[0];
          interior[plane_size + y * plane_w + in_w - 1] = src[1];
          src += c;
        }
      }
    } else {
#pragma GCC unroll 8
      for (y = 0; y < in_h; ++y) {
#pragma GCC unroll 4
        for (x = 0; x + 1 < in_w; x += 2) {
          tn_write_s32(interior + y * plane_w + x, tn_pack16(src[0], src[c]));
          src += 2 * c;
        }
        if (in_w & 1) {
          interior[y * plane_w + in_w - 1] = *src;
          src += c;
        }
      }
    }
#pragma GCC unroll 1
    for (k = 0; k < channels; ++k, w += 9, ++bias_of, ++multiplier_of, ++shift_of) {
      const int16_t* const channel_plane = plane + k * plane_size;
      const int32_t wv0 = tn_read_s32(w), wv1 = tn_read_s32(w + 4);
      /* (w0, w2), (w1, w3), (w4, w6), (w5, w7), each lane doubled by adding the bytes once more */
      const int32_t e02 = tn_sxtab16(tn_sxtb16(wv0), wv0), o13 = tn_sxtab16_ror8(tn_sxtb16_ror8(wv0), wv0);
      const int32_t e46 = tn_sxtab16(tn_sxtb16(wv1), wv1), o57 = tn_sxtab16_ror8(tn_sxtb16_ror8(wv1), wv1);
      const int32_t w01 = tn_pack16(e02, o13), w34 = tn_pack16(o13 >> 16, e46);
      const int32_t w67 = tn_pack16(e46 >> 16, o57 >> 16), w25 = tn_pack16(e02 >> 16, o57);
      const int32_t w8 = 2 * w[8];
      /* 2 (bias + input_offset * sum(w)): the sums over the plane's raw values, doubled */
      const int32_t sum2 = tn_smlad(w01, ones, tn_smlad(w34, ones, tn_smlad(w67, ones, tn_smlad(w25, ones, w8))));
      const int32_t bias = (int32_t)(((uint32_t)*bias_of << 1) + (uint32_t)(input_offset * sum2));
      const int32_t multiplier = *multiplier_of, exponent = -*shift_of;
      const int32_t folded = tn_folded_constant_of_exponent(output_offset, exponent);
      int8_t* o = o_base + k;
#if defined(TN_ASM_THUMB2)
      if (out_h == 3 && out_w == 3) {
        tn_dw3x3_asm_args args;
        args.plane = channel_plane;
        args.w01 = w01;
        args.w34 = w34;
        args.w67 = w67;
        args.w25 = w25;
        args.w8 = w8;
        args.bias = bias;
        args.multiplier = multiplier;
        args.folded = folded;
        args.exponent = exponent;
        args.out = o;
        args.out_stride = c;
        if (stride == 1)
          tn_dw3x3_outputs_s1_asm(&args);
        else
          tn_dw3x3_outputs_s2_asm(&args);
        continue;
      }
#endif
      TN_OPAQUE_POINTER(o);
      /* Row by row, every sum before any store, so that the loads neighbouring windows share are
       * made once: the third column of a window is the second word of the next window's row (stride
       * 1: its high half) or its first word (stride 2: the low half; the last window of a row loads
       * that value alone, a word would reach past the plane). */
#pragma GCC unroll 8
      for (y = 0; y < out_h; ++y) {
        const int16_t* const q = channel_plane + y * stride * plane_w;
        int32_t a[TN_DW_FIXED_MAX_W];
#pragma GCC unroll 8
        for (x = 0; x < out_w; ++x) {
          const int16_t* const t = q + x * stride;
          int32_t acc = tn_smlad(tn_read_s32(t), w01, bias);
          acc = tn_smlad(tn_read_s32(t + plane_w), w34, acc);
          acc = tn_smlad(tn_read_s32(t + 2 * plane_w), w67, acc);
          if (stride == 1) {
            acc = tn_smlatb(tn_read_s32(t + 1), w25, acc);
            acc = tn_smlatt(tn_read_s32(t + 1 + plane_w), w25, acc);
            acc = tn_smlatb(tn_read_s32(t + 1 + 2 * plane_w), w8, acc);
          } else if (x + 1 < out_w) {
            acc = tn_smlabb(tn_read_s32(t + 2), w25, acc);
            acc = tn_smlabt(tn_read_s32(t + 2 + plane_w), w25, acc);
            acc = tn_smlabb(tn_read_s32(t + 2 + 2 * plane_w), w8, acc);
          } else {
            acc = tn_smlabb(t[2], w25, acc);
            acc = tn_smlabt(t[2 + plane_w], w25, acc);
            acc = tn_smlabb(t[2 + 2 * plane_w], w8, acc);
          }
          a[x] = acc;
        }
#pragma GCC unroll 8
        for (x = 0; x < out_w; ++x)
          o[(y * out_w + x) * c] =
              (int8_t)tn_ssat8(tn_fast_requantize_folded_shifted(a[x], multiplier, folded, exponent));
      }
    }
    o_base += 2;
  }
}

static TN_NOINLINE void tn_dw3x3_small_maps(const tn_depthwise_params* p, const int8_t* input, int8_t* output,
                                            int16_t* plane, int32_t plane_w) {
  /* 3x3 outputs, the last stage of networks at 80-96 pixels: stride 1 over a 3x3 map, stride 2 over 6x6. */
  if (tn_depthwise_fixed_map(p->in_h, p->in_w, p->pad_h, p->pad_w, 3, p->stride, p->out_h, p->out_w)) {
    if (p->stride == 1)
      tn_dw3x3_fixed_map(p, input, output, plane, 3, 3, 3, 3, 1, 1);
    else
      tn_dw3x3_fixed_map(p, input, output, plane, 6, 6, 3, 3, 2, 1);
    return;
  }
  if (p->stride == 1) tn_dw3x3_small_maps_stride(p, input, output, plane, plane_w, 1);
  else tn_dw3x3_small_maps_stride(p, input, output, plane, plane_w, 2);
}
static TN_NOINLINE void tn_dw_small_maps_k5(const tn_depthwise_params* p, const int8_t* input, int8_t* output,
                                            int16_t* plane, int32_t plane_w) {
  tn_dw_small_maps(p, input, output, plane, plane_w, 5, p->stride);
}
static TN_NOINLINE void tn_dw_small_maps_k7(const tn_depthwise_params* p, const int8_t* input, int8_t* output,
                                            int16_t* plane, int32_t plane_w) {
  tn_dw_small_maps(p, input, output, plane, plane_w, 7, p->stride);
}

/* 3x3 stride 2 straight from the int8 input, four channels at a time (the stride-2 layers beyond the
 * small maps, channel counts a multiple of 4): one word load brings a pixel's four channels, SXTB16
 * splits it into (c0, c2) and (c1, c3), and SMLABB/SMLATT multiply each lane by its own channel's
 * weight. A multiply per MAC, but no plane: at stride 2 the plane fill cost as much as the multiplies
 * (four input values an output). A row's first window over the left padding skips the padded column
 * (its bias holds the zero point's share instead); top and bottom rows, and rows with padding on the
 * right, read a gathered copy of their three input rows, with the zero point where they leave the map. */
typedef struct {
  int32_t bias[4];       /* 2 (bias + input_offset * sum(w)) of the four channels */
  int32_t w[9][2];       /* per tap: (2 w[c0], 2 w[c2]) and (2 w[c1], 2 w[c3]) */
  int32_t requant[4][2]; /* multiplier and folded constant of each channel */
  int32_t exponent[4];
  int32_t bias_left[4];  /* the bias of a window whose first column is the left padding, which it skips */
} tn_dw3x3_quad;

/* Output rows of one group: in each row pairs of windows two columns apart read in place (the first
 * pair over the left padding when `left`), then an optional last window. Field order is the
 * assembly's LDM order. */
typedef struct {
  const int8_t* in;      /* the first row's first pair's window (its top-left pixel; with `left`, the
                          * pixel right of it: column 0) */
  int32_t col_bytes;     /* between a window's columns */
  int32_t row_bytes;     /* between a window's rows; output rows are two window rows apart */
  int32_t pairs;         /* pairs of windows a row after the left pair */
  int8_t* out;           /* the first row's first output */
  int32_t out_step;      /* between the outputs of a row */
  int32_t out_row_bytes; /* between output rows */
  int32_t rows;
  int32_t left;          /* 1: each row starts with a pair whose first window's column -1 is padding */
  int32_t tail;          /* 1: a last window after the pairs */
  const tn_dw3x3_quad* k;
} tn_dw3x3_quad_rows;

#if defined(TN_ASM_THUMB2)
/* One tap: the pixel's four channels (r8), split into (c0, c2) and (c1, c3), times the tap's weights
 * (r10, r11) into the sums A, B, C, D of channels 0-3. */
#define TN_QUAD_MAC_ASM(A, B, C, D)                                                                  \
  "sxtb16 r9, r8\n\t" "sxtb16 r8, r8, ror #8\n\t" "smlabb " A ", r9, r10, " A "\n\t"                 \
  "smlatt " C ", r9, r10, " C "\n\t" "smlabb " B ", r8, r11, " B "\n\t" "smlatt " D ", r8, r11, " D "\n\t"
/* The shared column (still split in r9, r8) for the first window with the weights in r10, r11. */
#define TN_QUAD_MAC_AGAIN_ASM                                                                         \
  "smlabb r0, r9, r10, r0\n\t" "smlatt r2, r9, r10, r2\n\t" "smlabb r1, r8, r11, r1\n\t"           \
  "smlatt r3, r8, r11, r3\n\t"
#define TN_QUAD_TAP_ASM(W, LOAD) "ldrd r10, r11, [sp, #" #W "]\n\t" "ldr r8, " LOAD "\n\t" TN_QUAD_MAC_ASM("r0", "r1", "r2", "r3")
/* One channel's output from the sum ACC: SMMLAR with the folded constant, the sign term, the exponent,
 * SSAT, the byte store. */
#define TN_QUAD_OUT_ASM(ACC, RQ, E, STORE)                                                           \
  "ldrd r10, r11, [sp, #" #RQ "]\n\t" "ldr r9, [sp, #" #E "]\n\t"                                    \
  "smmlar r8, " ACC ", r10, r11\n\t" "add r8, r8, " ACC ", asr #31\n\t" "asr r8, r8, r9\n\t"          \
  "ssat r8, #8, r8\n\t" "strb r8, " STORE "\n\t"
/* Channel J of both windows of a pair, from the sums A and B, to r12 and lr. */
#define TN_QUAD_PAIR_OUT_ASM(A, B, RQ, E, J)                                                          \
  "ldrd r10, r11, [sp, #" #RQ "]\n\t" "ldr r9, [sp, #" #E "]\n\t"                                    \
  "smmlar r8, " A ", r10, r11\n\t" "add r8, r8, " A ", asr #31\n\t" "asr r8, r8, r9\n\t"              \
  "ssat r8, #8, r8\n\t" "strb r8, [r12, " J "]\n\t"                                                   \
  "smmlar r8, " B ", r10, r11\n\t" "add r8, r8, " B ", asr #31\n\t" "asr r8, r8, r9\n\t"              \
  "ssat r8, #8, r8\n\t" "strb r8, [lr, " J "]\n\t"
/* A pair's eight outputs: each channel's constants loaded once for both windows, the windows' output
 * pointers in r12 and lr (saved and restored around); r0 the next pair's output pointer after it. */
#define TN_QUAD_PAIR_OUTPUTS_ASM                                                                      \
  "str r12, [sp, #204]\n\t" "ldr r12, [sp, #160]\n\t" "ldr lr, [sp, #164]\n\t" "add lr, r12, lr\n\t"   \
  TN_QUAD_PAIR_OUT_ASM("r0", "r4", 104, 136, "#0") TN_QUAD_PAIR_OUT_ASM("r1", "r5", 112, 140, "#1")   \
  TN_QUAD_PAIR_OUT_ASM("r2", "r6", 120, 144, "#2") TN_QUAD_PAIR_OUT_ASM("r3", "r7", 128, 148, "#3")   \
  "ldr r9, [sp, #164]\n\t" "add r0, lr, r9\n\t" "str r0, [sp, #160]\n\t" "ldr lr, [sp, #200]\n\t"     \
  "ldr r12, [sp, #204]\n\t"
/* A row of a pair at r12: the second window's first column is the first one's third, so five word
 * loads, each tap's weights loaded once for both windows (sums r0-r3 and r4-r7). */
#define TN_QUAD_PAIR_ROW_ASM(W0, W1, W2)                                                              \
  "ldrd r10, r11, [sp, #" #W0 "]\n\t"                                                                 \
  "ldr r8, [r12]\n\t" TN_QUAD_MAC_ASM("r0", "r1", "r2", "r3")                                        \
  "ldr r8, [r12, lr, lsl #1]\n\t" TN_QUAD_MAC_ASM("r4", "r5", "r6", "r7")                             \
  "ldrd r10, r11, [sp, #" #W2 "]\n\t" TN_QUAD_MAC_AGAIN_ASM                                           \
  "ldr r8, [r12, lr, lsl #2]\n\t" TN_QUAD_MAC_ASM("r4", "r5", "r6", "r7")                             \
  "ldrd r10, r11, [sp, #" #W1 "]\n\t"                                                                 \
  "ldr r8, [r12, lr]\n\t" TN_QUAD_MAC_ASM("r0", "r1", "r2", "r3")                                     \
  "add r8, r12, lr, lsl #1\n\t" "ldr r8, [r8, lr]\n\t" TN_QUAD_MAC_ASM("r4", "r5", "r6", "r7")
/* A row of the left pair, r12 at column 0: the first window's column -1 skipped, four word loads. */
#define TN_QUAD_LEFT_ROW_ASM(W0, W1, W2)                                                              \
  "ldrd r10, r11, [sp, #" #W1 "]\n\t"                                                                 \
  "ldr r8, [r12]\n\t" TN_QUAD_MAC_ASM("r0", "r1", "r2", "r3")                                        \
  "ldrd r10, r11, [sp, #" #W0 "]\n\t"                                                                 \
  "ldr r8, [r12, lr]\n\t" TN_QUAD_MAC_ASM("r4", "r5", "r6", "r7")                                     \
  "ldrd r10, r11, [sp, #" #W2 "]\n\t" TN_QUAD_MAC_AGAIN_ASM                                           \
  "add r8, r12, lr, lsl #1\n\t" "ldr r8, [r8, lr]\n\t" TN_QUAD_MAC_ASM("r4", "r5", "r6", "r7")        \
  "ldrd r10, r11, [sp, #" #W1 "]\n\t"                                                                 \
  "ldr r8, [r12, lr, lsl #1]\n\t" TN_QUAD_MAC_ASM("r4", "r5", "r6", "r7")
#define TN_QUAD_NEXT_ROW_ASM "ldr r10, [sp, #152]\n\t" "add r12, r12, r10\n\t"

/* tn_dw3x3_quad_rows in assembly (GCC spilled the sums and loaded the weights a word at a time). The
 * quad is copied into the frame so that its constants sit at fixed offsets of sp, leaving all other
 * registers to the loop: the eight sums of a pair (r0-r7), the pixel pointer r12, the column step lr.
 *   sp + 0: the bias twice (one LDM for a pair), 32: the weights, 104: the requantization constants,
 *   136: the exponents, 152: row_bytes, 156: from a pair's third window row to the next pair,
 *   160: the next output, 164: out_step, 168: the end of the row's pairs' outputs, 172: the row's
 *   first pixel, 176: the row's first output, 180: rows left, 184: left, 188: the outputs of a row's
 *   pairs in bytes, 192: tail, 196: out_row_bytes, 200: col_bytes, 204: the pixel pointer while the
 *   outputs take r12, 208: the left window's bias, 224: from the left pair's third window row to the
 *   next pair. */
TN_ASM_FUNCTION(tn_dw3x3_quad_rows_asm, const tn_dw3x3_quad_rows,
      "sub sp, sp, #232\n\t"
      "ldr r1, [r0, #40]\n\t"
      "ldmia r1!, {r2-r5}\n\t"
      "add r6, sp, #16\n\t"
      "stmia sp, {r2-r5}\n\t"
      "stmia r6!, {r2-r5}\n\t"
      "ldmia r1!, {r2-r5, r7-r10}\n\t"
      "stmia r6!, {r2-r5, r7-r10}\n\t"
      "ldmia r1!, {r2-r5, r7-r10}\n\t"
      "stmia r6!, {r2-r5, r7-r10}\n\t"
      "ldmia r1!, {r2-r5, r7-r10}\n\t"
      "stmia r6!, {r2-r5, r7-r10}\n\t"
      "ldmia r1!, {r2-r5, r7, r8}\n\t"
      "stmia r6!, {r2-r5, r7, r8}\n\t"
      "ldmia r1, {r2-r5}\n\t"
      "add r7, sp, #208\n\t"
      "stmia r7, {r2-r5}\n\t"
      "ldmia r0, {r1-r10}\n\t" /* in, col, row, pairs, out, out_step, out_row_bytes, rows, left, tail */
      "str r3, [sp, #152]\n\t"
      "lsl r12, r2, #2\n\t"
      "sub r12, r12, r3, lsl #1\n\t"
      "str r12, [sp, #156]\n\t"
      "sub r12, r12, r2\n\t"
      "str r12, [sp, #224]\n\t"
      "str r6, [sp, #164]\n\t"
      "str r1, [sp, #172]\n\t"
      "str r5, [sp, #176]\n\t"
      "str r8, [sp, #180]\n\t"
      "str r9, [sp, #184]\n\t"
      "mul r12, r4, r6\n\t"
      "lsl r12, r12, #1\n\t"
      "str r12, [sp, #188]\n\t"
      "str r10, [sp, #192]\n\t"
      "str r7, [sp, #196]\n\t"
      "str r2, [sp, #200]\n\t"
      "mov lr, r2\n\t"
      "2:\n\t" /* a row */
      "ldr r4, [sp, #176]\n\t"
      "str r4, [sp, #160]\n\t"
      "ldr r12, [sp, #172]\n\t"
      "ldr r5, [sp, #184]\n\t"
      "cmp r5, #0\n\t"
      "beq 3f\n\t"
      "add r8, sp, #208\n\t"
      "ldmia r8, {r0-r3}\n\t"
      "add r8, sp, #16\n\t"
      "ldmia r8, {r4-r7}\n\t"
      TN_QUAD_LEFT_ROW_ASM(32, 40, 48) TN_QUAD_NEXT_ROW_ASM
      TN_QUAD_LEFT_ROW_ASM(56, 64, 72) TN_QUAD_NEXT_ROW_ASM
      TN_QUAD_LEFT_ROW_ASM(80, 88, 96)
      "ldr r10, [sp, #224]\n\t"
      "add r12, r12, r10\n\t"
      TN_QUAD_PAIR_OUTPUTS_ASM
      "3:\n\t"
      "ldr r4, [sp, #160]\n\t"
      "ldr r5, [sp, #188]\n\t"
      "add r5, r4, r5\n\t"
      "str r5, [sp, #168]\n\t"
      "cmp r4, r5\n\t"
      "beq 5f\n\t"
      "4:\n\t" /* a pair */
      "ldmia sp, {r0-r7}\n\t"
      TN_QUAD_PAIR_ROW_ASM(32, 40, 48) TN_QUAD_NEXT_ROW_ASM
      TN_QUAD_PAIR_ROW_ASM(56, 64, 72) TN_QUAD_NEXT_ROW_ASM
      TN_QUAD_PAIR_ROW_ASM(80, 88, 96)
      "ldr r10, [sp, #156]\n\t"
      "add r12, r12, r10\n\t"
      TN_QUAD_PAIR_OUTPUTS_ASM
      "ldr r8, [sp, #168]\n\t"
      "cmp r0, r8\n\t"
      "bne 4b\n\t"
      "5:\n\t"
      "ldr r4, [sp, #192]\n\t"
      "cmp r4, #0\n\t"
      "beq 6f\n\t"
      "ldmia sp, {r0-r3}\n\t" /* the last window, at r12 after the pairs */
      TN_QUAD_TAP_ASM(32, "[r12]") TN_QUAD_TAP_ASM(40, "[r12, lr]") TN_QUAD_TAP_ASM(48, "[r12, lr, lsl #1]")
      TN_QUAD_NEXT_ROW_ASM
      TN_QUAD_TAP_ASM(56, "[r12]") TN_QUAD_TAP_ASM(64, "[r12, lr]") TN_QUAD_TAP_ASM(72, "[r12, lr, lsl #1]")
      TN_QUAD_NEXT_ROW_ASM
      TN_QUAD_TAP_ASM(80, "[r12]") TN_QUAD_TAP_ASM(88, "[r12, lr]") TN_QUAD_TAP_ASM(96, "[r12, lr, lsl #1]")
      "ldr r4, [sp, #160]\n\t"
      TN_QUAD_OUT_ASM("r0", 104, 136, "[r4]") TN_QUAD_OUT_ASM("r1", 112, 140, "[r4, #1]")
      TN_QUAD_OUT_ASM("r2", 120, 144, "[r4, #2]") TN_QUAD_OUT_ASM("r3", 128, 148, "[r4, #3]")
      "6:\n\t" /* the next row */
      "ldr r4, [sp, #172]\n\t"
      "ldr r5, [sp, #152]\n\t"
      "add r4, r4, r5, lsl #1\n\t"
      "str r4, [sp, #172]\n\t"
      "ldr r4, [sp, #176]\n\t"
      "ldr r5, [sp, #196]\n\t"
      "add r4, r4, r5\n\t"
      "str r4, [sp, #176]\n\t"
      "ldr r4, [sp, #180]\n\t"
      "subs r4, r4, #1\n\t"
      "str r4, [sp, #180]\n\t"
      "bne 2b\n\t"
      "add sp, sp, #232\n\t")
#undef TN_QUAD_NEXT_ROW_ASM
#undef TN_QUAD_LEFT_ROW_ASM
#undef TN_QUAD_PAIR_ROW_ASM
#undef TN_QUAD_PAIR_OUTPUTS_ASM
#undef TN_QUAD_PAIR_OUT_ASM
#undef TN_QUAD_OUT_ASM
#undef TN_QUAD_TAP_ASM
#undef TN_QUAD_MAC_AGAIN_ASM
#undef TN_QUAD_MAC_ASM
#else
/* One window, its columns col_bytes and rows row_bytes apart: `in` its top-left pixel, or with
 * skip_first_column (the left padding, not read; the left bias) the pixel right of it. */
static void tn_dw3x3_quad_window(const tn_dw3x3_quad* k, const int8_t* in, int32_t col_bytes, int32_t row_bytes,
                                 int skip_first_column, int8_t* out) {
  const int32_t* const bias = skip_first_column ? k->bias_left : k->bias;
  int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
  int32_t t;
  for (t = 0; t < 9; ++t) {
    if (skip_first_column && t % 3 == 0) continue;
    const int32_t x = tn_read_s32(in + (t / 3) * row_bytes + (t % 3 - skip_first_column) * col_bytes);
    const int32_t lo = tn_sxtb16(x), hi = tn_sxtb16_ror8(x);
    a0 = tn_smlabb(lo, k->w[t][0], a0);
    a2 = tn_smlatt(lo, k->w[t][0], a2);
    a1 = tn_smlabb(hi, k->w[t][1], a1);
    a3 = tn_smlatt(hi, k->w[t][1], a3);
  }
#define TN_QUAD_OUT(j, a) \
  out[j] = (int8_t)tn_ssat8(tn_fast_requantize_folded_shifted(a, k->requant[j][0], k->requant[j][1], k->exponent[j]))
  TN_QUAD_OUT(0, a0);
  TN_QUAD_OUT(1, a1);
  TN_QUAD_OUT(2, a2);
  TN_QUAD_OUT(3, a3);
#undef TN_QUAD_OUT
}
#endif

static void tn_dw3x3_quad_rows_run(const tn_dw3x3_quad_rows* r) {
#if defined(TN_ASM_THUMB2)
  tn_dw3x3_quad_rows_asm(r);
#else
  const int8_t* in = r->in;
  int8_t* out = r->out;
  int32_t y, i;
  for (y = 0; y < r->rows; ++y, in += 2 * r->row_bytes, out += r->out_row_bytes) {
    int8_t* o = out;
    const int8_t* window = in;
    if (r->left) {
      tn_dw3x3_quad_window(r->k, window, r->col_bytes, r->row_bytes, 1, o);
      tn_dw3x3_quad_window(r->k, window + r->col_bytes, r->col_bytes, r->row_bytes, 0, o + r->out_step);
      window += 3 * r->col_bytes;
      o += 2 * r->out_step;
    }
    for (i = 0; i < 2 * r->pairs + r->tail; ++i, window += 2 * r->col_bytes, o += r->out_step)
      tn_dw3x3_quad_window(r->k, window, r->col_bytes, r->row_bytes, 0, o);
  }
#endif
}

/* Whether tn_dw3x3_s2_quads takes the layer: its geometries (tn_depthwise_quads_geometry), the full int8
 * range and shifts in [-22, -1] (pre-shift 1, folded constants, doubled weights as
 * tn_dw3x3_small_maps_stride). */
typedef char tn_dw_quad_bytes_check[sizeof(tn_dw3x3_quad) == TN_DW_QUAD_BYTES ? 1 : -1];
static int tn_dw3x3_s2_quads_take(const tn_depthwise_params* p, int full_range) {
  return tn_depthwise_quads_geometry(p->in_h, p->in_w, p->pad_h, p->pad_w, p->kernel, p->stride, p->out_h, p->out_w,
                                     p->channels) &&
         full_range && tn_shifts_within(p->q.shift, p->channels, -22, -1);
}

/* Gathers `words` words of the group into dst: the zero point for the first `before` and the last
 * `after`, the pixels from src (pixel_bytes apart) in between. */
static void tn_quad_gather(int32_t* dst, const int8_t* src, int32_t pixel_bytes, int32_t words, int32_t before,
                           int32_t after, int32_t zero_point) {
  int32_t* const copy_end = dst + words - after;
  int32_t* const end = dst + words;
  int32_t* const copy = dst + before;
  while (dst != copy) *dst++ = zero_point;
  for (; dst != copy_end; ++dst, src += pixel_bytes) *dst = tn_read_s32(src);
  while (dst != end) *dst++ = zero_point;
}

/* The constants of the group of four channels from g. */
static TN_NOINLINE void tn_dw3x3_quad_pack(const tn_depthwise_params* p, int32_t g, tn_dw3x3_quad* k) {
  /* The four channels' weights are 36 consecutive bytes: channel j's tap t at 9 j + t. */
  const int8_t* const w = p->weights + 9 * g;
  int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, t;
  for (t = 0; t < 9; ++t) {
    const int32_t w0 = w[t], w1 = w[9 + t], w2 = w[18 + t], w3 = w[27 + t];
    s0 += w0;
    s1 += w1;
    s2 += w2;
    s3 += w3;
    k->w[t][0] = tn_pack16(2 * w0, 2 * w2);
    k->w[t][1] = tn_pack16(2 * w1, 2 * w3);
  }
  /* The left bias leaves out the first column's input offset share: that column is padding, whose raw
   * value (the zero point) plus the offset is 0. */
#define TN_QUAD_CHANNEL(j, sum)                                                                              \
  k->bias[j] = (int32_t)(((uint32_t)p->bias[g + j] + (uint32_t)(p->q.input_offset * (sum))) << 1);          \
  k->bias_left[j] = (int32_t)(((uint32_t)p->bias[g + j] +                                                  \
                               (uint32_t)(p->q.input_offset * ((sum) - w[9 * j] - w[9 * j + 3] - w[9 * j + 6]))) \
                              << 1);                                                                       \
  k->requant[j][0] = p->q.multiplier[g + j];                                                               \
  k->exponent[j] = -p->q.shift[g + j];                                                                     \
  k->requant[j][1] = tn_folded_constant_of_exponent(p->q.output_offset, k->exponent[j]);
  TN_QUAD_CHANNEL(0, s0)
  TN_QUAD_CHANNEL(1, s1)
  TN_QUAD_CHANNEL(2, s2)
  TN_QUAD_CHANNEL(3, s3)
#undef TN_QUAD_CHANNEL
}

/* Output row oy of the group at in_g (whose output fields r holds) from its three input rows gathered
 * with the padding: the window columns -pad_w .. 2 out_w - pad_w, 2 out_w + 1 words a row. */
static TN_NOINLINE void tn_dw3x3_quad_gathered_row(const tn_depthwise_params* p, const int8_t* in_g, int32_t oy,
                                                   tn_dw3x3_quad_rows* r, int32_t* gathered) {
  const int32_t in_h = p->in_h, row_bytes = p->in_w * p->channels, words = 2 * p->out_w + 1;
  const int32_t after = words - p->pad_w - p->in_w > 0 ? words - p->pad_w - p->in_w : 0;
  const int32_t zero_point = (int32_t)((uint32_t)(uint8_t)(int8_t)-p->q.input_offset * 0x01010101u);
  int32_t ky;
  for (ky = 0; ky < 3; ++ky) {
    const int32_t y = 2 * oy - p->pad_h + ky;
    if (y < 0 || y >= in_h)
      tn_quad_gather(gathered + ky * words, in_g, 0, words, words, 0, zero_point);
    else
      tn_quad_gather(gathered + ky * words, in_g + y * row_bytes, p->channels, words, p->pad_w, after, zero_point);
  }
  r->in = (const int8_t*)gathered;
  r->col_bytes = 4;
  r->row_bytes = 4 * words;
  r->pairs = p->out_w >> 1;
  r->tail = p->out_w & 1;
  r->left = 0;
  r->rows = 1;
  tn_dw3x3_quad_rows_run(r);
}

/* The layer, group by group, rows in order (in place, an output overwrites input that only earlier
 * windows read). The rows read in place (tn_depthwise_quads_in_place_rows) run in one call, the first
 * window over the left padding pairing with the second; the others read their input rows gathered. */
static TN_NOINLINE tn_status tn_dw3x3_s2_quads(const tn_depthwise_params* p, const int8_t* input, int8_t* output,
                                               int16_t* scratch) {
  const int32_t c = p->channels, out_h = p->out_h, out_w = p->out_w, pad_w = p->pad_w;
  const tn_depthwise_quads_rows in_place =
      tn_depthwise_quads_in_place_rows(p->in_h, p->in_w, p->pad_h, pad_w, out_h, out_w);
  tn_dw3x3_quad* const k = (tn_dw3x3_quad*)(void*)scratch;
  int32_t* const gathered = (int32_t*)(void*)(k + 1);
  tn_dw3x3_quad_rows r;
  int32_t g;
  r.k = k;
  r.out_step = c;
  r.out_row_bytes = out_w * c;
  for (g = 0; g < c; g += 4) {
    const int8_t* const in_g = input + g;
    int32_t oy;
    tn_dw3x3_quad_pack(p, g, k);
    for (oy = 0; oy < out_h; ++oy) {
      r.out = output + oy * out_w * c + g;
      if (oy >= in_place.first && oy < in_place.end) {
        r.in = in_g + (2 * oy - p->pad_h) * p->in_w * c;
        r.col_bytes = c;
        r.row_bytes = p->in_w * c;
        r.pairs = (out_w - 2 * pad_w) >> 1; /* after the left pair */
        r.tail = (out_w - 2 * pad_w) & 1;
        r.left = pad_w;
        r.rows = in_place.end - oy;
        tn_dw3x3_quad_rows_run(&r);
        oy = in_place.end - 1;
      } else {
        tn_dw3x3_quad_gathered_row(p, in_g, oy, &r, gathered);
      }
    }
  }
  return TN_OK;
}

/* One channel with SMLAD: weights as (w[ky][kx], w[ky][kx+1]) pairs per row, an odd last column
 * as a single. Inlined with constant kernel and stride so the window loops unroll. For stride 1,
 * two horizontally adjacent outputs share the loads of each row's last columns.
 * folded (a constant in each instance): the full int8 range and a rounding exponent that folds with
 * the zero point, the weights and bias already times 2^pre_shift (as in tn_dw3x3_channel_fast), so
 * each output is SMMLAR, the sign term, the shift and SSAT with `folded_constant`. */
TN_INLINE void tn_dw_channel_dsp(const tn_depthwise_params* p, const int16_t* plane, int32_t plane_w,
                                 const int32_t* wpairs, const int32_t* wlast, int32_t bias, tn_fast_requant r,
                                 int32_t folded_constant, int8_t* out, int32_t kernel, int32_t stride, int full_range,
                                 int folded) {
  /* Parameters in locals: stores through int8_t pointers may alias any memory, so the compiler would
   * otherwise reload them after every output byte. */
  const int32_t c = p->channels, out_h = p->out_h, out_w = p->out_w;
  const int32_t offset = p->q.output_offset, act_min = p->q.act_min, act_max = p->q.act_max;
  const int32_t multiplier = r.multiplier, exponent = r.exponent;
  const int32_t pairs = kernel >> 1;
  int32_t oy;
#define TN_DW_OUTPUT(a)                                                                                   \
  (folded ? (int8_t)tn_ssat8(tn_fast_requantize_folded_shifted((a), multiplier, folded_constant, exponent)) \
          : tn_output_value(tn_fast_requantize((a), &r), offset, act_min, act_max, full_range))
  for (oy = 0; oy < out_h; ++oy) {
    const int16_t* top = plane + oy * stride * plane_w;
    int8_t* o = out + oy * out_w * c;
    int32_t ox = 0;
    if (stride == 1 && (kernel & 1)) {
      for (; ox + 2 <= out_w; ox += 2) {
        int32_t a0 = bias, a1 = bias;
        int32_t ky, k;
        for (ky = 0; ky < kernel; ++ky) {
          const int16_t* rowp = top + ky * plane_w + ox;
          for (k = 0; k < pairs; ++k) {
            a0 = tn_smlad(tn_read_s32(rowp + 2 * k), wpairs[ky * pairs + k], a0);
            a1 = tn_smlad(tn_read_s32(rowp + 2 * k + 1), wpairs[ky * pairs + k], a1);
          }
          {
            /* Columns kernel-1 and kernel of the row: the last tap of output 0 and of output 1. */
            const int32_t tail = tn_read_s32(rowp + kernel - 1);
            a0 = tn_smlabb(tail, wlast[ky], a0);
            a1 = tn_smlatb(tail, wlast[ky], a1);
          }
        }
        o[0] = TN_DW_OUTPUT(a0);
        o[c] = TN_DW_OUTPUT(a1);
        o += 2 * c;
      }
    }
    for (; ox < out_w; ++ox) {
      int32_t a = bias;
      int32_t ky, k;
      for (ky = 0; ky < kernel; ++ky) {
        const int16_t* rowp = top + ky * plane_w + ox * stride;
        for (k = 0; k < pairs; ++k) a = tn_smlad(tn_read_s32(rowp + 2 * k), wpairs[ky * pairs + k], a);
        if (kernel & 1) a += rowp[kernel - 1] * (int16_t)wlast[ky];
      }
      o[0] = TN_DW_OUTPUT(a);
      o += c;
    }
  }
#undef TN_DW_OUTPUT
}

#endif

static void tn_dw_channel_generic(const tn_depthwise_params* p, const int16_t* plane, int32_t plane_w,
                                  const int8_t* w, int32_t bias, int32_t channel, int8_t* out, int full_range) {
  const int32_t c = p->channels, k = p->kernel, stride = p->stride;
  const int32_t multiplier = p->q.multiplier[channel], shift = p->q.shift[channel];
  const int32_t offset = p->q.output_offset, act_min = p->q.act_min, act_max = p->q.act_max;
  int32_t oy, ox, ky, kx;
  for (oy = 0; oy < p->out_h; ++oy)
    for (ox = 0; ox < p->out_w; ++ox) {
      int32_t a = bias;
      for (ky = 0; ky < k; ++ky) {
        const int16_t* rowp = plane + (oy * stride + ky) * plane_w + ox * stride;
        for (kx = 0; kx < k; ++kx) a += rowp[kx] * w[ky * k + kx];
      }
      out[(oy * p->out_w + ox) * c] =
          tn_output_value(tn_requantize(a, multiplier, shift), offset, act_min, act_max, full_range);
    }
}

/* The plane paths (every layer tn_dw3x3_s2_quads does not take), in their own frame: their inlined
 * kernels' locals stay off the stack of the four-channel path. */
static TN_NOINLINE tn_status tn_depthwise_planes(const tn_depthwise_params* p, const int8_t* input, int8_t* output,
                                                 int16_t* scratch) {
  const int32_t plane_h = tn_depthwise_plane_extent(p->in_h, p->pad_h, p->kernel, p->stride, p->out_h);
  const int32_t plane_w = tn_depthwise_plane_width(p->in_w, p->pad_w, p->kernel, p->stride, p->out_h, p->out_w);
  int32_t ch;
  int32_t* sums;
  int16_t* plane;
  int full_range;
#if defined(TN_ASM_THUMB2)
  tn_fill_plane_args fill;
#endif
  sums = (int32_t*)(void*)scratch;
  (void)sums; /* the portable build needs no row buffer */
  plane = scratch + 2 * tn_depthwise_sum_rows(p->out_h, p->out_w) * p->out_w;
  tn_init_plane(plane, plane_h * plane_w, p->q.input_offset);
  full_range = p->q.act_min == -128 && p->q.act_max == 127;
#if defined(TN_DSP)
  if ((p->kernel == 3 || p->kernel == 5 || p->kernel == 7) && (p->stride == 1 || p->stride == 2) && full_range &&
      p->out_h * p->out_w <= TN_DW_SMALL_OUTPUTS && tn_shifts_within(p->q.shift, p->channels, -22, -1)) {
    if (p->kernel == 3) tn_dw3x3_small_maps(p, input, output, plane, plane_w);
    else if (p->kernel == 5) tn_dw_small_maps_k5(p, input, output, plane, plane_w);
    else tn_dw_small_maps_k7(p, input, output, plane, plane_w);
    return TN_OK;
  }
#endif
#if defined(TN_ASM_THUMB2)
  {
    const int32_t c = p->channels, in_w = p->in_w;
    fill.dst = plane + p->pad_h * plane_w + p->pad_w;
    fill.c = c;
    fill.c2 = 2 * c;
    fill.c3 = 3 * c;
    fill.dst_end = fill.dst + p->in_h * plane_w;
    fill.skip_bytes = 2 * (plane_w - in_w);
    /* the looped instance: the input span of a row's groups of 8 and the rest; the straight ones:
     * their entry, and the rest past the groups of 4 */
    fill.group_bytes = in_w > 4 * TN_FILL_SHORT_GROUPS ? (in_w & ~7) * c : (TN_FILL_SHORT_GROUPS - (in_w >> 2)) * 36;
    fill.tail = in_w > 4 * TN_FILL_SHORT_GROUPS ? in_w & 7 : in_w & 3;
  }
#endif
  for (ch = 0; ch < p->channels; ++ch) {
    const int8_t* w = p->weights + ch * p->kernel * p->kernel;
    const int32_t bias = tn_effective_bias(p->bias[ch], w, p->kernel * p->kernel, p->q.input_offset);
#if defined(TN_ASM_THUMB2)
    fill.src = input + ch;
    tn_fill_plane_run(&fill, p->in_w);
#else
    tn_fill_plane(p, input, ch, plane, plane_w);
#endif
#if defined(TN_DSP)
    if (p->kernel == 3 && (p->stride == 1 || p->stride == 2)) {
      const tn_fast_requant r = tn_fast_requant_init(p->q.multiplier[ch], p->q.shift[ch]);
      tn_dw3x3_channel_dsp(p, plane, plane_w, w, bias, &r, sums, output + ch, full_range);
      continue;
    }
    if (p->kernel <= TN_DW_MAX_KERNEL) {
      int32_t wpairs[TN_DW_MAX_KERNEL * (TN_DW_MAX_KERNEL / 2)];
      int32_t wlast[TN_DW_MAX_KERNEL];
      const int32_t k = p->kernel, pairs = k >> 1;
      const tn_fast_requant r = tn_fast_requant_init(p->q.multiplier[ch], p->q.shift[ch]);
      /* The folded form (see tn_dw_channel_dsp) for exactly the kernels and strides with instances
       * below: weights times 2^pre_shift stay within int16 for pre_shift <= 8, the bias times it within
       * int32 by the accumulator bound quantization checks. */
      const int folded = (k == 5 || k == 7) && (p->stride == 1 || p->stride == 2) && full_range &&
                         tn_fast_requant_folds(&r) && r.pre_shift <= 8;
      const int32_t scale = folded ? 1 << r.pre_shift : 1; /* a product: the weights may be negative */
      const int32_t scaled_bias = folded ? (int32_t)((uint32_t)bias << r.pre_shift) : bias;
      const int32_t folded_constant = folded ? tn_fast_requant_folded_constant(&r, p->q.output_offset) : 0;
      int32_t ky, kx;
      for (ky = 0; ky < k; ++ky) {
        for (kx = 0; kx < pairs; ++kx)
          wpairs[ky * pairs + kx] = tn_pack16(w[ky * k + 2 * kx] * scale, w[ky * k + 2 * kx + 1] * scale);
        wlast[ky] = (k & 1) ? (int32_t)(uint16_t)(int16_t)(w[ky * k + k - 1] * scale) : 0;
      }
      /* Two instances per kernel and stride (3x3 took tn_dw3x3_channel_dsp above): the folded one,
       * and the clamp of an activation inside the int8 range; anything else takes the general
       * instance below. */
#define TN_DW_CASE(K, S)                                                                                  \
  if (k == (K) && p->stride == (S) && (folded || !full_range)) {                                         \
    if (folded)                                                                                          \
      tn_dw_channel_dsp(p, plane, plane_w, wpairs, wlast, scaled_bias, r, folded_constant, output + ch, K, \
                        S, 1, 1);                                                                        \
    else                                                                                                 \
      tn_dw_channel_dsp(p, plane, plane_w, wpairs, wlast, bias, r, 0, output + ch, K, S, 0, 0);         \
    continue;                                                                                            \
  }
      TN_DW_CASE(5, 1)
      TN_DW_CASE(5, 2)
      TN_DW_CASE(7, 1)
      TN_DW_CASE(7, 2)
#undef TN_DW_CASE
      tn_dw_channel_dsp(p, plane, plane_w, wpairs, wlast, bias, r, 0, output + ch, k, p->stride, full_range, 0);
      continue;
    }
#endif
    tn_dw_channel_generic(p, plane, plane_w, w, bias, ch, output + ch, full_range);
  }
  return TN_OK;
}

tn_status tn_depthwise_conv_s8(const tn_depthwise_params* p, const int8_t* input, int8_t* output, int16_t* scratch) {
  if (!p || !input || !output || !scratch || p->in_h <= 0 || p->in_w <= 0 || p->channels <= 0 || p->out_h <= 0 ||
      p->out_w <= 0 || p->kernel <= 0 || p->stride <= 0 || p->pad_h < 0 || p->pad_w < 0 || !p->weights ||
      !p->bias || !p->q.multiplier || !p->q.shift || p->q.act_min > p->q.act_max || p->q.act_min < -128 ||
      p->q.act_max > 127)
    return TN_ERROR_ARGUMENT;
  /* In place needs the output to fit in the input's slots. */
  if (output == input && p->out_h * p->out_w > p->in_h * p->in_w) return TN_ERROR_ARGUMENT;
  /* Tail calls: neither path's frame sits beneath the other's. */
#if defined(TN_DSP)
  if (tn_dw3x3_s2_quads_take(p, p->q.act_min == -128 && p->q.act_max == 127))
    return tn_dw3x3_s2_quads(p, input, output, scratch);
#endif
  return tn_depthwise_planes(p, input, output, scratch);
}
