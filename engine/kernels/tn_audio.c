/* MFCC front-end of keyword spotting in fixed point (tn_kernels.h): int16 PCM in, int8 or Q20 MFCCs
 * out. Integer arithmetic only (int32, with int64 products and sums; no division, no floating
 * point), so a Cortex-M4 runs it without touching the FPU. The host definition of the same front-end
 * (engine/audio_frontend.h) derives the tables and shifts, for full-scale samples, and every frame is
 * scaled up to full scale first (tn_frame_headroom). For such samples:
 *  - window_shift keeps 2 * sum |s[n]| <= 2^30, which bounds every FFT value and both halves of the
 *    real split (each is a partial sum of at most all samples), so no FFT stage needs scaling;
 *  - power_shift keeps the weighted mel sums below 2^63 for any input.
 * C99. */
#include "tn_arith.h"
#include "tn_kernels.h"

/* 0.5 in Q30, for round-to-nearest after a Q30 product. */
#define TN_Q30_HALF ((int64_t)1 << 29)
/* ln 2 in Q30. */
#define TN_LN2_Q30 744261118

/* x / 2^shift rounded to nearest (ties up); shift 1..62. */
static int32_t tn_round_shift(int64_t x, int32_t shift) {
  return (int32_t)((x + ((int64_t)1 << (shift - 1))) >> shift);
}

/* log2(1 + i / 64) in Q24, i = 0..64. */
static const int32_t tn_log2_table_q24[65] = {
    0,        375270,   744810,   1108793,  1467383,  1820738,  2169009,  2512340,  2850868,  3184728,
    3514044,  3838941,  4159533,  4475935,  4788255,  5096595,  5401057,  5701737,  5998727,  6292118,
    6581994,  6868440,  7151536,  7431359,  7707984,  7981483,  8251926,  8519380,  8783912,  9045584,
    9304457,  9560591,  9814042,  10064867, 10313120, 10558852, 10802114, 11042956, 11281425, 11517568,
    11751428, 11983051, 12212479, 12439752, 12664911, 12887994, 13109041, 13328087, 13545168, 13760320,
    13973576, 14184969, 14394532, 14602297, 14808293, 15012551, 15215099, 15415967, 15615181, 15812769,
    16008758, 16203172, 16396036, 16587377, 16777216};

int32_t tn_audio_log2_q24(uint64_t v) {
  if (v == 0) return 0;
  /* Normalise so that the leading one is bit 63; e = floor(log2 v). */
  int32_t e = 63;
  int32_t step;
  for (step = 32; step > 0; step >>= 1) {
    if ((v >> (64 - step)) == 0) {
      v <<= step;
      e -= step;
    }
  }
  /* The 6 bits after the leading one pick the segment, the next 16 place v inside it. */
  const int32_t segment = (int32_t)((v >> 57) & 63u);
  const int64_t fraction = (int64_t)((v >> 41) & 0xFFFFu);
  const int32_t low = tn_log2_table_q24[segment];
  const int32_t high = tn_log2_table_q24[segment + 1];
  return e * (1 << 24) + low + (int32_t)(((int64_t)(high - low) * fraction) >> 16);
}

static int tn_is_power_of_two(int32_t n) { return n > 0 && (n & (n - 1)) == 0; }

static tn_status tn_mfcc_check(const tn_mfcc_params* p, const void* pcm, const void* features, const int32_t* scratch) {
  if (!p || !pcm || !features || !scratch || !p->window || !p->twiddles || !p->mel_start || !p->mel_length ||
      !p->mel_weights || !p->dct)
    return TN_ERROR_ARGUMENT;
  if (!tn_is_power_of_two(p->fft_size) || p->fft_size < 4 || p->fft_size > 65536) return TN_ERROR_ARGUMENT;
  if (p->window_samples < 1 || p->window_samples > p->fft_size || p->stride_samples < 1 ||
      p->clip_samples < p->window_samples)
    return TN_ERROR_ARGUMENT;
  if (p->mel_channels < 1 || p->coefficients < 1 || p->coefficients > p->mel_channels) return TN_ERROR_ARGUMENT;
  if (p->window_shift < 0 || p->window_shift > 30 || p->power_shift < 0 || p->power_shift > 62 ||
      p->mel_fraction_bits < 0 || p->mel_fraction_bits > 62 || p->mel_floor == 0 ||
      p->mel_floor >= ((uint64_t)1 << 33)) /* it is scaled by up to 2^30 (tn_frame_headroom) */
    return TN_ERROR_ARGUMENT;
  /* The quantization only divides (a scale above 2^-20). */
  if (p->output_multiplier < 0 || p->output_shift > 0 || p->output_shift < -31) return TN_ERROR_ARGUMENT;
  const int32_t bins = p->fft_size / 2 + 1;
  int32_t m;
  for (m = 0; m < p->mel_channels; ++m)
    if ((int32_t)p->mel_start[m] + (int32_t)p->mel_length[m] > bins) return TN_ERROR_ARGUMENT;
  return TN_OK;
}

