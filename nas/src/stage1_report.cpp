#include "tinynas/nas/stage1_report.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tinynas/engine/planner.h"
#include "tinynas/nas/plot.h"
#include "tinynas/core/units.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace fs = std::filesystem;

namespace tinynas::nas {

namespace {

std::string space_label(const SpaceStats& s) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "w%.2g-r%d", s.w, s.r);
  return buf;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

constexpr int kPlottedSpaces = 6;

}  // namespace

std::string stage1_ranking_table(const SpaceOptimizerResult& result, double min_fit_fraction, int top) {
  std::ostringstream out;
  const bool time = result.time_limited;
  out << "| rank | space | w | r | fit | fit SRAM | fit Flash | " << (time ? "fit latency + energy | " : "")
      << "mean MACs of fitting | arena min..max | Flash min..max |\n"
      << "|---:|---|---:|---:|---:|---:|---:|" << (time ? "---:|" : "") << "---:|---|---|\n";
  int rank = 0;
  for (int idx : result.ranking) {
    if (top > 0 && rank >= top) break;
    const SpaceStats& s = result.spaces[size_t(idx)];
    ++rank;
    out << "| " << rank << " | " << space_label(s) << " | " << fmt("%.2g", s.w) << " | " << s.r << " | "
        << fmt("%.1f%%", 100.0 * s.fitting / s.samples) << " | " << fmt("%.1f%%", 100.0 * s.fit_sram / s.samples)
        << " | " << fmt("%.1f%%", 100.0 * s.fit_flash / s.samples) << " | "
        << (time ? fmt("%.1f%%", 100.0 * s.fit_time / s.samples) + " | " : std::string())
        << (s.fitting ? fmt("%.2fM", s.mean_macs / 1e6) : std::string("nothing fits"))
        << (s.fitting && !enough_fit(s, min_fit_fraction) ? " (too few fit)" : "") << " | "
        << core::format_size(s.min_arena) << " .. " << core::format_size(s.max_arena) << " | " << core::format_size(s.min_flash) << " .. "
        << core::format_size(s.max_flash) << " |\n";
  }
  if (top > 0 && int(result.ranking.size()) > top)
    out << "\n(" << result.ranking.size() - size_t(top) << " more spaces in ranking.md)\n";
  return out.str();
}

