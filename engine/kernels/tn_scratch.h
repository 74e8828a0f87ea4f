/* Scratch-buffer sizes of the int8 kernels, in bytes. The memory planner reserves exactly these
 * sizes in the arena and the kernels never touch more, so one header serves both sides.
 * C99, no heap: every kernel receives its scratch pointer from the planned arena (4-byte aligned). */
#ifndef TN_SCRATCH_H
#define TN_SCRATCH_H

#include <stdint.h>

#include "tn_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Output pixels a standard or 1x1 convolution computes per step: each weight word it loads then
 * feeds this many multiply-accumulates. */
#define TN_CONV_PIXELS_PER_STEP 8

/* Output pixels a 1x1 convolution computes per step on the cores in the common case (shifts in
 * [-22, -1], the full int8 range, channels a multiple of 4): six sums leave registers for loading two
 * pixels' columns at once. A last step of fewer pixels runs as a partial step of TN_CONV_PIXELS_PER_STEP. */
#define TN_POINTWISE_PIXELS_PER_STEP 6
/* The groups of four channels one pass of the six-pixel step's loop runs (after the row's first). */
#define TN_POINTWISE_LOOP_GROUPS 16
/* Rows of one or two groups (4 or 8 channels) keep steps of 8 pixels: their few multiplies per output
 * channel do not pay for the six-pixel step's larger share of per-channel work. */
static inline int tn_pointwise_takes_six_pixel_steps(int32_t in_c) { return (in_c & 3) == 0 && in_c >= 12; }

/* The columns (pixels) the cores' matrix multiply computes for a step of `valid` pixels: a last step
 * of 2 to 4 pixels runs four columns, one of a single pixel one column, the rest all of them. */
static inline int32_t tn_conv_step_columns(int32_t valid) {
  return valid == 1 ? 1 : valid <= 4 ? 4 : TN_CONV_PIXELS_PER_STEP;
}

/* Standard convolution (the stem included): the im2col columns of one step of one group, widened to
 * int16, and one int8 staging row the columns are gathered in. */
static inline int32_t tn_conv_scratch_bytes(int32_t group_in_c, int32_t kernel_h, int32_t kernel_w) {
  const int32_t row = tn_conv_weights_row_length(group_in_c, kernel_h, kernel_w);
  return TN_CONV_PIXELS_PER_STEP * row * (int32_t)sizeof(int16_t) + row;
}

/* 1x1 pointwise convolution with stride 1: the input pixels of one step, widened to int16 straight
 * from the input. */
static inline int32_t tn_pointwise_scratch_bytes(int32_t in_c) {
  return TN_CONV_PIXELS_PER_STEP * tn_conv_weights_row_length(in_c, 1, 1) * (int32_t)sizeof(int16_t);
}

/* Output rows of int32 sums the 3x3 depthwise kernels compute per pass before requantizing them: as
 * many as TN_DW_SUM_BYTES hold (a 20x20 channel's), at least TN_DW_SUM_ROWS, at most the output's. Each
 * pass costs about 50 instructions of calls and set-up, a tenth of a 4-row pass over 20 columns. */
#define TN_DW_SUM_ROWS 4
#define TN_DW_SUM_BYTES 1600
static inline int32_t tn_depthwise_sum_rows(int32_t out_h, int32_t out_w) {
  const int32_t fit = TN_DW_SUM_BYTES / (out_w * (int32_t)sizeof(int32_t));
  const int32_t rows = fit > TN_DW_SUM_ROWS ? fit : TN_DW_SUM_ROWS;
  return out_h < rows ? out_h : rows;
}

/* Depthwise kxk convolution, in place or not: tn_depthwise_sum_rows output rows of int32 sums, then
 * zero-padded input channel planes in int16 (tn_depthwise_planes), so a channel can be read out of the
 * shared buffer before its output overwrites it. */
static inline int32_t tn_depthwise_plane_extent(int32_t in, int32_t pad, int32_t kernel, int32_t stride, int32_t out) {
  /* Every row (column) the kernel window reaches, padding included, and at least the input. */
  const int32_t reach = (out - 1) * stride + kernel;
  return reach > in + pad ? reach : in + pad;
}
/* The geometries of the 3x3 depthwise kernel's fixed-geometry path (3x3 outputs, padding 1: stride 1
 * over a 3x3 map, stride 2 over 6x6), which fills the planes of two channels at once. */
static inline int tn_depthwise_fixed_map(int32_t in_h, int32_t in_w, int32_t pad_h, int32_t pad_w, int32_t kernel,
                                         int32_t stride, int32_t out_h, int32_t out_w) {
  return kernel == 3 && out_h == 3 && out_w == 3 && pad_h == 1 && pad_w == 1 &&
         ((stride == 1 && in_h == 3 && in_w == 3) || (stride == 2 && in_h == 6 && in_w == 6));
}
/* The width of a depthwise plane: the columns the windows reach; for 3x3 stride 1 beyond the small maps
 * (TN_DW_SMALL_OUTPUTS) rounded up to even, so that every plane row starts word-aligned for the
 * assembly pass's pair loads (the extra column is never read), and for outputs of 2-33 columns
 * TN_DW3X3_S1_SHORT_PLANE_W whatever the map's width: that pass then reads window rows 1 and 2 at fixed
 * offsets (tn_dw3x3_s1_short_rows). */
