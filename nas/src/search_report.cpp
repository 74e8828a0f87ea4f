#include "tinynas/nas/search_report.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tinynas/engine/planner.h"
#include "tinynas/nas/plot.h"
#include "tinynas/core/units.h"
#include "tinynas/core/files.h"

namespace tinynas::nas {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string percent(double v) { return v < 0 ? "–" : fmt("%.2f %%", v); }
// 0 when the MCU profile has no power figures or there is no latency model.
std::string energy(double microjoules) { return microjoules > 0 ? core::format_energy_uj(microjoules) : "–"; }

void write_pareto_plot(const fs::path& dir, const SearchReport& r) {
  std::ostringstream dat, gp;
  dat << "# scored candidates within the limits: latency_ms top1\n";
  // The population and the front stand for the scored set (the archive is not kept in the result).
  for (const auto& c : r.evolution.population) dat << c.costs.latency_ms << ' ' << c.accuracy << '\n';
  dat << "\n\n# Pareto front\n";
  for (const auto& c : r.evolution.pareto_front) dat << c.costs.latency_ms << ' ' << c.accuracy << '\n';
  dat << "\n\n# reported networks (measured holdout top-1)\n";
  for (const auto& n : r.networks)
    if (n.holdout_top1 >= 0) dat << n.candidate.costs.latency_ms << ' ' << n.holdout_top1 << '\n';
  core::write_file_atomic((dir / "pareto.dat").string(), dat.str());
  gp << "set terminal svg size 800,500 dynamic font 'sans,12'\nset output 'pareto.svg.tmp'\n"
     << "set title 'accuracy vs latency (" << r.mcu << ")'\nset xlabel 'latency (ms)'\n"
     << "set ylabel 'top-1 (%)'\nset grid\nset key right bottom\n"
     << "plot 'pareto.dat' index 0 using 1:2 with points pt 7 ps 0.5 title 'final population (predicted)', \\\n"
     << "     'pareto.dat' index 1 using 1:2 with linespoints lw 2 title 'Pareto front (predicted)', \\\n"
     << "     'pareto.dat' index 2 using 1:2 with points pt 5 ps 1.2 title 'reported networks (measured)'\n";
  core::write_file_atomic((dir / "pareto.gp").string(), gp.str());
  render_svg(dir.string(), "pareto.gp", "pareto.svg");
}

void write_memory_plot(const fs::path& dir, const engine::Graph& g) {
  const engine::MemoryPlan plan = engine::plan_memory(g);
  std::ostringstream dat, gp;
  dat << "# layer kind live_bytes\n";
  for (size_t i = 0; i < g.ops.size(); ++i)
    dat << i << ' ' << engine::to_string(g.ops[i].kind) << ' ' << plan.live_bytes[i] << '\n';
  core::write_file_atomic((dir / "memory.dat").string(), dat.str());
  gp << "set terminal svg size 900,450 dynamic font 'sans,12'\nset output 'memory.svg.tmp'\n"
     << "set title 'live SRAM per layer of the searched network (arena " << core::format_size(plan.arena_bytes) << ")'\n"
     << "set xlabel 'layer'\nset ylabel 'live bytes (KiB)'\nset style fill solid 0.7\nset boxwidth 0.8\n"
     << "set grid ytics\nset yrange [0:*]\n"
     << "plot 'memory.dat' using 1:($3/1024) with boxes notitle\n";
  core::write_file_atomic((dir / "memory.gp").string(), gp.str());
  render_svg(dir.string(), "memory.gp", "memory.svg");
}

json network_json(const ReportedNetwork& n) {
  return json{{"name", n.name},
              {"arch", nlohmann::json::parse(to_json(n.candidate.arch))},
              {"sram_bytes", n.candidate.costs.sram_bytes},
              {"flash_bytes", n.candidate.costs.flash_bytes},
              {"latency_ms", n.candidate.costs.latency_ms},
              {"energy_uj", n.candidate.costs.energy_uj},
              {"patch", engine::to_string(n.candidate.costs.patch)},
              {"macs", n.macs},
              {"predicted_top1", n.predicted},
              {"holdout_top1", n.holdout_top1}};
}

}  // namespace

