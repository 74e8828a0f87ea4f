#pragma once
// The report of `tinynas search`: report.md (the chosen arch, its SRAM / Flash / latency / accuracy
// next to the baselines, the evolution's history, whether each limit binds), summary.json, and the
// plots (gnuplot SVG): the Pareto front of the scored candidates and the per-layer memory of the winner.
// The FLOPs-CDF plot is stage 1's (stage1/cdf.svg).
#include <optional>
#include <string>
#include <vector>

#include "tinynas/engine/graph.h"
#include "tinynas/nas/evolution.h"

namespace tinynas::nas {

// One network of the report, measured the same way as the others.
struct ReportedNetwork {
  std::string name;  // "searched", "MobileNetV2 (scaled)", ...
  Candidate candidate;
  double predicted = -1;      // predicted top-1, -1 = none
  double holdout_top1 = -1;   // measured with the supernet: BN recalibration + holdout
  int64_t macs = 0;
};

struct SearchReport {
  std::string experiment, mcu, supernet, predictor, latency_model;
  std::string power;  // the MCU's run-mode supply figures energy is counted with, and their source; empty without
  evaluator::Budget limits;
  std::vector<std::string> notes;  // e.g. which limits do not bind
  std::vector<ReportedNetwork> networks;  // the searched winner first
  std::vector<ReportedNetwork> top_k;     // the re-measured candidates
  EvolutionResult evolution;
  engine::Graph winner_graph;
  std::string firmware;  // what happened to the firmware bundle
};

// Writes report.md, summary.json, pareto.{dat,gp,svg} and memory.{dat,gp,svg} into out_dir.
void write_search_report(const std::string& out_dir, const SearchReport& report);

}  // namespace tinynas::nas
