#include "tinynas/evaluator/cost_model.h"

#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"

namespace tinynas::evaluator {

CostModel::CostModel(search_space::SearchSpace space, engine::McuProfile mcu, LatencyModel latency)
    : space_(std::move(space)), mcu_(std::move(mcu)), latency_(std::move(latency)) {}

CandidateCosts CostModel::of_graph(const engine::Graph& g) const {
  CandidateCosts c;
  c.sram_bytes = engine::peak_sram_bytes(g);
  c.flash_bytes = engine::estimate_flash(g, mcu_.runtime_code_bytes).total();
  if (!latency_.kinds.empty()) {
    c.latency_ms = latency_.predict(g) / (mcu_.clock_hz > 0 ? mcu_.clock_hz : latency_.clock_hz) * 1000.0;
  }
  return c;
}

CandidateCosts CostModel::operator()(const search_space::ArchSpec& arch) const {
  return of_graph(engine::build_graph(space_.describe(arch)));
}

}  // namespace tinynas::evaluator
