/* The int8 kernels of the tinynas MCU runtime. C99, no heap, nothing from libc but memcpy/memset.
 *
 * Conventions (TF-Lite's int8 scheme):
 *  - tensors are NHWC with batch 1, int8, per-tensor scale and zero point;
 *  - weights are int8 with zero point 0, one scale per output channel; bias is int32;
 *  - output = clamp(requantize(acc, multiplier[c], shift[c]) + output_offset, act_min, act_max) with
 *    TF-Lite's MultiplyByQuantizedMultiplier (tn_arith.h); input_offset is minus the input zero point;
 *  - every kernel that needs scratch takes it from the planned arena; its size in bytes is given by
 *    the matching function of tn_scratch.h, and the planner reserves exactly that.
 * Every kernel returns TN_OK, or TN_ERROR_ARGUMENT for parameters it cannot run (never aborts).
 *
 * Two builds of the same source: portable C, and a Cortex-M DSP path (see tn_arith.h). Both give
 * identical outputs. */
#ifndef TN_KERNELS_H
#define TN_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TN_OK = 0, TN_ERROR_ARGUMENT = -1 } tn_status;

/* Per-output-channel requantization and the output's quantization. */
typedef struct {
  const int32_t* multiplier; /* [out_c] */
  const int32_t* shift;      /* [out_c], TF-Lite convention: > 0 shifts left */
  int32_t input_offset;      /* minus the input zero point */
  int32_t output_offset;     /* the output zero point */
  int32_t act_min, act_max;  /* the output clamp, activation folded in */
} tn_requant_params;

/* The window of a convolution or pooling: kernel_h x kernel_w taps, dilation_h / dilation_w apart,
 * moved by stride_h / stride_w; pad_h / pad_w padding rows and columns before the input (the padding
 * after follows from the output size). A window reaches (kernel - 1) * dilation + 1 input elements. */
typedef struct {
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;
} tn_window;

/* Standard convolution with any window, in `groups` groups: output channel o reads the in_c / groups
 * input channels of group o / (out_c / groups) (groups = 1: all of them; groups = in_c: depthwise, any
 * channel multiplier). Weights are packed by tn_conv_weights_row_length: [out_c][row], each row the
 * OHWI weights of one output channel (ky, kx, ic of its group) followed by zeros up to a multiple of 4. */
typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  tn_window window;
  int32_t groups;
  const int8_t* weights;
  const int32_t* bias; /* [out_c] */
  tn_requant_params q;
} tn_conv_params;

/* Length of a packed weight row (and of one im2col column) of a standard or 1x1 convolution whose
 * groups have group_in_c input channels. */
static inline int32_t tn_conv_weights_row_length(int32_t group_in_c, int32_t kernel_h, int32_t kernel_w) {
  return (kernel_h * kernel_w * group_in_c + 3) & ~3;
}

/* Standard convolution; picks the 3x3 stride-2 stem path for 1 or 3 input channels. */
tn_status tn_conv2d_s8(const tn_conv_params* p, const int8_t* input, int8_t* output, int16_t* scratch);
/* 1x1 convolution with stride 1 (a 1x1 window, stride 1, no padding, one group; same packed weight rows). */
tn_status tn_pointwise_conv_s8(const tn_conv_params* p, const int8_t* input, int8_t* output, int16_t* scratch);

/* Depthwise kxk convolution (channel multiplier 1): weights [c][k][k]. The output may overwrite the
 * input (output == input) when it has no more elements than the input: each channel is copied to
 * the scratch plane before any of its outputs is written (the 3x3 stride-2 four-channel path, which
 * reads the input in place, writes each output after every window that reads the input it
 * overwrites). Other overlaps are not allowed. */
typedef struct {
  int32_t in_h, in_w, channels;
  int32_t out_h, out_w;
  int32_t kernel, stride, pad_h, pad_w;
  const int8_t* weights;
  const int32_t* bias; /* [channels] */
  tn_requant_params q;
} tn_depthwise_params;

/* Output maps of at most this many outputs per channel take the depthwise kernels' one-pass path
 * (3x3, 5x5 and 7x7 windows, stride 1 or 2, in the DSP build), the last stages of MCU networks. */
#define TN_DW_SMALL_OUTPUTS 64

tn_status tn_depthwise_conv_s8(const tn_depthwise_params* p, const int8_t* input, int8_t* output, int16_t* scratch);

/* Fully connected: output[o] = sum_i weights[o][i] (input[i] + input_offset) + bias[o], requantized.
 * Weights are packed as [out][row] with row = in_features rounded up to a multiple of 4 (zeros). */
typedef struct {
  int32_t in_features, out_features;
  const int8_t* weights;
  const int32_t* bias;
  tn_requant_params q;
} tn_fully_connected_params;

static inline int32_t tn_fully_connected_row_length(int32_t in_features) { return (in_features + 3) & ~3; }

