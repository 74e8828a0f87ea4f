/* Fully connected layer: the input vector widened once into the scratch, then one dot product per
 * output with the packed weight row. */
#include "tn_arith.h"
#include "tn_kernels.h"
#include "tn_scratch.h"

tn_status tn_fully_connected_s8(const tn_fully_connected_params* p, const int8_t* input, int8_t* output,
                                int16_t* scratch) {
  int32_t row, i, o;
  if (!p || !input || !output || !scratch || p->in_features <= 0 || p->out_features <= 0 || !p->weights ||
      !p->bias || !p->q.multiplier || !p->q.shift || p->q.act_min > p->q.act_max || p->q.act_min < -128 ||
      p->q.act_max > 127)
    return TN_ERROR_ARGUMENT;
  row = tn_fully_connected_row_length(p->in_features);
  /* Widened input; in the DSP build each group of 4 in lane order (x0, x2, x1, x3), as tn_conv.c. */
  for (i = 0; i < row; ++i) {
    const int32_t v = i < p->in_features ? input[i] + p->q.input_offset : 0;
#if defined(TN_DSP)
    scratch[(i & ~3) + ((i & 3) == 1 ? 2 : ((i & 3) == 2 ? 1 : (i & 3)))] = (int16_t)v;
#else
    scratch[i] = (int16_t)v;
#endif
  }
  for (o = 0; o < p->out_features; ++o) {
    const int8_t* w = p->weights + o * row;
    int32_t acc = p->bias[o];
    int32_t g;
#if defined(TN_DSP)
    const int16_t* c = (const int16_t*)__builtin_assume_aligned(scratch, 4);
    for (g = 0; g < row; g += 4) {
      const int32_t wv = tn_read_s32(w + g);
      acc = tn_smlad(tn_read_s32(c + g), tn_sxtb16(wv), acc);
      acc = tn_smlad(tn_read_s32(c + g + 2), tn_sxtb16((int32_t)tn_ror8((uint32_t)wv)), acc);
    }
    {
      const tn_fast_requant r = tn_fast_requant_init(p->q.multiplier[o], p->q.shift[o]);
      acc = tn_fast_requantize(acc, &r);
    }
#else
    for (g = 0; g < row; ++g) acc += scratch[g] * w[g];
    acc = tn_requantize(acc, p->q.multiplier[o], p->q.shift[o]);
#endif
    output[o] = tn_output_value(acc, p->q.output_offset, p->q.act_min, p->q.act_max, 0);
  }
  return TN_OK;
}