/* Block floating point: the bits a frame can be scaled up by while its samples stay within int16's
 * range (15 for a silent frame). The shifts of the params hold for full-scale samples, so every
 * frame is brought near full scale first and its mel energies carry 2 * headroom more fraction bits;
 * without this, quiet frames would lose their precision to the rounding of the windowed samples. */
static int32_t tn_frame_headroom(const int16_t* frame, int32_t samples) {
  int32_t peak = 0, bits = 0, n;
  for (n = 0; n < samples; ++n) {
    const int32_t magnitude = frame[n] < 0 ? -(int32_t)frame[n] : frame[n];
    if (magnitude > peak) peak = magnitude;
  }
  while (bits < 15 && (peak << (bits + 1)) <= 32768) ++bits;
  return bits;
}

/* Windows one frame scaled by 2^headroom and packs sample pairs into complex values,
 * z[n] = s[2n] + i s[2n + 1], stored in bit-reversed order of n for the decimation-in-time FFT.
 * Samples past the window are zero. */
static void tn_mfcc_load_frame(const tn_mfcc_params* p, const int16_t* frame, int32_t headroom, int32_t* z) {
  const int32_t points = p->fft_size / 2;
  const int32_t scale = (int32_t)1 << headroom;
  /* Q15 samples times the Q30 window. */
  const int32_t shift = p->window_shift + 15;
  int32_t reversed = 0;
  int32_t n;
  for (n = 0; n < points; ++n) {
    const int32_t even = 2 * n, odd = 2 * n + 1;
    z[2 * reversed] =
        even < p->window_samples ? tn_round_shift((int64_t)(frame[even] * scale) * p->window[even], shift) : 0;
    z[2 * reversed + 1] =
        odd < p->window_samples ? tn_round_shift((int64_t)(frame[odd] * scale) * p->window[odd], shift) : 0;
    /* Increment `reversed` as a bit-reversed counter: carry from the top bit downwards. */
    int32_t bit = points >> 1;
    while (bit > 0 && (reversed & bit)) {
      reversed ^= bit;
      bit >>= 1;
    }
    reversed |= bit;
  }
}

/* In-place radix-2 decimation-in-time FFT of `points` complex values (bit-reversed in, natural order
 * out). The twiddle e^(-2 pi i j / len) of a stage of length len is entry j * fft_size / len of the
 * table. Butterflies cannot overflow: see the bound at the top of the file. */
static void tn_fft_radix2(int32_t* z, int32_t points, const int32_t* twiddles, int32_t fft_size) {
  int32_t half, j, k;
  for (half = 1; half < points; half <<= 1) {
    const int32_t span = 2 * half;
    const int32_t table_step = fft_size / span;
    /* j = 0: the twiddle is 1. */
    for (k = 0; k < points; k += span) {
      int32_t* a = z + 2 * k;
      int32_t* b = z + 2 * (k + half);
      const int32_t br = b[0], bi = b[1];
      b[0] = a[0] - br;
      b[1] = a[1] - bi;
      a[0] += br;
      a[1] += bi;
    }
    for (j = 1; j < half; ++j) {
      const int64_t c = twiddles[2 * j * table_step], s = twiddles[2 * j * table_step + 1];
      for (k = j; k < points; k += span) {
        int32_t* a = z + 2 * k;
        int32_t* b = z + 2 * (k + half);
        /* t = b * (c - i s) */
        const int32_t tr = (int32_t)((b[0] * c + b[1] * s + TN_Q30_HALF) >> 30);
        const int32_t ti = (int32_t)((b[1] * c - b[0] * s + TN_Q30_HALF) >> 30);
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] += tr;
        a[1] += ti;
      }
    }
  }
}

/* Turns Z, the FFT of z[n] = s[2n] + i s[2n + 1] (fft_size / 2 points), into 2 X[k] for k = 0..fft_size/2,
 * X the FFT of the real frame s, in place: slot k holds 2 X[k] for 0 < k < fft_size / 2, slot 0 the
 * two real values 2 X[0] and 2 X[fft_size / 2]. With E, O the FFTs of the even and odd samples,
 * 2E[k] = Z[k] + conj Z[h - k], 2O[k] = -i (Z[k] - conj Z[h - k]), 2X[k] = 2E[k] + W^k 2O[k] and
 * 2X[h - k] = conj(2E[k] - W^k 2O[k]), W = e^(-2 pi i / fft_size), h = fft_size / 2. */
