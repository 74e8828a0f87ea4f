#include "tinynas/engine/flash.h"

namespace tinynas::engine {

FlashEstimate estimate_flash(const Graph& g, int64_t runtime_code_bytes) {
  FlashEstimate f;
  for (const Op& op : g.ops) {
    const int64_t channels = op_out_channels_with_params(g, op);
    f.weight_bytes += op_weight_count(g, op) + (op.kind == OpKind::Unary ? 256 : 0);  // an int8 lookup table
    // uint16 index tables: a channel map's sources, a resize's rows and columns
    f.weight_bytes += 2 * int64_t(op.channel_map.size() + op.resize_rows.size() + op.resize_cols.size());
    f.bias_bytes += 4 * channels;             // int32 bias
    f.quant_param_bytes += 2 * 4 * channels;  // int32 multiplier + int32 shift per output channel
  }
  f.frontend_bytes = frontend_sizes(g.frontend).table_bytes;
  f.code_bytes = runtime_code_bytes;
  return f;
}

}  // namespace tinynas::engine
