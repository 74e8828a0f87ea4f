// The evolutionary search on synthetic objectives whose optimum is known: it finds it, every candidate
// it returns or scores meets the limits, a seed gives one result whatever the thread count, a run
// resumed from its checkpoint ends as an uninterrupted one, an impossible budget is an InputError.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>

#include "test_helpers.h"
#include "tinynas/nas/evolution.h"
#include "tinynas/core/errors.h"

using namespace tinynas;
using namespace tinynas::nas;

namespace {

const search_space::SearchSpace kSpace;  // the MCUNet space: 21 block slots, d in {2,3,4}, ks {3,5,7}, e {3,4,6}
constexpr double kW = 0.5;
constexpr int kR = 96;

// Synthetic costs: "SRAM" grows with kernel x expand of every active block, "Flash" with expand,
// "latency" with depth.
evaluator::CandidateCosts synthetic_costs(const search_space::ArchSpec& a) {
  const search_space::ArchSpec n = kSpace.normalized(a);
  evaluator::CandidateCosts c;
  const int depth = kSpace.max_depth();
  for (int s = 0; s < kSpace.num_stages(); ++s)
    for (int b = 0; b < n.d[size_t(s)]; ++b) {
      const size_t slot = size_t(s * depth + b);
      c.sram_bytes += 1000 * n.ks[slot] * n.e[slot];
      c.flash_bytes += 1000 * n.e[slot];
      c.latency_ms += 1.0 + 0.1 * n.ks[slot];
    }
  return c;
}

// Matches with a target arch, choice by choice over the normalized encodings: the target is the
// one optimum.
double matches(const search_space::ArchSpec& a, const search_space::ArchSpec& target) {
  const search_space::ArchSpec x = kSpace.normalized(a), t = kSpace.normalized(target);
  double m = 0;
  for (size_t i = 0; i < x.ks.size(); ++i) m += (x.ks[i] == t.ks[i]) + (x.e[i] == t.e[i]);
  for (size_t i = 0; i < x.d.size(); ++i) m += 2.0 * (x.d[i] == t.d[i]);
  return m;
}

search_space::ArchSpec some_target() {
  core::Rng rng(99);
  return kSpace.normalized(kSpace.sample(rng, kW, kR));
}

EvolutionOptions small_options(uint64_t seed = 7) {
  EvolutionOptions o;
  o.w = kW;
  o.r = kR;
  o.seed = seed;
  return o;  // MCUNet's defaults otherwise: 100 / 20 / 50 + 50 / p 0.1 / 30 generations
}

EvolutionCallbacks callbacks_for(const search_space::ArchSpec& target) {
  EvolutionCallbacks cb;
  cb.costs = synthetic_costs;
  cb.accuracy = [target](const search_space::ArchSpec& a) { return matches(a, target); };
  return cb;
}

std::vector<std::string> keys(const std::vector<Candidate>& v) {
  std::vector<std::string> k;
  for (const auto& c : v) k.push_back(c.key);
  return k;
}

}  // namespace

TEST(Evolution, FindsTheKnownOptimumOfASyntheticObjective) {
  const search_space::ArchSpec target = some_target();
  const double best_possible = matches(target, target);
  const EvolutionResult r = evolve(kSpace, {}, small_options(), callbacks_for(target));
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.history.size(), 31u);  // the initial population and 30 generations
  EXPECT_EQ(r.best.key, search_space::arch_key(kSpace, target));
  EXPECT_EQ(r.best.accuracy, best_possible);
  // Far fewer candidates than the space holds were scored, and the best improved along the way.
  EXPECT_LT(r.scored, 100 + 30 * 100 + 1);
  EXPECT_LT(r.history.front().best_accuracy, best_possible);
  for (size_t g = 1; g < r.history.size(); ++g)
    EXPECT_GE(r.history[g].best_accuracy, r.history[g - 1].best_accuracy) << "parents are kept";
}

