/* Scratch-buffer sizes of the int8 kernels, in bytes. The memory planner reserves exactly these
 * sizes in the arena and the kernels must never touch more, so one header serves both sides.
 * C99, no heap: every kernel receives its scratch pointer from the planned arena. */
#ifndef TN_SCRATCH_H
#define TN_SCRATCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Standard kxk convolution (the stem): im2col of two output pixels, widened to int16. */
static inline int32_t tn_conv_scratch_bytes(int32_t in_c, int32_t kernel) {
  return 2 * kernel * kernel * in_c * (int32_t)sizeof(int16_t);
}

/* 1x1 pointwise convolution: two input pixels widened to int16 for the dual 16-bit MAC path. */
static inline int32_t tn_pointwise_scratch_bytes(int32_t in_c) {
  return 2 * in_c * (int32_t)sizeof(int16_t);
}

/* Depthwise kxk convolution, in place or not: one zero-padded input channel plane in int16, so a
 * channel can be read out of the shared buffer before its output overwrites it. */
static inline int32_t tn_depthwise_scratch_bytes(int32_t in_h, int32_t in_w, int32_t pad_h, int32_t pad_w,
                                                 int32_t kernel, int32_t stride, int32_t out_h, int32_t out_w) {
  /* The plane spans every row and column the kernel window reaches, padding included. */
  const int32_t rows = (out_h - 1) * stride + kernel;
  const int32_t cols = (out_w - 1) * stride + kernel;
  const int32_t plane_h = rows > in_h + pad_h ? rows : in_h + pad_h;
  const int32_t plane_w = cols > in_w + pad_w ? cols : in_w + pad_w;
  return plane_h * plane_w * (int32_t)sizeof(int16_t);
}

/* Fully connected: the input vector widened to int16. */
static inline int32_t tn_fully_connected_scratch_bytes(int32_t in_features) {
  return in_features * (int32_t)sizeof(int16_t);
}

/* Element-wise add, pooling and softmax work in registers. */
static inline int32_t tn_no_scratch_bytes(void) { return 0; }

#ifdef __cplusplus
}
#endif

#endif /* TN_SCRATCH_H */
