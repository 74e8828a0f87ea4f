/* Average, max and global average pooling. The output keeps the input's scale and zero point, so
 * the kernels work on the raw int8 values (TF-Lite). */
#include "tn_arith.h"
#include "tn_kernels.h"

static int tn_pool_params_valid(const tn_pool_params* p) {
  const tn_window* w = &p->window;
  return p->in_h > 0 && p->in_w > 0 && p->channels > 0 && p->out_h > 0 && p->out_w > 0 && w->kernel_h > 0 &&
         w->kernel_w > 0 && w->stride_h > 0 && w->stride_w > 0 && w->dilation_h > 0 && w->dilation_w > 0 &&
         w->pad_h >= 0 && w->pad_w >= 0 && p->act_min <= p->act_max && p->act_min >= -128 && p->act_max <= 127;
}

/* Integer division rounding half away from zero (TF-Lite's average). */
TN_INLINE int32_t tn_rounded_average(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* The taps [first, last) of a window starting at `start` (may be negative) that fall inside 0..in-1. */
TN_INLINE void tn_taps_inside(int32_t start, int32_t in, int32_t kernel, int32_t dilation, int32_t* first,
                              int32_t* last) {
  const int32_t end = (in - start + dilation - 1) / dilation; /* the first tap at or past `in` */
  *first = start < 0 ? (-start + dilation - 1) / dilation : 0;
  *last = end < kernel ? end : kernel;
}

static void tn_pool(const tn_pool_params* p, const int8_t* input, int8_t* output, int average) {
  const tn_window* w = &p->window;
  const int32_t c = p->channels;
  int32_t oy, ox, ch, ky, kx;
  for (oy = 0; oy < p->out_h; ++oy)
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t y0 = oy * w->stride_h - w->pad_h, x0 = ox * w->stride_w - w->pad_w;
      int32_t ky0, ky1, kx0, kx1;
      int8_t* out = output + (oy * p->out_w + ox) * c;
      tn_taps_inside(y0, p->in_h, w->kernel_h, w->dilation_h, &ky0, &ky1);
      tn_taps_inside(x0, p->in_w, w->kernel_w, w->dilation_w, &kx0, &kx1);
      for (ch = 0; ch < c; ++ch) {
        int32_t acc = average ? 0 : -128;
        int32_t count = 0;
        for (ky = ky0; ky < ky1; ++ky)
          for (kx = kx0; kx < kx1; ++kx) {
            const int32_t v = input[((y0 + ky * w->dilation_h) * p->in_w + x0 + kx * w->dilation_w) * c + ch];
            if (average)
              acc += v;
            else if (v > acc)
              acc = v;
            ++count;
          }
        if (average) acc = count > 0 ? tn_rounded_average(acc, count) : 0;
        out[ch] = (int8_t)tn_clamp(acc, p->act_min, p->act_max);
      }
    }
}

tn_status tn_avg_pool_s8(const tn_pool_params* p, const int8_t* input, int8_t* output) {
  if (!p || !input || !output || !tn_pool_params_valid(p)) return TN_ERROR_ARGUMENT;
  tn_pool(p, input, output, 1);
  return TN_OK;
}

tn_status tn_max_pool_s8(const tn_pool_params* p, const int8_t* input, int8_t* output) {
  if (!p || !input || !output || !tn_pool_params_valid(p)) return TN_ERROR_ARGUMENT;
  tn_pool(p, input, output, 0);
  return TN_OK;
}

tn_status tn_global_avg_pool_s8(const tn_pool_params* p, const int8_t* input, int8_t* output) {
  const int32_t pixels = p ? p->in_h * p->in_w : 0;
  int32_t ch, i;
  if (!p || !input || !output || !tn_pool_params_valid(p) || p->out_h != 1 || p->out_w != 1) return TN_ERROR_ARGUMENT;
  for (ch = 0; ch < p->channels; ++ch) {
    const int8_t* x = input + ch;
    int32_t acc = 0;
    for (i = 0; i < pixels; ++i) {
      acc += *x;
      x += p->channels;
    }
    output[ch] = (int8_t)tn_clamp(tn_rounded_average(acc, pixels), p->act_min, p->act_max);
  }
  return TN_OK;
}
