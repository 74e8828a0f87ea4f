#pragma once
// What a candidate costs on the target MCU, as the search counts it: peak SRAM = the engine planner's
// arena (exact, in-place depthwise as the engine runs) plus the engine's stack bound (peak_sram_bytes); Flash =
// the engine's size model (weights, biases, requantization parameters, the profile's runtime code);
// latency = the calibrated latency model's count over the profile's clock; energy = that latency times the
// profile's run-mode supply power (engine::McuProfile::energy_uj).
#include <cstdint>
#include <string>

#include "tinynas/engine/graph.h"
#include "tinynas/evaluator/budget.h"
#include "tinynas/engine/mcu.h"
#include "tinynas/evaluator/latency_model.h"
#include "tinynas/search_space/space.h"

namespace tinynas::evaluator {

// The latency model's count over the MCU's clock and the energy of that time: what CostModel counts, and
// what stage 1 checks the latency and energy limits with. Zeros when `latency` has no kinds.
struct TimeCosts {
  double latency_ms = 0;
  double energy_uj = 0;
};
// With `stage`, the graph run with that patch schedule (its recomputation included).
TimeCosts time_costs(const LatencyModel& latency, const engine::McuProfile& mcu, const engine::Graph& g,
                     const engine::PatchStage* stage = nullptr);

// Patch-based inference in the search (`search --patch`, `search.patch: true`): every candidate runs
// the schedule engine::schedule_within picks for the SRAM budget (layer by layer when that fits).
struct PatchSearch {
  bool enabled = false;
  int max_patches = 4;     // patches up to max_patches x max_patches
  int64_t sram_bytes = 0;  // the budget's SRAM (arena + stack bound) the schedule should fit
};

class CostModel {
 public:
  // `latency` may have no kinds (no calibration): latency_ms and energy_uj are then 0.
  CostModel(search_space::SearchSpace space, engine::McuProfile mcu, LatencyModel latency, PatchSearch patch = {});
  CandidateCosts operator()(const search_space::ArchSpec& arch) const;  // thread-safe
  CandidateCosts of_graph(const engine::Graph& g) const;
  const LatencyModel& latency_model() const { return latency_; }
  const engine::McuProfile& mcu() const { return mcu_; }
  const search_space::SearchSpace& space() const { return space_; }

 private:
  search_space::SearchSpace space_;
  engine::McuProfile mcu_;
  LatencyModel latency_;
  PatchSearch patch_;
};

}  // namespace tinynas::evaluator
