#pragma once
// The exact analytic cost model: per-layer shapes, MACs, parameters and the analytic peak
// activation of a NetworkDesc. SAME padding (out = ceil(in / stride)), BN folded for MACs,
// 2 parameters per BN channel, int8 activations (1 byte per element).
#include <cstdint>
#include <vector>

#include "tinynas/search_space/network.h"

namespace tinynas::search_space {

enum class LayerKind { Conv, Depthwise, Pointwise, GlobalAvgPool, FullyConnected };
const char* to_string(LayerKind kind);

struct LayerCost {
  LayerKind kind;
  const char* role;  // "stem", "expand", "depthwise", "project" ("pointwise" in a separable block), "feature_mix", "pool", "classifier"
  int block;         // block index, -1 outside blocks
  int in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int kernel, stride;  // kernel: its height (and width, unless kernel_w says otherwise)
  int64_t macs;
  int64_t params;
  int64_t analytic_live;  // input + output elements, plus the block input inside a residual block
  int kernel_w = 0;       // the kernel's width when it differs from its height (a non-square stem); 0 = square
};

struct Cost {
  int64_t macs = 0;
  int64_t params = 0;
  int64_t analytic_peak = 0;  // bytes, int8
  std::vector<LayerCost> layers;
};

Cost compute_cost(const NetworkDesc& net);
// MACs alone, without the per-layer table (the stage-1 hot path).
int64_t compute_macs(const NetworkDesc& net);

}  // namespace tinynas::search_space