tn_status tn_fully_connected_s8(const tn_fully_connected_params* p, const int8_t* input, int8_t* output,
                                int16_t* scratch);

/* Element-wise add with TF-Lite's int8 arithmetic: both inputs shifted left by left_shift, rescaled
 * to a common scale, summed, requantized to the output. The output may overwrite either input. */
typedef struct {
  int32_t size;
  int32_t input1_offset, input2_offset; /* minus the zero points */
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t left_shift;
  int32_t output_multiplier, output_shift;
  int32_t output_offset;
  int32_t act_min, act_max;
} tn_add_params;

tn_status tn_add_s8(const tn_add_params* p, const int8_t* input1, const int8_t* input2, int8_t* output);

/* Element-wise multiply with TF-Lite's int8 arithmetic: output = output_offset +
 * requantize((input1 + input1_offset) * (input2 + input2_offset)), clamped. input1 and the output are
 * pixels x channels; input2 has the same shape, or (broadcast = 1) one value per channel, as a
 * squeeze-and-excite scale. The output may overwrite input1. */
typedef struct {
  int32_t pixels, channels;
  int32_t broadcast;
  int32_t input1_offset, input2_offset; /* minus the zero points */
  int32_t output_multiplier, output_shift;
  int32_t output_offset;
  int32_t act_min, act_max;
} tn_mul_params;

tn_status tn_mul_s8(const tn_mul_params* p, const int8_t* input1, const int8_t* input2, int8_t* output);

/* PRelu with one slope per channel, TF-Lite's int8 arithmetic: with v = input + input_offset,
 * output = output_offset + (v >= 0 ? requantize(v, positive) : requantize(v * slope[c], negative)),
 * clamped; positive is input scale / output scale, negative input scale * slope scale / output scale
 * (int8 slopes with zero point 0). pixels x channels values; the output may overwrite the input. */
typedef struct {
  int32_t pixels, channels;
  const int8_t* slopes; /* [channels] */
  int32_t input_offset; /* minus the input zero point */
  int32_t positive_multiplier, positive_shift;
  int32_t negative_multiplier, negative_shift;
  int32_t output_offset;
  int32_t act_min, act_max;
} tn_prelu_params;

tn_status tn_prelu_s8(const tn_prelu_params* p, const int8_t* input, int8_t* output);

/* Any element-wise function of one int8 input as a 256-entry table (index: input + 128), computed at
 * export time from the float function and the input and output quantization. The output may
 * overwrite the input. */
typedef struct {
  int32_t size;
  const int8_t* table; /* [256] */
} tn_lookup_params;

tn_status tn_lookup_s8(const tn_lookup_params* p, const int8_t* input, int8_t* output);

/* Channel gathers (Concat, Split / Slice, channel shuffles): over `pixels` pixels, output channel j
 * copies channel map[j] of the concatenation of input1's in1_c channels and input2's in2_c (0: no
 * input2), through a 256-entry requantization table (index: value + 128) when that input's
 * quantization differs from the output's (table1 / table2; 0: a plain copy). The output may not
 * overlap the inputs. */
typedef struct {
  int32_t pixels;
  int32_t in1_c, in2_c, out_c;
  const uint16_t* map; /* [out_c] */
  const int8_t* table1;
  const int8_t* table2;
} tn_channel_map_params;

tn_status tn_channel_map_s8(const tn_channel_map_params* p, const int8_t* input1, const int8_t* input2,
                            int8_t* output);

/* Nearest-neighbour resizing (ONNX Resize and Upsample in mode nearest) of an NHWC tensor: output pixel
 * (y, x) copies the channels of input pixel (rows[y], cols[x]). The index tables, computed at export
 * time, carry the source model's coordinate transformation and rounding. The quantization is the
 * input's. The output may not overlap the input. */
typedef struct {
  int32_t in_h, in_w, channels, out_h, out_w;
  const uint16_t* rows; /* [out_h] */
  const uint16_t* cols; /* [out_w] */
} tn_resize_params;

tn_status tn_resize_nearest_s8(const tn_resize_params* p, const int8_t* input, int8_t* output);

/* Softmax over rows of row_size values (the channels of each pixel) with TF-Lite's int8 arithmetic
 * (tn_softmax.c). The input scale enters as TF-Lite's quantization of beta * input scale * 2^26 as a
 * multiplier above one (input_multiplier, input_left_shift); diff_min is minus the largest difference
 * to the row's maximum whose exponential counts. The output has scale 1/256 and zero point -128. The
 * output may overwrite the input. */
typedef struct {
  int32_t rows, row_size;
  int32_t input_multiplier, input_left_shift;
  int32_t diff_min;
} tn_softmax_params;

tn_status tn_softmax_s8(const tn_softmax_params* p, const int8_t* input, int8_t* output);

/* Average and max pooling (the output keeps the input's scale and zero point). The average is over
 * the window's elements inside the input and rounds half away from zero (TF-Lite). */
