#pragma once
// Stage 1 of TinyNAS (MCUNet section 3.1): for every (w, r) in a grid, sample subnets, keep those the
// engine's planner fits into the SRAM budget and whose Flash estimate fits the Flash budget, and
// rank the spaces by the mean FLOPs (MACs) of the fitting subnets: a space whose fitting subnets
// compute more is more likely to hold accurate ones.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tinynas/engine/graph.h"
#include "tinynas/evaluator/budget.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/search_space/space.h"

namespace tinynas::nas {

// The stage-1 settings of an experiment config (its stage1: section).
struct Stage1Config {
  std::vector<double> widths;    // the (w, r) grid; empty = the space's own choices
  std::vector<int> resolutions;
  int samples = 1000;            // m, subnets per (w, r)
  uint64_t seed = 0;
  // Spaces where fewer than this fraction of the samples fit are ranked after the others: a mean over
  // a handful of subnets is noise. 0 = the paper's rule alone.
  double min_fit_fraction = 0.0;
};

struct SpaceOptimizerOptions {
  search_space::SearchSpace space;
  Stage1Config stage1;
  evaluator::Budget budget;  // SRAM: arena + stack bound; Flash: weights + params + runtime code
  int64_t runtime_code_bytes = 0;
  // The latency and energy of a subnet, for the budget's latency and energy limits; needed only when
  // the budget has one (evaluator::time_costs with the MCU's latency model).
  // With a patch stage: the graph run with that schedule.
  std::function<evaluator::TimeCosts(const engine::Graph&, const engine::PatchStage*)> time_costs;
  // Patch-based inference: a subnet fits when the schedule evaluator::PatchSearch picks does.
  evaluator::PatchSearch patch;
  bool inplace = true;           // plan with in-place depthwise (TinyEngine) or layer-wise (TF-Lite Micro)
  std::function<void(int64_t)> on_progress;  // called with the number of subnets just finished
};

struct SpaceStats {
  double w = 0;
  int r = 0;
  int samples = 0;
  int fitting = 0;                   // subnets that fit both budgets
  int fit_sram = 0, fit_flash = 0;   // ... each budget on its own
  int fit_time = 0;                  // ... the latency and energy limits (every subnet without them)
  double mean_macs = 0;              // over fitting subnets (the ranking key); 0 when none fits
  std::vector<int64_t> fitting_macs;  // sorted ascending: the FLOPs CDF
  int64_t min_arena = 0, max_arena = 0;  // the planner's arena, without the stack bound
  int64_t min_flash = 0, max_flash = 0;
};

struct SpaceOptimizerResult {
  std::vector<SpaceStats> spaces;  // in grid order (w outer, r inner)
  std::vector<int> ranking;        // indices into `spaces`, best first; spaces where nothing fits last
  int64_t subnets = 0;
  double seconds = 0;
  bool time_limited = false;       // the budget had a latency or energy limit (SpaceStats::fit_time counts it)
  bool any_fits() const { return !spaces.empty() && spaces[size_t(ranking.front())].fitting > 0; }
  const SpaceStats& best() const { return spaces[size_t(ranking.front())]; }
};

// Runs stage 1 in parallel (TBB). The result depends only on the options and the seed, never on
// the number of threads: subnet i of space s is drawn from its own generator seeded by (seed, s, i).
SpaceOptimizerResult optimize_space(const SpaceOptimizerOptions& options);

// The ranking rule on its own: spaces where at least max(1, min_fit_fraction * samples) subnets fit
// first, by more mean MACs, then more fitting subnets, then grid order; then the spaces with too few
// fitting subnets in the same order; spaces with no fitting subnet last.
std::vector<int> rank_spaces(const std::vector<SpaceStats>& spaces, double min_fit_fraction = 0.0);
// Whether a space has enough fitting subnets to be ranked by its mean.
bool enough_fit(const SpaceStats& s, double min_fit_fraction);

}  // namespace tinynas::nas
