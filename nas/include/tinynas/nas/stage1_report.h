#pragma once
// The outputs of stage 1: a ranking table, the FLOPs CDF of every space (CSV and a gnuplot plot),
// a JSON summary and the chosen space as YAML for the later stages.
#include <string>

#include "tinynas/nas/config.h"
#include "tinynas/nas/space_optimizer.h"

namespace tinynas::nas {

// The ranking as a Markdown table (the `top` best spaces; 0 = all).
std::string stage1_ranking_table(const SpaceOptimizerResult& result, double min_fit_fraction, int top = 0);

// Writes into `out_dir` (created if needed), every file atomically: ranking.md, ranking.csv,
// cdf.csv, cdf.dat + cdf.gp + cdf.svg (the plot needs gnuplot; without it a warning is logged),
// summary.json and space.yaml (the chosen space: its w and r fixed, the block choices kept).
void write_stage1_outputs(const std::string& out_dir, const SpaceOptimizerResult& result,
                          const SpaceOptimizerOptions& options, const Experiment& experiment);

// Stage 1 as `tinynas optimize-space` runs it: optimize_space, then the outputs written into out_dir;
// InputError naming the smallest arena and Flash seen when no sampled subnet of any space fits.
SpaceOptimizerResult run_stage1(const SpaceOptimizerOptions& options, const Experiment& experiment,
                                const std::string& out_dir);

}  // namespace tinynas::nas