typedef struct {
  int32_t in_h, in_w, channels;
  int32_t out_h, out_w;
  tn_window window;
  int32_t act_min, act_max;
} tn_pool_params;

tn_status tn_avg_pool_s8(const tn_pool_params* p, const int8_t* input, int8_t* output);
tn_status tn_max_pool_s8(const tn_pool_params* p, const int8_t* input, int8_t* output);
/* Global average pooling over in_h x in_w (a pool whose window is the whole input). */
tn_status tn_global_avg_pool_s8(const tn_pool_params* p, const int8_t* input, int8_t* output);

/* MFCC features of one audio clip for keyword spotting, in fixed point (tn_audio.c): the MCU side of
 * the front-end defined in engine/audio_frontend.h, whose tables and shifts come from that
 * definition. Per frame of window_samples int16 samples, stride_samples apart (frames: see
 * tn_mfcc_frames), with h the frame's headroom (the bits its peak can grow by within int16, a block
 * floating-point exponent that keeps quiet frames precise):
 *   s[n]    = round(pcm[n] * 2^h * window[n] / 2^(window_shift + 15)), zero-padded to fft_size
 *   2X[k]   = 2 * DFT(s)[k], k = 0..fft_size/2 (an in-place radix-2 FFT of fft_size/2 complex points,
 *             then the real split)
 *   mel[m]  = max(sum_j mel_weights[j] * (|2X[mel_start[m] + j]|^2 >> power_shift), mel_floor * 2^2h)
 *   log[m]  = ln(mel[m] / 2^(mel_fraction_bits + 2h)) in Q20 (integer log2: tn_audio_log2_q24)
 *   mfcc[c] = sum_m dct[c][m] * log[m] in Q20
 * window_shift and power_shift keep every intermediate inside int32 / uint64 for any int16 input. The
 * int8 variant quantizes mfcc with output_multiplier / output_shift (the real value 1 / (scale * 2^20),
 * TF-Lite's encoding) and output_zero_point. Outputs are frame-major: [frames][coefficients]. All
 * tables are const (Flash); the only working memory is the scratch (tn_mfcc_scratch_bytes). */
typedef struct {
  int32_t clip_samples, window_samples, stride_samples;
  int32_t fft_size; /* a power of two, 4 to 65536, >= window_samples */
  int32_t mel_channels, coefficients;
  const int32_t* window;        /* [window_samples] Q30 */
  int32_t window_shift;         /* 0..30 */
  const int32_t* twiddles;      /* [fft_size / 2][2]: cos, sin of 2 pi k / fft_size, Q30 */
  int32_t power_shift;          /* 0..62 */
  const uint16_t* mel_start;    /* [mel_channels] first FFT bin of each channel */
  const uint16_t* mel_length;   /* [mel_channels] bins of each channel */
  const uint16_t* mel_weights;  /* the channels' weights one after the other, Q15 (1.0 = 32768) */
  uint64_t mel_floor;           /* 1 to 2^33 - 1, in the units of mel[] for h = 0 */
  int32_t mel_fraction_bits;    /* 0..62: mel[] holds the float mel energy * 2^(mel_fraction_bits + 2h) */
  const int32_t* dct;           /* [coefficients][mel_channels] Q30 */
  int32_t output_multiplier, output_shift; /* 1 / (scale * 2^20): multiplier >= 0, shift -31..0 */
  int32_t output_zero_point;
} tn_mfcc_params;

/* Frames of a clip: 1 + (clip_samples - window_samples) / stride_samples (0 when the clip is shorter
 * than a window). */
static inline int32_t tn_mfcc_frames(const tn_mfcc_params* p) {
  return p->clip_samples < p->window_samples ? 0 : 1 + (p->clip_samples - p->window_samples) / p->stride_samples;
}

/* MFCCs of the clip pcm[clip_samples] as int8 ([frames][coefficients]), or before quantization as Q20
 * (value * 2^20, for checks against the float definition). Scratch: tn_mfcc_scratch_bytes, 4-byte
 * aligned. */
tn_status tn_mfcc_s8(const tn_mfcc_params* p, const int16_t* pcm, int8_t* features, int32_t* scratch);
tn_status tn_mfcc_q20(const tn_mfcc_params* p, const int16_t* pcm, int32_t* features, int32_t* scratch);

/* log2(v) in Q24 for v >= 1 (0 for v = 0): the exponent plus a 64-segment linear interpolation of
 * log2(1 + f). The chords lie below the curve by at most 1 / (8 * 64^2 * ln 2) = 4.4e-5; with the Q24
 * rounding of the table and of the result the error stays within [-4.6e-5, +1e-7] (in natural-log
 * units 3.2e-5), far below a feature's int8 step. */
int32_t tn_audio_log2_q24(uint64_t v);

#ifdef __cplusplus
}
#endif

#endif /* TN_KERNELS_H */
