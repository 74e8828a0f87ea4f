#pragma once
// `tinynas search` as one library call: stage 1 over the supernet's spaces, the evolution under the
// budget (accuracy predictor or measurements, the engine's cost model), the best candidates and the
// scaled baselines re-measured with the supernet, the winner deployed as firmware (export_network), the
// report. With `train`, the supernet and its predictor are trained first (train_for_search).
#include <cstdint>
#include <optional>
#include <string>

#include "tinynas/evaluator/budget.h"
#include "tinynas/nas/config.h"
#include "tinynas/nas/evolution.h"
#include "tinynas/nas/export.h"
#include "tinynas/nas/search_report.h"
#include "tinynas/nas/space_optimizer.h"

namespace tinynas::nas {

struct SearchRequest {
  Experiment experiment;          // its mcu is the target
  evaluator::Budget budget;       // SRAM (arena + stack bound), Flash, latency
  std::string supernet;           // "" = the experiment's (or, with train, OUT/supernet/supernet.pt)
  std::string predictor;          // "" = predictor.pt beside the supernet; "none" measures every candidate
  std::string latency_model;      // "" = the shipped model of the MCU (run_files.h)
  std::string out = "runs/search";
  EvolutionOptions evolution;     // objective, seed, population sizes; checkpoint and resume are set from out/resume
  int top_k = 5;                  // best candidates re-measured with the supernet
  bool resume = false;            // continue the evolution from OUT/evolution.json
  bool train = false;             // train the supernet and its predictor first
  int predictor_samples = 300;    // with train: subnets measured for the predictor
  bool export_firmware = true;    // deploy the winner into OUT/firmware (run in QEMU when it is installed)
  int threads = 0;                // LibTorch threads; 0 = the experiment's
};

struct SearchResult {
  bool root = true;                    // false on MPI ranks other than 0, which write nothing
  SpaceOptimizerResult stage1;
  SearchReport report;                 // networks: the winner first, then the baselines
  std::optional<ExportResult> firmware;  // the winner's deployment
  std::string winner_path, report_path;
};

SearchResult search(SearchRequest request);

// `search --train`'s first part: the supernet's space (the config's supernet.width, else stage 1's best
// (w, r) under the budget with its neighbouring resolutions), trained into OUT/supernet/ and its accuracy
// predictor built there (both resume what is there). Returns the supernet file. InputError when no
// subnet of the space can meet the budget (nothing is trained then) or under MPI.
std::string train_for_search(const SearchRequest& request);

// The latency model a search counts with: `latency_model_path`, else the one shipped for the MCU
// (configs/calibration/<its latency_model>.yaml). InputError when the path given does not exist, when the
// budget has a latency or energy limit and there is no model, or an energy limit and the MCU profile has
// no run-mode supply figures.
struct LatencyChoice {
  std::string path;
  bool found = false;
  evaluator::LatencyModel model;  // no kinds when not found
};
LatencyChoice choose_latency_model(const engine::McuProfile& mcu, const std::string& latency_model_path,
                                   const evaluator::Budget& budget);

// Stage 1 over the experiment's grid of `space` under the budget; a latency or energy limit is checked
// with choose_latency_model's model.
SpaceOptimizerOptions stage1_options(const Experiment& x, const search_space::SearchSpace& space, const evaluator::Budget& budget,
                                     const std::string& latency_model_path = "");

}  // namespace tinynas::nas
