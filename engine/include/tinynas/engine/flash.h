#pragma once
// The Flash model: int8 weights, int32 bias, per-channel int32 multiplier and int32 shift for every
// layer with weights, the 256-byte table of every element-wise function, the front-end's tables, plus
// the runtime code of the MCU profile (kernels, invoke, start-up).
#include <cstdint>

#include "tinynas/engine/graph.h"

namespace tinynas::engine {

struct FlashEstimate {
  int64_t weight_bytes = 0;
  int64_t bias_bytes = 0;
  int64_t quant_param_bytes = 0;
  int64_t frontend_bytes = 0;  // the front-end's tables (Graph::frontend)
  int64_t code_bytes = 0;
  int64_t total() const { return weight_bytes + bias_bytes + quant_param_bytes + frontend_bytes + code_bytes; }
};

FlashEstimate estimate_flash(const Graph& g, int64_t runtime_code_bytes);

}  // namespace tinynas::engine
