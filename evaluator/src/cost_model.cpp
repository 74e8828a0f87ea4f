#include "tinynas/evaluator/cost_model.h"

#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"

#include <optional>

namespace tinynas::evaluator {

TimeCosts time_costs(const LatencyModel& latency, const engine::McuProfile& mcu, const engine::Graph& g,
                     const engine::PatchStage* stage) {
  TimeCosts t;
  if (latency.kinds.empty()) return t;
  t.latency_ms = latency.predict(g, stage) / (mcu.clock_hz > 0 ? mcu.clock_hz : latency.clock_hz) * 1000.0;
  t.energy_uj = mcu.energy_uj(t.latency_ms / 1000.0);
  return t;
}

CostModel::CostModel(search_space::SearchSpace space, engine::McuProfile mcu, LatencyModel latency, PatchSearch patch)
    : space_(std::move(space)), mcu_(std::move(mcu)), latency_(std::move(latency)), patch_(patch) {}

CandidateCosts CostModel::of_graph(const engine::Graph& g) const {
  CandidateCosts c;
  c.flash_bytes = engine::estimate_flash(g, mcu_.runtime_code_bytes).total();
  std::optional<engine::PatchStage> stage;
  if (patch_.enabled && patch_.sram_bytes > 0) {
    const engine::PatchChoice choice =
        engine::schedule_within(g, patch_.sram_bytes - engine::kStackBoundBytes, patch_.max_patches);
    c.patch = choice.schedule;
    c.sram_bytes = choice.arena_bytes + engine::kStackBoundBytes;
    if (!choice.schedule.layer_wise()) {
      stage = engine::plan_patch_stage(g, choice.schedule);
      c.flash_bytes += stage->table_bytes();
    }
  } else {
    c.sram_bytes = engine::peak_sram_bytes(g);
  }
  const TimeCosts t = time_costs(latency_, mcu_, g, stage ? &*stage : nullptr);
  c.latency_ms = t.latency_ms;
  c.energy_uj = t.energy_uj;
  return c;
}

CandidateCosts CostModel::operator()(const search_space::ArchSpec& arch) const {
  return of_graph(engine::build_graph(space_.describe(arch)));
}

}  // namespace tinynas::evaluator