#define TN_DW3X3_S1_SHORT_PLANE_W 36
static inline int tn_dw3x3_s1_short_width(int32_t out_w, int32_t reach) {
  return out_w >= 2 && out_w <= TN_DW3X3_S1_SHORT_PLANE_W - 3 && reach <= TN_DW3X3_S1_SHORT_PLANE_W;
}
static inline int32_t tn_depthwise_plane_width(int32_t in_w, int32_t pad_w, int32_t kernel, int32_t stride,
                                               int32_t out_h, int32_t out_w) {
  const int32_t reach = tn_depthwise_plane_extent(in_w, pad_w, kernel, stride, out_w);
  if (kernel != 3 || stride != 1 || out_h * out_w <= TN_DW_SMALL_OUTPUTS) return reach;
  return tn_dw3x3_s1_short_width(out_w, reach) ? TN_DW3X3_S1_SHORT_PLANE_W : (reach + 1) & ~1;
}
/* The 3x3 stride-1 layers whose assembly pass runs over the fixed-width plane. */
static inline int tn_dw3x3_s1_short_rows(int32_t plane_w, int32_t out_w) {
  return plane_w == TN_DW3X3_S1_SHORT_PLANE_W && out_w >= 2 && out_w <= TN_DW3X3_S1_SHORT_PLANE_W - 3;
}
static inline int32_t tn_depthwise_scratch_bytes(int32_t in_h, int32_t in_w, int32_t pad_h, int32_t pad_w,
                                                 int32_t kernel, int32_t stride, int32_t out_h, int32_t out_w) {
  const int32_t planes = tn_depthwise_fixed_map(in_h, in_w, pad_h, pad_w, kernel, stride, out_h, out_w) ? 2 : 1;
  return tn_depthwise_sum_rows(out_h, out_w) * out_w * (int32_t)sizeof(int32_t) +
         planes * tn_depthwise_plane_extent(in_h, pad_h, kernel, stride, out_h) *
             tn_depthwise_plane_width(in_w, pad_w, kernel, stride, out_h, out_w) * (int32_t)sizeof(int16_t);
}

/* The 3x3 stride-2 depthwise kernel's four-channel path, read straight from the input: its scratch (the
 * packed constants of a group of four channels, TN_DW_QUAD_BYTES, then a padded output row's three
 * input rows gathered, 2 out_w + 1 words each) and the geometries it takes: whole groups of four
 * channels beyond the small maps, padding of at most 1 (in place, an output then overwrites input no
 * later window reads), a whole window in the map, the gathered rows within the plane path's scratch.
 * The kernel also needs the full int8 output range and shifts in [-22, -1], which only it sees. */
#define TN_DW_QUAD_BYTES 152
static inline int32_t tn_depthwise_quads_scratch_bytes(int32_t out_w) {
  return TN_DW_QUAD_BYTES + 3 * (2 * out_w + 1) * (int32_t)sizeof(int32_t);
}
static inline int tn_depthwise_quads_geometry(int32_t in_h, int32_t in_w, int32_t pad_h, int32_t pad_w, int32_t kernel,
                                              int32_t stride, int32_t out_h, int32_t out_w, int32_t channels) {
  return kernel == 3 && stride == 2 && (channels & 3) == 0 && out_h * out_w > TN_DW_SMALL_OUTPUTS && pad_h <= 1 &&
         pad_w <= 1 && in_h >= 3 && in_w >= 3 &&
         tn_depthwise_quads_scratch_bytes(out_w) <=
             tn_depthwise_scratch_bytes(in_h, in_w, pad_h, pad_w, kernel, stride, out_h, out_w);
}
/* The output rows that path reads in place, [first, end): the rows whose windows lie inside the map
 * vertically, when no window reaches past the map's right end (and, with padding on the left, a row has
 * the two windows of its left pair); the other rows read their three input rows gathered. */
typedef struct {
  int32_t first, end;
} tn_depthwise_quads_rows;
static inline tn_depthwise_quads_rows tn_depthwise_quads_in_place_rows(int32_t in_h, int32_t in_w, int32_t pad_h,
                                                                     int32_t pad_w, int32_t out_h, int32_t out_w) {
  const int32_t last = (in_h - 3 + pad_h) / 2; /* the last output row whose window ends inside */
  const int32_t end = last + 1 < out_h ? last + 1 : out_h;
  const int in_place = (in_w - 3 + pad_w) / 2 + 1 >= out_w && (pad_w == 0 || out_w >= 2);
  tn_depthwise_quads_rows rows;
  rows.first = pad_h;
  rows.end = in_place && end > pad_h ? end : pad_h;
  return rows;
}

/* Fully connected: the input vector widened to int16 (rounded up to a multiple of 4). */
static inline int32_t tn_fully_connected_scratch_bytes(int32_t in_features) {
  return tn_fully_connected_row_length(in_features) * (int32_t)sizeof(int16_t);
}

/* MFCC front-end: the frame as fft_size / 2 complex int32 values (the FFT works in place), then one
 * int32 log energy per mel channel. */
static inline int32_t tn_mfcc_scratch_bytes(int32_t fft_size, int32_t mel_channels) {
  return (fft_size + mel_channels) * (int32_t)sizeof(int32_t);
}

/* Element-wise add and pooling work in registers. */
static inline int32_t tn_no_scratch_bytes(void) { return 0; }

#ifdef __cplusplus
}
#endif

#endif /* TN_SCRATCH_H */