TEST(Evolution, EverythingScoredOrReturnedMeetsTheLimits) {
  // The target itself breaks the SRAM limit: the search must settle for the best feasible subnet.
  search_space::ArchSpec target = kSpace.largest(kW, kR);
  evaluator::Budget limits;
  limits.sram_bytes = synthetic_costs(kSpace.largest(kW, kR)).sram_bytes / 2;
  limits.flash_bytes = synthetic_costs(kSpace.largest(kW, kR)).flash_bytes * 3 / 4;
  limits.latency_ms = 30;
  std::atomic<int> scored_outside{0};
  EvolutionCallbacks cb = callbacks_for(target);
  cb.accuracy = [&](const search_space::ArchSpec& a) {
    if (!limits.admits(synthetic_costs(a))) ++scored_outside;
    return matches(a, target);
  };
  EvolutionOptions o = small_options();
  o.generations = 10;
  const EvolutionResult r = evolve(kSpace, limits, o, cb);
  EXPECT_EQ(scored_outside.load(), 0);
  EXPECT_TRUE(limits.admits(r.best.costs));
  EXPECT_LT(r.best.accuracy, matches(target, target));
  for (const auto& c : r.population) EXPECT_TRUE(limits.admits(c.costs)) << c.key;
  for (const auto& c : r.pareto_front) EXPECT_TRUE(limits.admits(c.costs)) << c.key;
  EXPECT_GT(r.cost_queries, r.scored);  // infeasible draws were costed and dropped
  // The reported costs are the callback's.
  EXPECT_EQ(r.best.costs.sram_bytes, synthetic_costs(r.best.arch).sram_bytes);
}

TEST(Evolution, ASeedGivesOneResultWhateverTheThreadCount) {
  const search_space::ArchSpec target = some_target();
  EvolutionOptions o = small_options(3);
  o.generations = 8;
  evaluator::Budget limits;
  limits.sram_bytes = synthetic_costs(kSpace.largest(kW, kR)).sram_bytes * 2 / 3;
  EvolutionResult one, two;
  {
    tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 1);
    one = evolve(kSpace, limits, o, callbacks_for(target));
  }
  {
    tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 4);
    two = evolve(kSpace, limits, o, callbacks_for(target));
  }
  EXPECT_EQ(keys(one.population), keys(two.population));
  EXPECT_EQ(one.best.key, two.best.key);
  EXPECT_EQ(one.scored, two.scored);
  EXPECT_EQ(one.cost_queries, two.cost_queries);
  // Another seed explores differently.
  o.seed = 4;
  const EvolutionResult other = evolve(kSpace, limits, o, callbacks_for(target));
  EXPECT_NE(keys(one.population), keys(other.population));
}

TEST(Evolution, AResumedRunEndsAsAnUninterruptedOne) {
  tinynas_test::TempDir tmp;
  const search_space::ArchSpec target = some_target();
  evaluator::Budget limits;
  limits.sram_bytes = synthetic_costs(kSpace.largest(kW, kR)).sram_bytes * 2 / 3;
  EvolutionOptions o = small_options(11);
  o.generations = 12;
  const EvolutionResult whole = evolve(kSpace, limits, o, callbacks_for(target));

  o.checkpoint_path = (tmp.path / "evolution.json").string();
  o.stop_after = 5;  // "interrupted" after generation 5
  const EvolutionResult first = evolve(kSpace, limits, o, callbacks_for(target));
  EXPECT_FALSE(first.finished);
  EXPECT_EQ(first.history.back().generation, 5);
  ASSERT_TRUE(std::filesystem::exists(o.checkpoint_path));

  o.stop_after = -1;
  o.resume = true;
  std::atomic<int> scored_again{0};
  EvolutionCallbacks cb = callbacks_for(target);
  cb.accuracy = [&](const search_space::ArchSpec& a) {
    ++scored_again;
    return matches(a, target);
  };
  const EvolutionResult resumed = evolve(kSpace, limits, o, cb);
  EXPECT_TRUE(resumed.finished);
  EXPECT_EQ(resumed.resumed_generation, 5);
  EXPECT_EQ(keys(resumed.population), keys(whole.population));
  EXPECT_EQ(resumed.best.key, whole.best.key);
  EXPECT_EQ(resumed.scored, whole.scored);
  EXPECT_EQ(resumed.cost_queries, whole.cost_queries);
  ASSERT_EQ(resumed.history.size(), whole.history.size());
  for (size_t g = 0; g < whole.history.size(); ++g) {
    EXPECT_EQ(resumed.history[g].best_accuracy, whole.history[g].best_accuracy) << g;
    EXPECT_EQ(resumed.history[g].mean_accuracy, whole.history[g].mean_accuracy) << g;
  }
  // Candidates scored before the interruption came from the checkpoint, not from new evaluations.
  EXPECT_EQ(scored_again.load(), whole.scored - first.scored);

  // A checkpoint from other settings is refused, naming the file.
  o.seed = 12;
  try {
    evolve(kSpace, limits, o, callbacks_for(target));
    FAIL() << "a checkpoint of another seed was accepted";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("evolution.json"), std::string::npos) << e.what();
  }
}