static void tn_real_fft_split(int32_t* z, const int32_t* twiddles, int32_t fft_size) {
  const int32_t h = fft_size / 2;
  const int32_t r0 = z[0], i0 = z[1];
  z[0] = 2 * (r0 + i0);
  z[1] = 2 * (r0 - i0);
  int32_t k;
  for (k = 1; k <= h / 2; ++k) {
    int32_t* a = z + 2 * k;
    int32_t* b = z + 2 * (h - k);
    const int64_t er = (int64_t)a[0] + b[0], ei = (int64_t)a[1] - b[1];
    const int64_t or_ = (int64_t)a[1] + b[1], oi = (int64_t)b[0] - a[0];
    const int64_t c = twiddles[2 * k], s = twiddles[2 * k + 1];
    /* W^k 2O = (c - i s)(or + i oi) */
    const int64_t wr = (or_ * c + oi * s + TN_Q30_HALF) >> 30;
    const int64_t wi = (oi * c - or_ * s + TN_Q30_HALF) >> 30;
    a[0] = (int32_t)(er + wr);
    a[1] = (int32_t)(ei + wi);
    if (b != a) {
      b[0] = (int32_t)(er - wr);
      b[1] = (int32_t)(wi - ei);
    }
  }
}

/* |2X[k]|^2 >> power_shift of the split spectrum. */
static uint64_t tn_bin_power(const int32_t* x, int32_t k, int32_t fft_size, int32_t power_shift) {
  int64_t re, im = 0;
  if (k == 0) {
    re = x[0];
  } else if (k == fft_size / 2) {
    re = x[1];
  } else {
    re = x[2 * k];
    im = x[2 * k + 1];
  }
  return (uint64_t)(re * re + im * im) >> power_shift;
}

/* ln(mel / 2^fraction_bits) in Q20 (Q24 * Q30 = Q54, rounded). */
static int32_t tn_ln_q20(uint64_t mel, int32_t fraction_bits) {
  const int64_t log2_q24 = (int64_t)tn_audio_log2_q24(mel) - ((int64_t)fraction_bits << 24);
  return (int32_t)((log2_q24 * TN_LN2_Q30 + ((int64_t)1 << 33)) >> 34);
}

/* The log mel energies of the frame starting at `frame`, Q20, into log_mel[mel_channels]; z is the
 * fft_size int32 work buffer. */
static void tn_mfcc_log_mel(const tn_mfcc_params* p, const int16_t* frame, int32_t* z, int32_t* log_mel) {
  const int32_t headroom = tn_frame_headroom(frame, p->window_samples);
  const uint64_t floor = p->mel_floor << (2 * headroom);
  const int32_t fraction_bits = p->mel_fraction_bits + 2 * headroom;
  tn_mfcc_load_frame(p, frame, headroom, z);
  tn_fft_radix2(z, p->fft_size / 2, p->twiddles, p->fft_size);
  tn_real_fft_split(z, p->twiddles, p->fft_size);
  const uint16_t* weight = p->mel_weights;
  int32_t m, j;
  for (m = 0; m < p->mel_channels; ++m) {
    uint64_t energy = 0;
    for (j = 0; j < p->mel_length[m]; ++j)
      energy += (uint64_t)weight[j] * tn_bin_power(z, p->mel_start[m] + j, p->fft_size, p->power_shift);
    weight += p->mel_length[m];
    log_mel[m] = tn_ln_q20(energy > floor ? energy : floor, fraction_bits);
  }
}

/* Coefficient c of the DCT of the log mel energies, Q20 (Q30 * Q20 = Q50, rounded). */
static int32_t tn_mfcc_coefficient(const tn_mfcc_params* p, const int32_t* log_mel, int32_t c) {
  const int32_t* row = p->dct + c * p->mel_channels;
  int64_t acc = 0;
  int32_t m;
  for (m = 0; m < p->mel_channels; ++m) acc += (int64_t)row[m] * log_mel[m];
  return (int32_t)((acc + TN_Q30_HALF) >> 30);
}

tn_status tn_mfcc_q20(const tn_mfcc_params* p, const int16_t* pcm, int32_t* features, int32_t* scratch) {
  const tn_status status = tn_mfcc_check(p, pcm, features, scratch);
  if (status != TN_OK) return status;
  int32_t* log_mel = scratch + p->fft_size;
  const int32_t frames = tn_mfcc_frames(p);
  int32_t f, c;
  for (f = 0; f < frames; ++f) {
    tn_mfcc_log_mel(p, pcm + f * p->stride_samples, scratch, log_mel);
    for (c = 0; c < p->coefficients; ++c) features[f * p->coefficients + c] = tn_mfcc_coefficient(p, log_mel, c);
  }
  return TN_OK;
}

tn_status tn_mfcc_s8(const tn_mfcc_params* p, const int16_t* pcm, int8_t* features, int32_t* scratch) {
  const tn_status status = tn_mfcc_check(p, pcm, features, scratch);
  if (status != TN_OK) return status;
  int32_t* log_mel = scratch + p->fft_size;
  const int32_t frames = tn_mfcc_frames(p);
  int32_t f, c;
  for (f = 0; f < frames; ++f) {
    tn_mfcc_log_mel(p, pcm + f * p->stride_samples, scratch, log_mel);
    for (c = 0; c < p->coefficients; ++c) {
      const int32_t q20 = tn_mfcc_coefficient(p, log_mel, c);
      const int32_t q = tn_requantize(q20, p->output_multiplier, p->output_shift) + p->output_zero_point;
      features[f * p->coefficients + c] = (int8_t)tn_clamp(q, -128, 127);
    }
  }
  return TN_OK;
}
