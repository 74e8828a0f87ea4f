/* Integer arithmetic shared by the int8 kernels: TF-Lite's requantization and the Cortex-M DSP
 * operations the fast paths use.
 *
 * The DSP path (TN_DSP) is compiled for cores with the ARMv7E-M DSP extension (__ARM_FEATURE_DSP, as
 * Cortex-M4/M7) with the ACLE intrinsics of arm_acle.h. Defining TN_EMULATE_DSP on any other target
 * compiles the same path with exact C models of those instructions, so the host tests check it bit
 * for bit against the portable path and the reference. C99, header only. */
#ifndef TN_ARITH_H
#define TN_ARITH_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TN_DSP 1
#define TN_DSP_NATIVE 1
#elif defined(TN_EMULATE_DSP)
#define TN_DSP 1
#endif

/* The kernels' inline assembly is Thumb-2 (the Cortex-M cores: ARM state has other register-pair rules
 * and r11 as its frame pointer) and takes every register, which only an optimizing build leaves it. */
#if defined(TN_DSP_NATIVE) && defined(__OPTIMIZE__) && defined(__thumb2__)
#define TN_ASM_THUMB2 1
/* A kernel step in that assembly: a function of one argument, the address of its argument block (in r0
 * on entry), whose BODY may take every register but sp and pc. Not inlined, so its callers keep their
 * registers; no frame pointer, so r7 is free to it. */
