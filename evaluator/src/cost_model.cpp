#include "tinynas/evaluator/cost_model.h"

#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"

namespace tinynas::evaluator {

TimeCosts time_costs(const LatencyModel& latency, const engine::McuProfile& mcu, const engine::Graph& g) {
  TimeCosts t;
  if (latency.kinds.empty()) return t;
  t.latency_ms = latency.predict(g) / (mcu.clock_hz > 0 ? mcu.clock_hz : latency.clock_hz) * 1000.0;
  t.energy_uj = mcu.energy_uj(t.latency_ms / 1000.0);
  return t;
}

CostModel::CostModel(search_space::SearchSpace space, engine::McuProfile mcu, LatencyModel latency)
    : space_(std::move(space)), mcu_(std::move(mcu)), latency_(std::move(latency)) {}

CandidateCosts CostModel::of_graph(const engine::Graph& g) const {
  CandidateCosts c;
  c.sram_bytes = engine::peak_sram_bytes(g);
  c.flash_bytes = engine::estimate_flash(g, mcu_.runtime_code_bytes).total();
  const TimeCosts t = time_costs(latency_, mcu_, g);
  c.latency_ms = t.latency_ms;
  c.energy_uj = t.energy_uj;
  return c;
}

CandidateCosts CostModel::operator()(const search_space::ArchSpec& arch) const {
  return of_graph(engine::build_graph(space_.describe(arch)));
}

}  // namespace tinynas::evaluator
