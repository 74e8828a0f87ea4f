#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <tuple>

#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"
#include "tinynas/nas/space_optimizer.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/core/errors.h"

using namespace tinynas;
using namespace tinynas::nas;

namespace {

SpaceOptimizerOptions tiny_options() {
  SpaceOptimizerOptions o;
  o.space.in_channels = 1;
  o.space.num_classes = 10;
  o.stage1.widths = {0.25, 0.5, 1.0};
  o.stage1.resolutions = {32, 48, 64};
  o.space.width_choices = o.stage1.widths;
  o.space.resolution_choices = o.stage1.resolutions;
  o.stage1.samples = 60;
  o.stage1.seed = 7;
  o.budget.sram_bytes = 96 * 1024;
  o.budget.flash_bytes = 400 * 1024;
  o.runtime_code_bytes = 32 * 1024;
  return o;
}

}  // namespace

// The ranking must equal a direct computation: every subnet drawn from the documented per-subnet
// generator, measured with the full cost model, the full planner and the Flash model, one by one.
TEST(SpaceOptimizer, RankingEqualsBruteForce) {
  const SpaceOptimizerOptions o = tiny_options();
  const SpaceOptimizerResult result = optimize_space(o);

  std::vector<std::tuple<double, int, int>> expected;  // (-mean, -fitting, grid index) for fitting spaces
  std::vector<int> nothing_fits;
  int s = 0;
  for (double w : o.stage1.widths)
    for (int r : o.stage1.resolutions) {
      double sum = 0;
      int fit = 0;
      for (int i = 0; i < o.stage1.samples; ++i) {
        core::Rng rng(core::derive_seed(o.stage1.seed, uint64_t(s), uint64_t(i)));
        const search_space::NetworkDesc net = o.space.describe(o.space.sample(rng, w, r));
        const engine::Graph g = engine::build_graph(net);
        const engine::MemoryPlan plan = engine::plan_memory(g);
        ASSERT_EQ(engine::check_plan(g, plan), "");
        const int64_t flash = engine::estimate_flash(g, o.runtime_code_bytes).total();
        if (plan.arena_bytes + engine::kStackBoundBytes <= o.budget.sram_bytes && flash <= o.budget.flash_bytes) {
          sum += double(search_space::compute_cost(net).macs);
          ++fit;
        }
      }
      const SpaceStats& got = result.spaces[size_t(s)];
      EXPECT_EQ(got.w, w);
      EXPECT_EQ(got.r, r);
      EXPECT_EQ(got.fitting, fit) << "w=" << w << " r=" << r;
      if (fit) {
        EXPECT_DOUBLE_EQ(got.mean_macs, sum / fit);
        expected.emplace_back(-sum / fit, -fit, s);
      } else {
        nothing_fits.push_back(s);
      }
      ++s;
    }
  std::sort(expected.begin(), expected.end());
  std::vector<int> ranking;
  for (const auto& e : expected) ranking.push_back(std::get<2>(e));
  ranking.insert(ranking.end(), nothing_fits.begin(), nothing_fits.end());
  EXPECT_EQ(result.ranking, ranking);
  // The budget binds on this grid: some spaces fit fully, some partly, some not at all.
  EXPECT_FALSE(nothing_fits.empty());
  EXPECT_FALSE(expected.empty());
}

TEST(SpaceOptimizer, SameResultWithOneOrManyThreads) {
  const SpaceOptimizerOptions o = tiny_options();
  SpaceOptimizerResult one, many;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    one = optimize_space(o);
  }
  many = optimize_space(o);
  ASSERT_EQ(one.spaces.size(), many.spaces.size());
  for (size_t i = 0; i < one.spaces.size(); ++i) {
    EXPECT_EQ(one.spaces[i].fitting_macs, many.spaces[i].fitting_macs);
    EXPECT_EQ(one.spaces[i].min_arena, many.spaces[i].min_arena);
    EXPECT_EQ(one.spaces[i].max_flash, many.spaces[i].max_flash);
  }
  EXPECT_EQ(one.ranking, many.ranking);
}

TEST(SpaceOptimizer, SeedChangesTheSample) {
  SpaceOptimizerOptions o = tiny_options();
  const auto a = optimize_space(o);
  o.stage1.seed = 8;
  const auto b = optimize_space(o);
  bool differ = false;
  for (size_t i = 0; i < a.spaces.size(); ++i) differ |= a.spaces[i].fitting_macs != b.spaces[i].fitting_macs;
  EXPECT_TRUE(differ);
}

TEST(SpaceOptimizer, ProgressCountsEverySubnet) {
  SpaceOptimizerOptions o = tiny_options();
  std::atomic<int64_t> seen{0};
  o.on_progress = [&](int64_t n) { seen += n; };
  const auto r = optimize_space(o);
  EXPECT_EQ(seen.load(), r.subnets);
  EXPECT_EQ(r.subnets, 9 * 60);
}

