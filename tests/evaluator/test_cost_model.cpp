// The cost model the search uses: the planner's arena plus the stated stack bound, the Flash model,
// and the latency model over the MCU's clock, for a hand-checked network and a zoo network.
#include <gtest/gtest.h>

#include "test_helpers.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/core/rng.h"

using namespace tinynas;
using namespace tinynas::evaluator;

TEST(CostModel, SumsThePlannerTheFlashModelAndTheLatencyModel) {
  search_space::SearchSpace space;
  space.in_channels = 1;
  space.num_classes = 10;
  space.resolution_choices = {24, 32, 40};
  engine::McuProfile mcu;
  mcu.name = "test";
  mcu.runtime_code_bytes = 48 * 1024;
  mcu.clock_hz = 200e6;
  // A latency model that counts 1000 instructions per layer, whatever its kind.
  LatencyModel latency;
  core::Rng rng(3);
  const search_space::ArchSpec arch = space.sample(rng, 0.5, 32);
  const engine::Graph g = engine::build_graph(space.describe(arch));
  double expected_count = 0;
  for (const auto& op : g.ops) {
    const auto f = latency_features(g, op);
    const std::string kind = latency_kind(g, op);
    latency.kinds[kind].coefficients.assign(f.size(), 0.0);
    latency.kinds[kind].coefficients[0] = 1000;  // the constant
  }
  for (size_t i = 0; i < g.ops.size(); ++i) expected_count += 1000;
  const CostModel costs(space, mcu, latency);
  const CandidateCosts c = costs(arch);
  EXPECT_EQ(c.sram_bytes, engine::plan_arena_bytes(g) + engine::kStackBoundBytes);
  EXPECT_EQ(c.flash_bytes, engine::estimate_flash(g, 48 * 1024).total());
  EXPECT_DOUBLE_EQ(c.latency_ms, expected_count / 200e6 * 1000);
  EXPECT_EQ(c.energy_uj, 0.0);  // the profile has no power figures
  // Energy = cycles / clock x V x I: 3.3 V x 90 mA = 297 mW, so 297 uJ per ms.
  engine::McuProfile powered = mcu;
  powered.supply_voltage = 3.3;
  powered.run_current_ma = 90;
  const CandidateCosts e = CostModel(space, powered, latency)(arch);
  EXPECT_DOUBLE_EQ(e.latency_ms, c.latency_ms);
  EXPECT_NEAR(e.energy_uj, expected_count / 200e6 * 3.3 * 0.090 * 1e6, 1e-9 * e.energy_uj);
  // Without a latency model the latency and the energy are 0.
  const CostModel no_latency(space, powered, LatencyModel{});
  EXPECT_EQ(no_latency(arch).latency_ms, 0.0);
  EXPECT_EQ(no_latency(arch).energy_uj, 0.0);
  EXPECT_EQ(no_latency(arch).sram_bytes, c.sram_bytes);
}