void write_search_report(const std::string& out_dir, const SearchReport& r) {
  const fs::path dir(out_dir);
  fs::create_directories(dir);
  write_pareto_plot(dir, r);
  write_memory_plot(dir, r.winner_graph);

  std::ostringstream md;
  md << "# tinynas search: " << r.experiment << " on " << r.mcu << "\n\n";
  md << "Limits: " << r.limits.describe() << ". Supernet `" << r.supernet << "`; accuracy predictor `" << r.predictor
     << "`; latency model `" << r.latency_model << "`.\n\n";
  if (!r.power.empty()) md << "Energy per inference = latency x " << r.power << ".\n\n";
  for (const auto& n : r.notes) md << "- " << n << "\n";
  if (!r.notes.empty()) md << "\n";
  md << "## Searched network vs baselines\n\n"
     << "Every network is a subnet of the same supernet, measured the same way: BN statistics re-estimated on "
        "the fixed training subset, top-1 on the holdout split (not the test split). SRAM is the engine planner's "
        "arena plus the 1 KB stack bound, Flash the engine's size model, latency the calibrated model, energy that "
        "latency at the MCU's run-mode supply power. The schedule is layer-wise, or n@s for a network whose stem and "
        "blocks before s run in n x n patches (search --patch): its SRAM is that schedule's arena and its latency "
        "counts the recomputed halos; MACs are the network's own.\n\n"
     << "| network | r | MACs | schedule | SRAM | Flash | latency | energy | predicted top-1 | holdout top-1 |\n"
     << "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& n : r.networks)
    md << "| " << n.name << " | " << n.candidate.arch.r << " | " << fmt("%.2f M", double(n.macs) / 1e6) << " | "
       << engine::to_string(n.candidate.costs.patch) << " | "
       << core::format_size(n.candidate.costs.sram_bytes) << " | " << core::format_size(n.candidate.costs.flash_bytes) << " | "
       << fmt("%.1f ms", n.candidate.costs.latency_ms) << " | " << energy(n.candidate.costs.energy_uj) << " | "
       << percent(n.predicted) << " | "
       << percent(n.holdout_top1) << " |\n";
  md << "\nThe searched arch (`winner.json`):\n\n```json\n" << to_json(r.networks.front().candidate.arch)
     << "\n```\n\n";
  md << "## Top candidates re-measured with the supernet\n\n| rank | predicted | holdout | SRAM | latency | energy | arch key |\n"
     << "|---:|---:|---:|---:|---:|---:|---|\n";
  for (size_t i = 0; i < r.top_k.size(); ++i)
    md << "| " << i + 1 << " | " << percent(r.top_k[i].predicted) << " | " << percent(r.top_k[i].holdout_top1)
       << " | " << core::format_size(r.top_k[i].candidate.costs.sram_bytes) << " | "
       << fmt("%.1f ms", r.top_k[i].candidate.costs.latency_ms) << " | " << energy(r.top_k[i].candidate.costs.energy_uj)
       << " | `" << r.top_k[i].candidate.key << "` |\n";
  md << "\n## Evolution\n\n" << r.evolution.scored << " candidates scored, " << r.evolution.cost_queries
     << " costed (infeasible draws included).\n\n| generation | best | mean | children | seconds |\n"
     << "|---:|---:|---:|---:|---:|\n";
  for (const auto& h : r.evolution.history)
    md << "| " << h.generation << " | " << fmt("%.2f", h.best_accuracy) << " | " << fmt("%.2f", h.mean_accuracy)
       << " | " << h.children << " | " << fmt("%.2f", h.seconds) << " |\n";
  md << "\n## Plots\n\n"
     << "- FLOPs CDF of the subnets that fit (stage 1): ![](stage1/cdf.svg)\n"
     << "- Accuracy vs latency, the Pareto front: ![](pareto.svg)\n"
     << "- Live SRAM per layer of the searched network: ![](memory.svg)\n\n"
     << "## Firmware\n\n" << r.firmware << "\n";
  core::write_file_atomic((dir / "report.md").string(), md.str());

  json summary{{"experiment", r.experiment},
               {"mcu", r.mcu},
               {"limits",
                {{"sram_bytes", r.limits.sram_bytes},
                 {"flash_bytes", r.limits.flash_bytes},
                 {"latency_ms", r.limits.latency_ms},
                 {"energy_uj", r.limits.energy_uj}}},
               {"power", r.power},
               {"supernet", r.supernet},
               {"predictor", r.predictor},
               {"latency_model", r.latency_model},
               {"notes", r.notes},
               {"networks", json::array()},
               {"scored", r.evolution.scored},
               {"firmware", r.firmware}};
  for (const auto& n : r.networks) summary["networks"].push_back(network_json(n));
  core::write_file_atomic((dir / "summary.json").string(), summary.dump(2) + "\n");
}

}  // namespace tinynas::nas