TEST(Evolution, ABudgetNothingMeetsIsAnInputErrorNamingTheSmallestSubnet) {
  evaluator::Budget limits;
  limits.sram_bytes = synthetic_costs(kSpace.smallest(kW, kR)).sram_bytes - 1;
  EvolutionOptions o = small_options();
  o.max_tries = 20;
  try {
    evolve(kSpace, limits, o, callbacks_for(some_target()));
    FAIL() << "no error";
  } catch (const core::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("no subnet meets"), std::string::npos) << m;
    EXPECT_NE(m.find("smallest subnet"), std::string::npos) << m;
  }
  o.parents = 200;
  EXPECT_THROW(evolve(kSpace, {}, o, callbacks_for(some_target())), core::InputError);
  EXPECT_THROW(parse_search_objective("fastest"), core::InputError);
}

TEST(Evolution, ParetoModeReturnsANonDominatedFront) {
  // Accuracy rises with matches to the largest subnet, latency with depth: a real trade-off.
  const search_space::ArchSpec target = kSpace.largest(kW, kR);
  EvolutionOptions o = small_options(5);
  o.generations = 10;
  o.objective = SearchObjective::ParetoLatency;
  const EvolutionResult r = evolve(kSpace, {}, o, callbacks_for(target));
  ASSERT_GE(r.pareto_front.size(), 3u);
  for (size_t i = 1; i < r.pareto_front.size(); ++i) {
    EXPECT_GT(r.pareto_front[i].costs.latency_ms, r.pareto_front[i - 1].costs.latency_ms);
    EXPECT_GT(r.pareto_front[i].accuracy, r.pareto_front[i - 1].accuracy);
  }
  // No population member dominates a front member.
  for (const auto& f : r.pareto_front)
    for (const auto& c : r.population)
      EXPECT_FALSE(c.accuracy >= f.accuracy && c.costs.latency_ms <= f.costs.latency_ms &&
                   (c.accuracy > f.accuracy || c.costs.latency_ms < f.costs.latency_ms))
          << c.key << " dominates " << f.key;
  // The front spans cheap and accurate ends: the cheapest point is cheaper than the most accurate.
  EXPECT_LT(r.pareto_front.front().costs.latency_ms, r.pareto_front.back().costs.latency_ms);
}

TEST(Evolution, ParetoFrontOfAHandMadeSet) {
  auto cand = [](const std::string& key, double acc, double latency) {
    Candidate c;
    c.key = key;
    c.accuracy = acc;
    c.costs.latency_ms = latency;
    return c;
  };
  const std::vector<Candidate> set = {cand("a", 0.70, 10), cand("b", 0.80, 20), cand("c", 0.75, 25),
                                      cand("d", 0.80, 20), cand("e", 0.60, 5),  cand("f", 0.90, 40)};
  const auto front = pareto_front(set, SearchObjective::ParetoLatency);
  EXPECT_EQ(keys(front), (std::vector<std::string>{"e", "a", "b", "f"}));  // c dominated by b; d equals b
}