#define TN_ASM_FUNCTION(name, args_type, BODY)                                                            \
  __attribute__((noinline, optimize("omit-frame-pointer"))) static void name(args_type* args) {            \
    register args_type* r0 __asm__("r0") = args;                                                           \
    __asm__ volatile(BODY                                                                                  \
                     : "+r"(r0)                                                                            \
                     :                                                                                     \
                     : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", \
                       "memory");                                                                          \
  }
#endif

#if defined(__GNUC__)
#define TN_INLINE static inline __attribute__((always_inline))
#define TN_NOINLINE __attribute__((noinline))
#else
#define TN_INLINE static inline
#define TN_NOINLINE
#endif

/* ---------------------------------------------------------------------------------------------
 * TF-Lite's requantization: real multiplier = multiplier * 2^(shift - 31), multiplier in
 * [2^30, 2^31) or 0. The result is RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(
 * acc * 2^max(shift, 0), multiplier), max(-shift, 0)).
 * ------------------------------------------------------------------------------------------- */

/* SaturatingRoundingDoublingHighMul for a non-negative multiplier: the only saturating case of
 * TF-Lite's version (both operands INT32_MIN) cannot occur, and its sign-dependent nudge followed by
 * a truncating division equals adding 2^30 and shifting right arithmetically. */
TN_INLINE int32_t tn_doubling_high_mul(int32_t a, int32_t multiplier) {
  return (int32_t)(((int64_t)a * multiplier + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero. */
TN_INLINE int32_t tn_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + ((x & mask) > threshold ? 1 : 0);
}

TN_INLINE int32_t tn_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return tn_rounding_divide_by_pot(tn_doubling_high_mul((int32_t)((uint32_t)acc << left), multiplier), right);
}

TN_INLINE int32_t tn_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Whether every one of n shifts lies in [lo, hi]: kernels check it once per call to take a path
 * specialised for the requantization of nearly every layer. */
TN_INLINE int tn_shifts_within(const int32_t* shift, int32_t n, int32_t lo, int32_t hi) {
  int32_t i;
  for (i = 0; i < n; ++i)
    if (shift[i] < lo || shift[i] > hi) return 0;
  return 1;
}

/* Unaligned little-endian loads and stores (one LDR/STR on Cortex-M4/M7, which allow unaligned
 * word access). */
TN_INLINE int32_t tn_read_s32(const void* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
TN_INLINE void tn_write_s32(void* p, int32_t v) { memcpy(p, &v, 4); }
TN_INLINE int32_t tn_read_u16(const void* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

/* Two int16 values in the lanes of a word (lane 0 in bits 0-15, lane 1 in bits 16-31): one PKHBT
 * on the DSP cores (GCC emits two instructions for the C form). */
TN_INLINE int32_t tn_pack16(int32_t lane0, int32_t lane1) {
#if defined(TN_DSP_NATIVE)
  int32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lane0), "r"(lane1));
  return r;
#else
  return (int32_t)(((uint32_t)(uint16_t)lane0) | ((uint32_t)(uint16_t)lane1 << 16));
#endif
}

/* The pointer p, hidden from the optimiser's view of where it came from: in a loop over channels
 * whose body is fully unrolled, GCC otherwise turns every per-channel address into its own pointer
 * advanced once per channel, and spills most of them. */
#if defined(__GNUC__)
#define TN_OPAQUE_POINTER(p) __asm__("" : "+r"(p))
#else
#define TN_OPAQUE_POINTER(p) ((void)0)
#endif

/* The last step of every requantizing kernel: add the output zero point and clamp. With the full
 * int8 range as the clamp (no activation, or a ReLU6 whose range covers the output's) the DSP build
 * uses one SSAT; kernels pass full_range as a constant so each instance keeps one form. */
TN_INLINE int8_t tn_output_value(int32_t requantized, int32_t offset, int32_t act_min, int32_t act_max,
                                 int full_range);

#if defined(TN_DSP)

/* ---------------------------------------------------------------------------------------------
 * The DSP operations. Two 16-bit lanes per 32-bit word: lane 0 in bits 0-15, lane 1 in bits 16-31.
 * ------------------------------------------------------------------------------------------- */
TN_INLINE uint32_t tn_ror8(uint32_t x) { return (x >> 8) | (x << 24); }


#if defined(TN_DSP_NATIVE)
/* Bytes 0 and 2 of x, sign-extended into the two lanes. */
TN_INLINE int32_t tn_sxtb16(int32_t x) { return (int32_t)__sxtb16((uint32_t)x); }
/* Lane-wise a + sign-extended bytes 0 and 2 of x (each lane wraps modulo 2^16). */
TN_INLINE int32_t tn_sxtab16(int32_t a, int32_t x) { return (int32_t)__sxtab16((uint32_t)a, (uint32_t)x); }
/* acc + lane0(x) * lane0(y) + lane1(x) * lane1(y). */
TN_INLINE int32_t tn_smlad(int32_t x, int32_t y, int32_t acc) { return __smlad(x, y, acc); }
/* acc + lane0(x) * lane0(y). */
TN_INLINE int32_t tn_smlabb(int32_t x, int32_t y, int32_t acc) { return __smlabb(x, y, acc); }
/* acc + lane1(x) * lane0(y). */
TN_INLINE int32_t tn_smlatb(int32_t x, int32_t y, int32_t acc) { return __smlatb(x, y, acc); }
/* acc + lane0(x) * lane1(y). */
TN_INLINE int32_t tn_smlabt(int32_t x, int32_t y, int32_t acc) { return __smlabt(x, y, acc); }
/* acc + lane1(x) * lane1(y). */
TN_INLINE int32_t tn_smlatt(int32_t x, int32_t y, int32_t acc) { return __smlatt(x, y, acc); }
/* (a * b + 2^31) >> 32: the rounded high word of the 64-bit product (SMMULR; not in ACLE). */
TN_INLINE int32_t tn_smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
#define tn_ssat8(x) __ssat((x), 8)
/* c + ((a * b + 2^31) >> 32): SMMULR plus an addend, exactly (SMMLAR adds c * 2^32 before the
 * rounding shift; not in ACLE). */
TN_INLINE int32_t tn_smmlar(int32_t a, int32_t b, int32_t c) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
}
/* SXTB16 of x rotated right by 8: bytes 1 and 3 (the rotation is free in the instruction). */
TN_INLINE int32_t tn_sxtb16_ror8(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
/* a + SXTB16 of x rotated right by 8: a + bytes 1 and 3, lane-wise. */
TN_INLINE int32_t tn_sxtab16_ror8(int32_t a, int32_t x) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}
/* Two words from a 4-byte aligned address plus a constant offset: one LDRD (GCC does not merge the
 * two loads itself). */
#define TN_LOAD_PAIR(lo, hi, ptr, offset) \
  __asm__("ldrd %0, %1, [%2, %3]" : "=&r"(lo), "=&r"(hi) : "r"(ptr), "I"(offset) : "memory")
/* Two words to a 4-byte aligned address: one STRD. */
#define TN_STORE_PAIR(ptr, lo, hi) __asm__("strd %1, %2, [%0]" : : "r"(ptr), "r"(lo), "r"(hi) : "memory")
/* The same at a constant byte offset from ptr. */
#define TN_STORE_PAIR_AT(ptr, offset, lo, hi) \
  __asm__("strd %1, %2, [%0, %3]" : : "r"(ptr), "r"(lo), "r"(hi), "I"(offset) : "memory")
#else
TN_INLINE int32_t tn_lane0(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
TN_INLINE int32_t tn_lane1(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }
TN_INLINE int32_t tn_pack_lanes(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}
TN_INLINE int32_t tn_sxtb16(int32_t x) {
  return tn_pack_lanes((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
TN_INLINE int32_t tn_sxtab16(int32_t a, int32_t x) {
  return tn_pack_lanes(tn_lane0(a) + (int8_t)(uint8_t)((uint32_t)x & 0xFFu),
                       tn_lane1(a) + (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
/* The instructions wrap modulo 2^32 (they only set the Q flag): model that without signed overflow. */
TN_INLINE int32_t tn_smlad(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tn_lane0(x) * tn_lane0(y)) + (uint32_t)(tn_lane1(x) * tn_lane1(y)));
}
TN_INLINE int32_t tn_smlabb(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tn_lane0(x) * tn_lane0(y)));
}
TN_INLINE int32_t tn_smlatb(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tn_lane1(x) * tn_lane0(y)));
}
TN_INLINE int32_t tn_smlabt(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tn_lane0(x) * tn_lane1(y)));
}
TN_INLINE int32_t tn_smlatt(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(tn_lane1(x) * tn_lane1(y)));
}
TN_INLINE int32_t tn_smmulr(int32_t a, int32_t b) {
  return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
TN_INLINE int32_t tn_smmlar(int32_t a, int32_t b, int32_t c) {
  return (int32_t)(((int64_t)c * ((int64_t)1 << 32) + (int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
TN_INLINE int32_t tn_ssat8(int32_t x) { return tn_clamp(x, -128, 127); }
TN_INLINE int32_t tn_sxtb16_ror8(int32_t x) { return tn_sxtb16((int32_t)tn_ror8((uint32_t)x)); }
TN_INLINE int32_t tn_sxtab16_ror8(int32_t a, int32_t x) { return tn_sxtab16(a, (int32_t)tn_ror8((uint32_t)x)); }
#define TN_LOAD_PAIR(lo, hi, ptr, offset)                            \
  do {                                                               \
    (lo) = tn_read_s32((const char*)(const void*)(ptr) + (offset));     \
    (hi) = tn_read_s32((const char*)(const void*)(ptr) + (offset) + 4); \
  } while (0)
#define TN_STORE_PAIR(ptr, lo, hi)                     \
  do {                                                 \
    tn_write_s32((ptr), (lo));                         \
    tn_write_s32((char*)(void*)(ptr) + 4, (hi));       \
  } while (0)
#define TN_STORE_PAIR_AT(ptr, offset, lo, hi) TN_STORE_PAIR((char*)(void*)(ptr) + (offset), (lo), (hi))
#endif

/* Requantization in four DSP-friendly steps, with per-channel constants computed once
 * (tn_fast_requant_init). Equal to tn_requantize whenever |acc| * 2^(max(shift, 0) + 1) < 2^31,
 * which the exporter checks for every layer from its weights and bias (see engine/quantize):
 *  - SMMULR of acc * 2^(left + 1) and the multiplier is (acc * 2^left * m + 2^30) >> 31, the
 *    doubling high multiply, exactly;
 *  - for that product x, |x| < 2^30, so x + 2^(e-1) cannot overflow, and
 *    (x + 2^(e-1) - [x < 0]) >> e is the rounding division (ties away from zero); for e = 0 the
 *    sign term is masked off. */
typedef struct {
  int32_t multiplier;
  int32_t pre_shift;  /* left + 1 */
  int32_t half;       /* 2^(e-1), or 0 when e = 0 */
  int32_t neg_mask;   /* -1 when e > 0, else 0 */
  int32_t exponent;   /* e = max(-shift, 0) */
} tn_fast_requant;

TN_INLINE tn_fast_requant tn_fast_requant_init(int32_t multiplier, int32_t shift) {
  /* Branch-free: it runs once per output channel and step. */
  tn_fast_requant r;
  const int32_t left = shift & ~(shift >> 31); /* max(shift, 0) */
  r.multiplier = multiplier;
  r.pre_shift = left + 1;
  r.exponent = left - shift; /* max(-shift, 0) */
  r.half = (int32_t)((1u << r.exponent) >> 1);
  r.neg_mask = (int32_t)(0u - (uint32_t)r.exponent) >> 31;
  return r;
}

TN_INLINE int32_t tn_fast_requantize(int32_t acc, const tn_fast_requant* r) {
  const int32_t x = tn_smmulr((int32_t)((uint32_t)acc << r->pre_shift), r->multiplier);
  return (x + r->half + ((x >> 31) & r->neg_mask)) >> r->exponent;
}

/* With 1 <= e <= 22 the rounding constant and the output zero point fold into one constant:
 * adding offset * 2^e before the shift adds exactly offset after it, and |x| < 2^30,
 * 2^(e-1) + 128 * 2^e < 2^30 keep the sum inside int32. SMMLAR adds the constant in the multiply.
 * The sign term may come from the accumulator instead of x: they differ only when x = 0 and acc < 0,
 * and then (folded - 1) >> e = (folded >> e) = offset because 0 <= 2^(e-1) - 1 < 2^e.
 * requantize + offset in three instructions after the pre-shift. */
TN_INLINE int tn_fast_requant_folds(const tn_fast_requant* r) { return r->exponent >= 1 && r->exponent <= 22; }
TN_INLINE int32_t tn_fast_requant_folded_constant(const tn_fast_requant* r, int32_t output_offset) {
  return r->half + (int32_t)((uint32_t)output_offset << r->exponent);
}
/* The folded constant of a shift in [-22, -1], whose pre-shift is 1 and exponent e = -shift:
 * 2^(e-1) + offset * 2^e = (2 * offset + 1) * 2^(e-1). Kernels that checked a layer's shifts once
 * (tn_shifts_within) use it instead of tn_fast_requant_init per channel. */
TN_INLINE int32_t tn_folded_constant_of_exponent(int32_t output_offset, int32_t exponent) {
  return (int32_t)((uint32_t)(2 * output_offset + 1) << (exponent - 1));
}
/* For an accumulator already multiplied by 2^pre_shift. */
TN_INLINE int32_t tn_fast_requantize_folded_shifted(int32_t shifted, int32_t multiplier, int32_t folded,
                                                    int32_t exponent) {
  return (tn_smmlar(shifted, multiplier, folded) + (shifted >> 31)) >> exponent;
}
TN_INLINE int32_t tn_fast_requantize_folded(int32_t acc, const tn_fast_requant* r, int32_t folded) {
  return tn_fast_requantize_folded_shifted((int32_t)((uint32_t)acc << r->pre_shift), r->multiplier, folded,
                                           r->exponent);
}

#endif /* TN_DSP */

TN_INLINE int8_t tn_output_value(int32_t requantized, int32_t offset, int32_t act_min, int32_t act_max,
                                 int full_range) {
  const int32_t v = requantized + offset;
#if defined(TN_DSP)
  if (full_range) return (int8_t)tn_ssat8(v);
#else
  (void)full_range;
#endif
  return (int8_t)tn_clamp(v, act_min, act_max);
}

#endif /* TN_ARITH_H */
