// tinynas search: the most accurate subnet of the trained supernet under --sram, --flash, --latency and --energy,
// deployed as firmware, with a report (nas/search.h).
#include <iostream>

#include "commands.h"
#include "tinynas/core/units.h"
#include "tinynas/nas/search.h"

namespace tinynas::cli {

namespace {

struct Options {
  LimitFlags limits;
  std::string mcu, config, supernet, predictor, latency_model, out = "runs/search", objective = "accuracy";
  int64_t seed = 0;
  int population = 0, parents = 0, mutations = -1, crossovers = -1, generations = -1, top_k = 5;
  double mutate_prob = -1;
  bool resume = false, no_firmware = false, train = false, patch = false;
  int predictor_samples = 300;
};

nas::SearchRequest request(const Options& o) {
  nas::SearchRequest q;
  q.experiment = load_experiment_flag(o.config, o.mcu);
  const nas::Experiment& x = q.experiment;
  q.budget = budget_flags(o.limits, x);
  if (o.patch) q.experiment.search.patch = true;
  nas::EvolutionOptions& evo = q.evolution;
  evo.objective = nas::parse_search_objective(o.objective);
  evo.seed = uint64_t(o.seed);
  if (o.population > 0) evo.population = o.population;
  if (o.parents > 0) evo.parents = o.parents;
  if (o.mutations >= 0) evo.mutations = o.mutations;
  if (o.crossovers >= 0) evo.crossovers = o.crossovers;
  if (o.mutate_prob >= 0) evo.mutate_prob = o.mutate_prob;
  if (o.generations >= 0) evo.generations = o.generations;
  q.supernet = o.supernet;
  q.predictor = o.predictor;
  q.latency_model = o.latency_model;
  q.out = o.out;
  q.top_k = o.top_k;
  q.resume = o.resume;
  q.train = o.train;
  q.predictor_samples = o.predictor_samples;
  q.export_firmware = !o.no_firmware;
  q.threads = global_options().threads;
  return q;
}

}  // namespace

Runner add_search(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Find the most accurate subnet of the trained supernet that meets --sram, --flash (and --latency, --energy) on the MCU: "
      "stage 1, evolution with the accuracy predictor and the engine's cost model, the best candidates and the "
      "scaled MobileNetV2 / ProxylessNAS baselines re-measured, the winner exported as firmware, a report.");
  add_limit_flags(cmd, o->limits, true);
  cmd->add_option("--mcu", o->mcu, "MCU profile: a name in configs/mcu/ or a YAML path (default: the config's)");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--supernet", o->supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_option("--predictor", o->predictor,
                  "accuracy predictor (default: predictor.pt beside the supernet); 'none' measures every candidate");
  cmd->add_option("--latency-model", o->latency_model,
                  "latency model file (`tinynas calibrate` writes one; default: the shipped "
                  "configs/calibration/<the MCU's latency_model>.yaml)");
  cmd->add_option("--out", o->out, "output folder")->capture_default_str();
  cmd->add_option("--objective", o->objective, "accuracy, pareto-latency or pareto-sram")->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--population", o->population, "population size (default 100)")->check(CLI::PositiveNumber);
  cmd->add_option("--parents", o->parents, "parents kept per generation (default 20)")->check(CLI::PositiveNumber);
  cmd->add_option("--mutations", o->mutations, "mutation children per generation (default 50)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--crossovers", o->crossovers, "crossover children per generation (default 50)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mutate-prob", o->mutate_prob, "probability of re-drawing each choice (default 0.1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--generations", o->generations, "generations (default 30)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", o->top_k, "best candidates re-measured with the supernet")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--resume", o->resume, "continue the evolution from the checkpoint in --out");
  cmd->add_flag("--train", o->train,
                "train a supernet first (OUT/supernet/, as `tinynas train` does; resumes if it is there) and build its "
                "accuracy predictor, then search it; the config's supernet.width fixes its space, else stage 1 "
                "chooses (w, r) under the limits");
  cmd->add_option("--predictor-samples", o->predictor_samples, "with --train: subnets measured for the predictor")
      ->capture_default_str()
      ->check(CLI::Range(10, 1000000));
  cmd->add_flag("--no-firmware", o->no_firmware, "do not export the winner as a firmware bundle");
  cmd->add_flag("--patch", o->patch,
                "candidates may run their first blocks patch by patch (MCUNetV2) when that fits --sram and layer by layer "
                "does not: each gets the fitting schedule of the fewest extra MACs (config key search.patch: true)");
  return [o]() {
    const nas::SearchResult r = nas::search(request(*o));
    if (!r.root) return 0;
    const nas::ReportedNetwork& winner = r.report.networks.front();
    std::cout << "searched: " << to_json(winner.candidate.arch) << "\n  holdout top-1 " << winner.holdout_top1
              << " %, SRAM " << core::format_size(winner.candidate.costs.sram_bytes) << ", Flash "
              << core::format_size(winner.candidate.costs.flash_bytes) << ", latency " << winner.candidate.costs.latency_ms
              << " ms, energy " << core::format_energy_uj(winner.candidate.costs.energy_uj) << "\n";
    for (size_t i = 1; i < r.report.networks.size(); ++i)
      std::cout << r.report.networks[i].name << ": holdout top-1 " << r.report.networks[i].holdout_top1 << " %, SRAM "
                << core::format_size(r.report.networks[i].candidate.costs.sram_bytes) << "\n";
    std::cout << "report: " << r.report_path << "\n";
    return 0;
  };
}

}  // namespace tinynas::cli
