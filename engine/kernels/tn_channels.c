/* Data movement without arithmetic. Channel gathers: Concat, Split / Slice and channel shuffles of NHWC
 * tensors, as one kernel; each output channel copies one channel of its inputs, through a
 * requantization table when that input's quantization differs from the output's. Nearest-neighbour
 * resizing: each output pixel copies one input pixel. */
#include "tn_arith.h"
#include "tn_kernels.h"

tn_status tn_channel_map_s8(const tn_channel_map_params* p, const int8_t* input1, const int8_t* input2,
                            int8_t* output) {
  int32_t pixel, j;
  if (!p || !input1 || !output || !p->map || p->pixels <= 0 || p->in1_c <= 0 || p->in2_c < 0 || p->out_c <= 0 ||
      (p->in2_c > 0 && !input2))
    return TN_ERROR_ARGUMENT;
  for (j = 0; j < p->out_c; ++j)
    if (p->map[j] >= p->in1_c + p->in2_c) return TN_ERROR_ARGUMENT;
  for (pixel = 0; pixel < p->pixels; ++pixel) {
    const int8_t* x1 = input1 + pixel * p->in1_c;
    const int8_t* x2 = input2 ? input2 + pixel * p->in2_c : 0;
    int8_t* y = output + pixel * p->out_c;
    for (j = 0; j < p->out_c; ++j) {
      const int32_t c = p->map[j];
      if (c < p->in1_c)
        y[j] = p->table1 ? p->table1[x1[c] + 128] : x1[c];
      else
        y[j] = p->table2 ? p->table2[x2[c - p->in1_c] + 128] : x2[c - p->in1_c];
    }
  }
  return TN_OK;
}

tn_status tn_resize_nearest_s8(const tn_resize_params* p, const int8_t* input, int8_t* output) {
  int32_t y, x;
  if (!p || !input || !output || !p->rows || !p->cols || p->in_h <= 0 || p->in_w <= 0 || p->channels <= 0 ||
      p->out_h <= 0 || p->out_w <= 0)
    return TN_ERROR_ARGUMENT;
  for (y = 0; y < p->out_h; ++y)
    if (p->rows[y] >= p->in_h) return TN_ERROR_ARGUMENT;
  for (x = 0; x < p->out_w; ++x)
    if (p->cols[x] >= p->in_w) return TN_ERROR_ARGUMENT;
  for (y = 0; y < p->out_h; ++y) {
    const int8_t* row = input + (int32_t)p->rows[y] * p->in_w * p->channels;
    for (x = 0; x < p->out_w; ++x) {
      memcpy(output, row + (int32_t)p->cols[x] * p->channels, (size_t)p->channels);
      output += p->channels;
    }
  }
  return TN_OK;
}
