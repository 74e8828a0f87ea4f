// tinynas optimize-space: stage 1, ranks (w, r) search spaces by the FLOPs of the subnets that fit.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <iostream>

#include "commands.h"
#include "tinynas/nas/config.h"
#include "tinynas/core/progress.h"
#include "tinynas/nas/space_optimizer.h"
#include "tinynas/nas/search.h"
#include "tinynas/nas/stage1_report.h"
#include "tinynas/core/units.h"
#include "tinynas/core/files.h"

namespace tinynas::cli {

namespace {
struct Options {
  LimitFlags limits;
  std::string mcu, config, latency_model, out = "runs/optimize-space";
  int samples = 0;
  double min_fit = -1;
  int64_t seed = -1;
  bool layerwise = false;
  bool json = false;
};
}  // namespace

Runner add_optimize_space(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "optimize-space",
      "Stage 1: sample subnets of every (w, r) space in the config's grid, keep those the memory planner fits "
      "into --sram and whose Flash fits --flash (and that meet --latency and --energy), and rank the spaces by the "
      "mean MACs of the fitting subnets.");
  add_limit_flags(cmd, o->limits, true);
  cmd->add_option("--latency-model", o->latency_model,
                  "latency model file for --latency / --energy (default: the shipped configs/calibration/<the MCU's "
                  "latency_model>.yaml)");
  cmd->add_option("--mcu", o->mcu, "MCU profile: a name in configs/mcu/ or a YAML path (default: the config's)");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--samples", o->samples, "subnets sampled per space (default: the config's, 1000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "random seed (default: the config's)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-fit", o->min_fit,
                  "rank spaces by mean MACs only if at least this fraction of their subnets fit (default: the "
                  "config's; 0 = the paper's rule alone)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--out", o->out, "output folder")->capture_default_str();
  cmd->add_flag("--layerwise", o->layerwise, "plan memory layer-wise like TF-Lite Micro (no in-place depthwise)");
  cmd->add_flag("--json", o->json, "print the summary as JSON on stdout instead of the table");

  return [o]() {
    const nas::Experiment x = load_experiment_flag(o->config, o->mcu);
    nas::SpaceOptimizerOptions opt = nas::stage1_options(x, x.space, budget_flags(o->limits, x), o->latency_model);
    if (o->samples > 0) opt.stage1.samples = o->samples;
    if (o->seed >= 0) opt.stage1.seed = uint64_t(o->seed);
    opt.inplace = !o->layerwise;
    if (o->min_fit >= 0) opt.stage1.min_fit_fraction = o->min_fit;
    const size_t grid = (opt.stage1.widths.empty() ? opt.space.width_choices.size() : opt.stage1.widths.size()) *
                        (opt.stage1.resolutions.empty() ? opt.space.resolution_choices.size() : opt.stage1.resolutions.size());
    spdlog::info("stage 1: {} spaces x {} subnets, {} ({}), seed {}", grid, opt.stage1.samples, opt.budget.describe(),
                 x.mcu.name, opt.stage1.seed);
    core::ProgressBar progress("stage 1", int64_t(grid) * opt.stage1.samples, "subnets");
    opt.on_progress = [&](int64_t n) { progress.advance(n); };
    const nas::SpaceOptimizerResult result = nas::run_stage1(opt, x, o->out);
    progress.finish();
    spdlog::info("stage 1: {} subnets sampled and planned in {:.2f} s ({:.0f} subnets/s)", result.subnets,
                 result.seconds, result.subnets / std::max(result.seconds, 1e-9));
    const nas::SpaceStats& best = result.best();
    if (o->json) {
      std::cout << core::read_text_file(o->out + "/summary.json");
    } else {
      std::cout << nas::stage1_ranking_table(result, opt.stage1.min_fit_fraction, 10) << "\nChosen space: w=" << best.w << " r=" << best.r << " (mean "
                << best.mean_macs / 1e6 << "M MACs, " << best.fitting << "/" << best.samples << " subnets fit)\n"
                << "Outputs in " << o->out << "/: ranking.md ranking.csv cdf.csv cdf.svg summary.json space.yaml\n";
    }
    return 0;
  };
}

}  // namespace tinynas::cli