void write_stage1_outputs(const std::string& out_dir, const SpaceOptimizerResult& result,
                          const SpaceOptimizerOptions& opt, const Experiment& experiment) {
  core::create_output_dir(out_dir);
  const fs::path dir(out_dir);
  // Written together (core::write_files_atomic): a full disk leaves the earlier outputs, not a mix.
  std::vector<std::pair<std::string, std::string>> files;
  const SpaceStats& best = result.best();

  std::ostringstream md;
  md << "# Stage 1: search-space optimization\n\n"
     << "Experiment `" << experiment.name << "`, space `" << opt.space.name << "`, MCU `" << experiment.mcu.name
     << "`.\nBudgets: SRAM " << core::format_size(opt.budget.sram_bytes) << " (planner arena + " << engine::kStackBoundBytes << " B stack bound, "
     << (opt.inplace ? "in-place depthwise" : "layer-wise") << "), Flash " << core::format_size(opt.budget.flash_bytes)
     << " (weights + parameters + " << core::format_size(opt.runtime_code_bytes) << " runtime code)"
     << (opt.budget.limits_time() ? "; " + opt.budget.describe() + " by the MCU's latency model" : std::string()) << ".\n"
     << opt.stage1.samples << " subnets per space, seed " << opt.stage1.seed << ", " << result.subnets << " subnets in "
     << fmt("%.2f", result.seconds) << " s.\n\n"
     << "Chosen space: **" << space_label(best) << "** (mean " << fmt("%.2f", best.mean_macs / 1e6)
     << "M MACs over the " << best.fitting << " fitting subnets).\n\n"
     << (opt.stage1.min_fit_fraction > 0 ? "Spaces where fewer than " + fmt("%.0f%%", 100 * opt.stage1.min_fit_fraction) +
                                        " of the subnets fit are ranked after the others.\n\n"
                                  : std::string())
     << stage1_ranking_table(result, opt.stage1.min_fit_fraction) << "\n![FLOPs CDF](cdf.svg)\n";
  files.push_back({(dir / "ranking.md").string(), md.str()});

  std::ostringstream csv;
  csv << "rank,w,r,samples,fitting,fit_sram,fit_flash,fit_time,mean_macs,min_arena_bytes,max_arena_bytes,min_flash_bytes,"
         "max_flash_bytes\n";
  for (size_t rank = 0; rank < result.ranking.size(); ++rank) {
    const SpaceStats& s = result.spaces[size_t(result.ranking[rank])];
    csv << rank + 1 << ',' << s.w << ',' << s.r << ',' << s.samples << ',' << s.fitting << ',' << s.fit_sram << ','
        << s.fit_flash << ',' << s.fit_time << ',' << fmt("%.1f", s.mean_macs) << ',' << s.min_arena << ',' << s.max_arena << ','
        << s.min_flash << ',' << s.max_flash << '\n';
  }
  files.push_back({(dir / "ranking.csv").string(), csv.str()});

  // The CDF of every space: P(MACs <= x) over the fitting subnets.
  std::ostringstream cdf;
  cdf << "w,r,macs,cdf\n";
  for (const SpaceStats& s : result.spaces)
    for (size_t i = 0; i < s.fitting_macs.size(); ++i)
      cdf << s.w << ',' << s.r << ',' << s.fitting_macs[i] << ',' << fmt("%.6f", double(i + 1) / s.fitting_macs.size())
          << '\n';
  files.push_back({(dir / "cdf.csv").string(), cdf.str()});

  // gnuplot data: one block per plotted space (the best ones), blocks separated by two blank lines.
  std::ostringstream dat, gp;
  std::vector<const SpaceStats*> plotted;
  for (int idx : result.ranking) {
    const SpaceStats& s = result.spaces[size_t(idx)];
    if (s.fitting == 0 || int(plotted.size()) == kPlottedSpaces) break;
    plotted.push_back(&s);
  }
  for (const SpaceStats* s : plotted) {
    dat << "# " << space_label(*s) << "\n";
    for (size_t i = 0; i < s->fitting_macs.size(); ++i)
      dat << fmt("%.4f", s->fitting_macs[i] / 1e6) << ' ' << fmt("%.6f", double(i + 1) / s->fitting_macs.size()) << '\n';
    dat << "\n\n";
  }
  files.push_back({(dir / "cdf.dat").string(), dat.str()});
  gp << "set terminal svg size 800,500 dynamic font 'sans,12'\n"
     << "set output 'cdf.svg.tmp'\n"
     << "set title 'FLOPs CDF of subnets that fit SRAM " << core::format_size(opt.budget.sram_bytes) << ", Flash "
     << core::format_size(opt.budget.flash_bytes) << "'\n"
     << "set xlabel 'MACs (M)'\nset ylabel 'cumulative probability'\nset yrange [0:1]\nset grid\n"
     << "set key right bottom\n";
  if (plotted.empty()) {
    gp << "set label 'no subnet fits the budgets' at graph 0.3, graph 0.5\nplot [0:1] NaN notitle\n";
  } else {
    gp << "plot ";
    for (size_t i = 0; i < plotted.size(); ++i)
      gp << (i ? ", \\\n     " : "") << "'cdf.dat' index " << i << " using 1:2 with lines lw 2 title '"
         << space_label(*plotted[i]) << " (mean " << fmt("%.1f", plotted[i]->mean_macs / 1e6) << "M)'";
    gp << "\n";
  }
  files.push_back({(dir / "cdf.gp").string(), gp.str()});

  // The chosen space: w and r fixed, the per-block choices as they were.
  search_space::SearchSpace chosen = opt.space;
  chosen.name = opt.space.name + "-" + space_label(best);
  chosen.width_choices = {best.w};
  chosen.resolution_choices = {best.r};
  std::ostringstream yaml;
  yaml << "# Chosen by stage 1 (tinynas optimize-space) for SRAM " << core::format_size(opt.budget.sram_bytes) << ", Flash "
       << core::format_size(opt.budget.flash_bytes) << " on " << experiment.mcu.name << ":\n# mean "
       << fmt("%.2f", best.mean_macs / 1e6) << "M MACs over " << best.fitting << "/" << best.samples
       << " fitting subnets.\n"
       << search_space::space_to_yaml(chosen);
  files.push_back({(dir / "space.yaml").string(), yaml.str()});

  nlohmann::ordered_json j;
  j["experiment"] = experiment.name;
  j["space"] = opt.space.name;
  j["mcu"] = experiment.mcu.name;
  j["sram_bytes"] = opt.budget.sram_bytes;
  j["flash_bytes"] = opt.budget.flash_bytes;
  j["runtime_code_bytes"] = opt.runtime_code_bytes;
  j["planner"] = opt.inplace ? "inplace" : "layerwise";
  j["samples_per_space"] = opt.stage1.samples;
  j["min_fit_fraction"] = opt.stage1.min_fit_fraction;
  j["seed"] = opt.stage1.seed;
  j["subnets"] = result.subnets;
  j["seconds"] = result.seconds;
  j["subnets_per_second"] = result.seconds > 0 ? result.subnets / result.seconds : 0.0;
  j["best"] = {{"w", best.w}, {"r", best.r}, {"mean_macs", best.mean_macs}, {"fitting", best.fitting}};
  nlohmann::ordered_json ranking = nlohmann::ordered_json::array();
  for (int idx : result.ranking) {
    const SpaceStats& s = result.spaces[size_t(idx)];
    ranking.push_back({{"w", s.w},
                       {"r", s.r},
                       {"fitting", s.fitting},
                       {"fit_sram", s.fit_sram},
                       {"fit_flash", s.fit_flash},
                       {"fit_time", s.fit_time},
                       {"mean_macs", s.mean_macs},
                       {"min_arena_bytes", s.min_arena},
                       {"max_arena_bytes", s.max_arena},
                       {"min_flash_bytes", s.min_flash},
                       {"max_flash_bytes", s.max_flash}});
  }
  j["ranking"] = ranking;
  files.push_back({(dir / "summary.json").string(), j.dump(2) + "\n"});
  core::write_files_atomic(files);
  render_svg(out_dir, "cdf.gp", "cdf.svg");
}

SpaceOptimizerResult run_stage1(const SpaceOptimizerOptions& opt, const Experiment& x, const std::string& out_dir) {
  const SpaceOptimizerResult result = optimize_space(opt);
  if (!result.any_fits()) {
    int64_t min_arena = INT64_MAX, min_flash = INT64_MAX;
    for (const auto& s : result.spaces) {
      min_arena = std::min(min_arena, s.min_arena);
      min_flash = std::min(min_flash, s.min_flash);
    }
    throw core::InputError("impossible budget: no sampled subnet of any space meets " + opt.budget.describe() +
                           " (SRAM = arena + stack bound; smallest arena seen " +
                           core::format_size(min_arena) + ", smallest Flash " + core::format_size(min_flash) + ")");
  }
  write_stage1_outputs(out_dir, result, opt, x);
  return result;
}

}  // namespace tinynas::nas