TEST(SpaceOptimizer, ImpossibleBudgetFitsNothing) {
  SpaceOptimizerOptions o = tiny_options();
  o.budget.sram_bytes = 1024;
  const auto r = optimize_space(o);
  EXPECT_FALSE(r.any_fits());
  for (const auto& s : r.spaces) EXPECT_EQ(s.fitting, 0);
}

TEST(SpaceOptimizer, LayerwisePlanningFitsNoMoreThanInPlace) {
  SpaceOptimizerOptions o = tiny_options();
  const auto inplace = optimize_space(o);
  o.inplace = false;
  const auto layerwise = optimize_space(o);
  for (size_t i = 0; i < inplace.spaces.size(); ++i) {
    EXPECT_LE(layerwise.spaces[i].fit_sram, inplace.spaces[i].fit_sram);
    EXPECT_GE(layerwise.spaces[i].min_arena, inplace.spaces[i].min_arena);
  }
}

// An energy limit keeps exactly the subnets the memory budgets keep whose energy meets it. Here the
// energy stands in as 1 uJ per 1000 MACs, so the kept ones are those of the memory budgets' FLOPs CDF at
// or below the limit.
TEST(SpaceOptimizer, AnEnergyLimitKeepsTheSubnetsThatMeetIt) {
  const SpaceOptimizerOptions memory_only = tiny_options();
  const auto without = optimize_space(memory_only);
  EXPECT_FALSE(without.time_limited);
  SpaceOptimizerOptions o = memory_only;
  o.budget.energy_uj = 2000;  // 2 M MACs
  EXPECT_THROW(optimize_space(o), core::InputError);  // no latency model to count it with
  o.time_costs = [](const engine::Graph& g, const engine::PatchStage*) {
    evaluator::TimeCosts t;
    int64_t macs = 0;
    for (const engine::Op& op : g.ops) macs += engine::op_macs(g, op);
    t.energy_uj = double(macs) / 1000.0;
    return t;
  };
  const auto with = optimize_space(o);
  EXPECT_TRUE(with.time_limited);
  int kept_somewhere = 0, cut_somewhere = 0;
  for (size_t i = 0; i < with.spaces.size(); ++i) {
    const auto& before = without.spaces[i].fitting_macs;
    const int expected = int(std::count_if(before.begin(), before.end(), [](int64_t m) { return m <= 2000000; }));
    EXPECT_EQ(with.spaces[i].fitting, expected) << i;
    EXPECT_EQ(with.spaces[i].fit_sram, without.spaces[i].fit_sram);
    for (int64_t m : with.spaces[i].fitting_macs) EXPECT_LE(m, 2000000);
    kept_somewhere += expected > 0;
    cut_somewhere += expected < without.spaces[i].fitting;
  }
  EXPECT_GT(kept_somewhere, 0);  // the limit binds somewhere and leaves something somewhere
  EXPECT_GT(cut_somewhere, 0);
}

TEST(SpaceOptimizer, RejectsBadOptions) {
  SpaceOptimizerOptions o = tiny_options();
  o.stage1.samples = 0;
  EXPECT_THROW(optimize_space(o), core::InputError);
  o = tiny_options();
  o.budget.sram_bytes = 0;
  EXPECT_THROW(optimize_space(o), core::InputError);
  o = tiny_options();
  o.stage1.resolutions = {4};
  EXPECT_THROW(optimize_space(o), core::InputError);
}

TEST(RankSpaces, MeanFirstThenFittingCountThenGridOrder) {
  std::vector<SpaceStats> s(4);
  s[0].fitting = 0;
  s[1].fitting = 5, s[1].mean_macs = 10;
  s[2].fitting = 9, s[2].mean_macs = 10;
  s[3].fitting = 1, s[3].mean_macs = 20;
  EXPECT_EQ(rank_spaces(s), (std::vector<int>{3, 2, 1, 0}));
}

TEST(RankSpaces, TooFewFittingSubnetsRankAfterTheOthers) {
  std::vector<SpaceStats> s(3);
  for (auto& x : s) x.samples = 100;
  s[0].fitting = 2, s[0].mean_macs = 50;  // the highest mean, but 2 % fit
  s[1].fitting = 40, s[1].mean_macs = 30;
  s[2].fitting = 0;
  EXPECT_EQ(rank_spaces(s), (std::vector<int>{0, 1, 2}));  // the paper's rule alone
  EXPECT_EQ(rank_spaces(s, 0.05), (std::vector<int>{1, 0, 2}));
  SpaceOptimizerOptions o = tiny_options();
  o.stage1.min_fit_fraction = 1.5;
  EXPECT_THROW(optimize_space(o), core::InputError);
}
