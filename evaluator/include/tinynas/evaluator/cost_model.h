#pragma once
// What a candidate costs on the target MCU, as the search counts it: peak SRAM = the engine planner's
// arena (exact, in-place depthwise as the engine runs) plus the firmware's stated stack bound; Flash =
// the engine's size model (weights, biases, requantization parameters, the profile's runtime code);
// latency = the calibrated latency model's count over the profile's clock.
#include <cstdint>
#include <string>

#include "tinynas/engine/graph.h"
#include "tinynas/engine/mcu.h"
#include "tinynas/evaluator/latency_model.h"
#include "tinynas/search_space/space.h"

namespace tinynas {

struct CandidateCosts {
  int64_t sram_bytes = 0;   // arena + stack bound
  int64_t flash_bytes = 0;  // Flash model
  double latency_ms = 0;    // latency model; 0 without one
};

// The stack the kernels and the firmware's main need at most (measured: 656 B; see README).
constexpr int64_t kStackBoundBytes = 1024;

class CostModel {
 public:
  // `latency` may have no kinds (no calibration): latency_ms is then 0.
  CostModel(SearchSpace space, engine::McuProfile mcu, LatencyModel latency);
  CandidateCosts operator()(const ArchSpec& arch) const;  // thread-safe
  CandidateCosts of_graph(const engine::Graph& g) const;
  const LatencyModel& latency_model() const { return latency_; }
  const engine::McuProfile& mcu() const { return mcu_; }
  const SearchSpace& space() const { return space_; }

 private:
  SearchSpace space_;
  engine::McuProfile mcu_;
  LatencyModel latency_;
};

}  // namespace tinynas
