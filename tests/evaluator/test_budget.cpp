// Budget: each limit on its own, 0 as no limit, and the one meaning of SRAM the cost model counts.
#include <gtest/gtest.h>

#include "small_network.h"
#include "test_helpers.h"
#include "tinynas/engine/planner.h"
#include "tinynas/evaluator/budget.h"
#include "tinynas/evaluator/cost_model.h"

using namespace tinynas;
using namespace tinynas::evaluator;

TEST(Budget, EachLimitOnItsOwnAndZeroMeansNone) {
  Budget b;
  EXPECT_TRUE(b.admits({1 << 30, 1 << 30, 1e9}));
  EXPECT_EQ(b.describe(), "no limits");
  b.sram_bytes = 1000;
  EXPECT_TRUE(b.admits({1000, 1 << 30, 1e9}));
  EXPECT_FALSE(b.admits({1001, 0, 0}));
  b.flash_bytes = 2000;
  EXPECT_TRUE(b.admits({1000, 2000, 0}));
  EXPECT_FALSE(b.admits({1000, 2001, 0}));
  b.latency_ms = 5;
  EXPECT_TRUE(b.admits({1000, 2000, 5}));
  EXPECT_FALSE(b.admits({1000, 2000, 5.001}));
  EXPECT_EQ(b.describe(), "SRAM 1000 B, Flash 2.0 KiB, latency 5 ms");
  CandidateCosts c{1000, 2000, 5};
  c.energy_uj = 1e9;
  EXPECT_TRUE(b.admits(c));  // no energy limit yet
  b.energy_uj = 2000;
  EXPECT_TRUE(b.limits_time());
  c.energy_uj = 2000;
  EXPECT_TRUE(b.admits(c));
  c.energy_uj = 2000.5;
  EXPECT_FALSE(b.admits(c));
  EXPECT_EQ(b.describe(), "SRAM 1000 B, Flash 2.0 KiB, latency 5 ms, energy 2.000 mJ");
  EXPECT_FALSE(Budget{}.limits_time());
}

TEST(Budget, TheMcusSramAndFlash) {
  engine::McuProfile mcu;
  mcu.sram_bytes = 320 * 1024;
  mcu.flash_bytes = 1024 * 1024;
  const Budget b = mcu_budget(mcu);
  EXPECT_EQ(b.sram_bytes, 320 * 1024);
  EXPECT_EQ(b.flash_bytes, 1024 * 1024);
  EXPECT_EQ(b.latency_ms, 0);
}

TEST(Budget, AdmitsANetworkWhoseArenaPlusStackBoundFits) {
  const search_space::NetworkDesc net = tinynas_test::small_network();
  const engine::Graph g = engine::build_graph(net);
  engine::McuProfile mcu;
  search_space::SearchSpace space;  // unused by of_graph
  const CostModel costs(space, mcu, LatencyModel{});
  const CandidateCosts c = costs.of_graph(g);
  Budget exact;
  exact.sram_bytes = engine::plan_arena_bytes(g) + engine::kStackBoundBytes;
  EXPECT_TRUE(exact.admits(c));
  Budget arena_only;
  arena_only.sram_bytes = engine::plan_arena_bytes(g);
  EXPECT_FALSE(arena_only.admits(c));  // the stack counts on every command
}
