#include "tinynas/nas/space_optimizer.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <optional>
#include <chrono>
#include <numeric>

#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/core/errors.h"

namespace tinynas::nas {

bool enough_fit(const SpaceStats& s, double min_fit_fraction) {
  return s.fitting > 0 && s.fitting >= min_fit_fraction * s.samples;
}

std::vector<int> rank_spaces(const std::vector<SpaceStats>& spaces, double min_fit_fraction) {
  std::vector<int> order(spaces.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const SpaceStats& x = spaces[size_t(a)];
    const SpaceStats& y = spaces[size_t(b)];
    if ((x.fitting > 0) != (y.fitting > 0)) return x.fitting > 0;
    const bool xe = enough_fit(x, min_fit_fraction), ye = enough_fit(y, min_fit_fraction);
    if (xe != ye) return xe;
    if (x.mean_macs != y.mean_macs) return x.mean_macs > y.mean_macs;
    return x.fitting > y.fitting;
  });
  return order;
}

SpaceOptimizerResult optimize_space(const SpaceOptimizerOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  opt.space.validate();
  const std::vector<double> widths = opt.stage1.widths.empty() ? opt.space.width_choices : opt.stage1.widths;
  const std::vector<int> resolutions = opt.stage1.resolutions.empty() ? opt.space.resolution_choices : opt.stage1.resolutions;
  if (widths.empty() || resolutions.empty()) throw core::InputError("stage 1: the (w, r) grid is empty");
  if (opt.stage1.samples < 1) throw core::InputError("stage 1: --samples must be at least 1");
  if (!(opt.stage1.min_fit_fraction >= 0.0 && opt.stage1.min_fit_fraction <= 1.0))
    throw core::InputError("stage 1: min_fit_fraction must lie in [0, 1]");
  if (opt.budget.sram_bytes <= 0 || opt.budget.flash_bytes <= 0) throw core::InputError("stage 1: SRAM and Flash budgets must be positive");
  const bool check_time = opt.budget.limits_time();
  if (check_time && !opt.time_costs) throw core::InputError("stage 1: a latency or energy limit needs the MCU's latency model");
  for (double w : widths)
    if (!(w > 0)) throw core::InputError("stage 1: grid widths must be positive");
  for (int r : resolutions)
    if (r < 8) throw core::InputError("stage 1: grid resolutions must be at least 8");

  struct Cell {
    double w;
    int r;
  };
  std::vector<Cell> grid;
  for (double w : widths)
    for (int r : resolutions) grid.push_back({w, r});
  const int64_t m = opt.stage1.samples;
  const int64_t total = int64_t(grid.size()) * m;

  // One slot per subnet, filled in parallel and reduced in order: thread count cannot change results.
  const size_t n = static_cast<size_t>(total);
  std::vector<int64_t> macs(n), arena(n), flash(n);
  std::vector<char> time_ok(n, 1);
  const engine::PlanOptions plan_options{opt.inplace, 4};
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, total, 256), [&](const tbb::blocked_range<int64_t>& range) {
    search_space::NetworkDesc net;
    engine::Graph graph;
    for (int64_t i = range.begin(); i != range.end(); ++i) {
      const Cell& cell = grid[size_t(i / m)];
      core::Rng rng(core::derive_seed(opt.stage1.seed, uint64_t(i / m), uint64_t(i % m)));
      const search_space::ArchSpec arch = opt.space.sample(rng, cell.w, cell.r);
      opt.space.describe_into(arch, net);
      engine::build_graph_into(net, graph);
      macs[size_t(i)] = search_space::compute_macs(net);
      flash[size_t(i)] = engine::estimate_flash(graph, opt.runtime_code_bytes).total();
      std::optional<engine::PatchStage> stage;
      if (opt.patch.enabled) {
        const engine::PatchChoice choice =
            engine::schedule_within(graph, opt.budget.sram_bytes - engine::kStackBoundBytes, opt.patch.max_patches);
        arena[size_t(i)] = choice.arena_bytes;
        if (!choice.schedule.layer_wise()) {
          stage = engine::plan_patch_stage(graph, choice.schedule);
          flash[size_t(i)] += stage->table_bytes();
        }
      } else {
        arena[size_t(i)] = engine::plan_arena_bytes(graph, plan_options);
      }
      if (check_time) {
        const evaluator::TimeCosts t = opt.time_costs(graph, stage ? &*stage : nullptr);
        time_ok[size_t(i)] = opt.budget.admits_latency(t.latency_ms) && opt.budget.admits_energy(t.energy_uj);
      }
    }
    if (opt.on_progress) opt.on_progress(int64_t(range.size()));
  });

  SpaceOptimizerResult result;
  result.subnets = total;
  result.time_limited = check_time;
  for (size_t s = 0; s < grid.size(); ++s) {
    SpaceStats st;
    st.w = grid[s].w;
    st.r = grid[s].r;
    st.samples = int(m);
    const size_t begin = s * size_t(m), end = begin + size_t(m);
    st.min_arena = *std::min_element(arena.begin() + long(begin), arena.begin() + long(end));
    st.max_arena = *std::max_element(arena.begin() + long(begin), arena.begin() + long(end));
    st.min_flash = *std::min_element(flash.begin() + long(begin), flash.begin() + long(end));
    st.max_flash = *std::max_element(flash.begin() + long(begin), flash.begin() + long(end));
    double sum = 0;
    for (size_t i = begin; i < end; ++i) {
      const bool sram_ok = opt.budget.admits_sram(arena[i] + engine::kStackBoundBytes);
      const bool flash_ok = opt.budget.admits_flash(flash[i]);
      st.fit_sram += sram_ok;
      st.fit_flash += flash_ok;
      st.fit_time += time_ok[i];
      if (sram_ok && flash_ok && time_ok[i]) {
        st.fitting_macs.push_back(macs[i]);
        sum += double(macs[i]);
      }
    }
    st.fitting = int(st.fitting_macs.size());
    st.mean_macs = st.fitting ? sum / st.fitting : 0.0;
    std::sort(st.fitting_macs.begin(), st.fitting_macs.end());
    result.spaces.push_back(std::move(st));
  }
  result.ranking = rank_spaces(result.spaces, opt.stage1.min_fit_fraction);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace tinynas::nas
