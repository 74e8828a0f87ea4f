#include "tinynas/nas/search.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <tuple>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/core/units.h"
#include "tinynas/engine/planner.h"
#include "tinynas/evaluator/accuracy_predictor.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/evaluator/subnet_accuracy.h"
#include "tinynas/nas/baselines.h"
#include "tinynas/nas/experiment_supernet.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/nas/stage1_report.h"
#include "tinynas/nas/train.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::nas {

namespace fs = std::filesystem;

LatencyChoice choose_latency_model(const engine::McuProfile& mcu, const std::string& latency_model_path,
                                   const evaluator::Budget& budget) {
  LatencyChoice c;
  c.path = latency_model_path.empty() ? shipped_latency_model(mcu) : latency_model_path;
  if (!latency_model_path.empty() && !core::exists(c.path))
    throw core::InputError("--latency-model " + c.path + ": no such file");
  const std::string limit = budget.latency_ms > 0 ? "--latency" : "--energy";
  if (budget.energy_uj > 0 && !mcu.has_power())
    throw core::InputError("--energy needs the run-mode supply of " + mcu.name +
                           ": its profile has no `power:` (supply_voltage, run_current_ma, source)");
  c.found = core::exists(c.path);
  if (c.found) c.model = evaluator::load_latency_model(c.path);
  else if (budget.limits_time())
    throw core::InputError(limit + " needs a latency model of " + mcu.name + " (" + c.path + "): run `tinynas calibrate --mcu " +
                           mcu.latency_model + "` and pass --latency-model");
  return c;
}

evaluator::PatchSearch patch_search(const Experiment& x, const evaluator::Budget& budget) {
  return evaluator::PatchSearch{x.search.patch, x.search.max_patches, budget.sram_bytes};
}

SpaceOptimizerOptions stage1_options(const Experiment& x, const search_space::SearchSpace& space, const evaluator::Budget& budget,
                                     const std::string& latency_model_path) {
  SpaceOptimizerOptions s1;
  s1.space = space;
  s1.stage1 = x.stage1;
  s1.budget = budget;
  s1.runtime_code_bytes = x.mcu.runtime_code_bytes;
  if (budget.limits_time()) {
    const evaluator::LatencyModel latency = choose_latency_model(x.mcu, latency_model_path, budget).model;
    s1.time_costs = [latency, mcu = x.mcu](const engine::Graph& g, const engine::PatchStage* stage) {
      return evaluator::time_costs(latency, mcu, g, stage);
    };
  }
  s1.patch = patch_search(x, budget);
  return s1;
}

namespace {

// The best resolution of stage 1 and its neighbours in the space: the search then trades resolution for depth.
std::vector<int> resolutions_around(const std::vector<int>& all, int best) {
  const auto at = std::find(all.begin(), all.end(), best);
  std::vector<int> resolutions;
  for (auto it = at == all.begin() ? at : at - 1; it != all.end() && it <= at + 1; ++it) resolutions.push_back(*it);
  return resolutions;
}

}  // namespace

std::string train_for_search(const SearchRequest& q) {
  const Experiment& x = q.experiment;
  if (dist::Cluster::world().size() > 1)
    throw core::InputError("--train runs in one process: under MPI, train with `mpirun tinynas train` "
                           "(scripts/slurm/train.sbatch), then search with --supernet");
  double w = x.supernet.width;
  std::vector<int> resolutions = x.supernet.resolutions;
  if (!x.supernet.width_given) {
    const SpaceOptimizerResult stage1 = optimize_space(stage1_options(x, x.space, q.budget, q.latency_model));
    if (!stage1.any_fits()) throw core::InputError("no space of the stage-1 grid has a subnet that meets " + q.budget.describe());
    w = stage1.best().w;
    resolutions = resolutions_around(x.space.resolution_choices, stage1.best().r);
    spdlog::info("stage 1 chose w {} r {} of {} spaces: training resolutions {}", w, stage1.best().r,
                 stage1.spaces.size(), fmt::join(resolutions, "/"));
  } else {
    // Nothing is trained for a budget the configured space cannot meet (without the latency, which
    // needs the trained supernet for nothing and is checked again after training).
    const int r_min = *std::min_element(resolutions.begin(), resolutions.end());
    evaluator::Budget memory = q.budget;
    memory.latency_ms = 0;
    memory.energy_uj = 0;
    const evaluator::CandidateCosts smallest =
        evaluator::CostModel(x.space, x.mcu, evaluator::LatencyModel{}, patch_search(x, q.budget))(x.space.smallest(w, r_min));
    if (!memory.admits(smallest))
      throw core::InputError("no subnet of the configured supernet (w " + std::to_string(w) + ") meets " +
                             q.budget.describe() + ": the smallest (r " + std::to_string(r_min) + ") needs SRAM " +
                             core::format_size(smallest.sram_bytes) + ", Flash " + core::format_size(smallest.flash_bytes));
  }
  TrainRequest t;
  t.experiment = x;
  t.out = search_supernet_dir(q.out);
  t.resume = true;  // continues what an earlier call left
  t.width = w;
  t.resolutions = resolutions;
  t.threads = q.threads;
  spdlog::info("training the supernet into {} (w {}, resolutions {})", t.out, w, fmt::join(resolutions, "/"));
  const TrainResult trained = train_experiment(t);
  if (q.predictor != "none") {
    PredictorRequest p;
    p.experiment = x;
    p.supernet = trained.supernet_path;
    p.samples = q.predictor_samples;
    p.threads = q.threads;
    spdlog::info("building its accuracy predictor from {} subnets", p.samples);
    build_predictor(p);
  }
  return trained.supernet_path;
}

namespace {

// What the evolution scores candidates with.
struct Scoring {
  std::optional<evaluator::AccuracyPredictor> predictor;
  std::string predictor_path = "none";
  LatencyChoice latency;
};

Scoring load_scoring(const SearchRequest& q, const supernet::SupernetFile& f) {
  Scoring s;
  const std::string predictor_path = q.predictor.empty() ? predictor_beside(f.path) : q.predictor;
  if (predictor_path != "none") {
    if (!core::exists(predictor_path))
      throw core::InputError("no accuracy predictor at " + predictor_path +
                             ": build it with `tinynas predictor build`, or pass --predictor none to measure every candidate");
    s.predictor = evaluator::AccuracyPredictor::load(predictor_path, f.net->space);
    s.predictor_path = predictor_path;
  }
  s.latency = choose_latency_model(q.experiment.mcu, q.latency_model, q.budget);
  if (!s.latency.found) spdlog::warn("no latency model at {}: latencies are reported as 0", s.latency.path);
  return s;
}

// The scaled baselines of the report (MobileNetV2 and ProxylessNAS as subnets of the space) and the file
// each is written to beside winner.json.
struct ScaledBaseline {
  std::string name, file;
  std::optional<search_space::ArchSpec> arch;
};

std::vector<ScaledBaseline> scaled_baselines(const search_space::SearchSpace& space, double w, const std::vector<int>& resolutions,
                                             const evaluator::Budget& budget, const evaluator::CostModel& costs) {
  const auto cost_fn = [&](const search_space::ArchSpec& a) { return costs(a); };
  std::vector<ScaledBaseline> out;
  for (const auto& [name, file, make] :
       std::vector<std::tuple<std::string, std::string, std::function<search_space::ArchSpec(double, int)>>>{
           {"MobileNetV2 (scaled)", "baseline-mobilenetv2.json",
            [&](double bw, int r) { return mobilenetv2_arch(space, bw, r); }},
           {"ProxylessNAS (scaled)", "baseline-proxylessnas.json",
            [&](double bw, int r) { return proxylessnas_arch(space, bw, r); }}}) {
    const auto b = scale_to_fit(name, make, {w}, resolutions, budget, cost_fn);
    out.push_back({name, file, b ? std::optional<search_space::ArchSpec>(b->arch) : std::nullopt});
  }
  return out;
}

// Whether each limit binds: does the largest subnet at the largest resolution meet it?
std::vector<std::string> binding_notes(const evaluator::CandidateCosts& largest, int r_max, const evaluator::Budget& budget) {
  std::vector<std::string> notes;
  if (largest.sram_bytes <= budget.sram_bytes)
    notes.push_back("the SRAM limit does not bind: the largest subnet (r " + std::to_string(r_max) + ") needs " +
                    core::format_size(largest.sram_bytes));
  if (largest.flash_bytes <= budget.flash_bytes)
    notes.push_back("the Flash limit does not bind: the largest subnet needs " + core::format_size(largest.flash_bytes));
  if (budget.latency_ms > 0 && largest.latency_ms <= budget.latency_ms)
    notes.push_back("the latency limit does not bind: the largest subnet takes " + std::to_string(largest.latency_ms) +
                    " ms");
  if (budget.energy_uj > 0 && largest.energy_uj <= budget.energy_uj)
    notes.push_back("the energy limit does not bind: the largest subnet takes " + core::format_energy_uj(largest.energy_uj));
  return notes;
}

// The winner as firmware (the one export path), and the report's line about it.
std::optional<ExportResult> export_winner(const SearchRequest& q, const std::string& supernet_path, const search_space::ArchSpec& winner,
                                          const engine::PatchSchedule& patch, const Scoring& scoring,
                                          const engine::Graph& winner_graph, std::string& line) {
  if (!q.export_firmware) {
    line = "not exported (--no-firmware); `tinynas export --arch winner.json` does it.";
    return std::nullopt;
  }
  ExportRequest e;
  e.experiment = q.experiment;
  e.supernet = supernet_path;  // read again: the measurements left other subnets' BN statistics in it
  e.arch_spec = winner;
  e.arch = "winner";
  e.target = q.experiment.mcu.name;
  e.out = (fs::path(q.out) / "firmware").string();
  e.threads = q.threads;
  e.run_on_emulator = engine::arm_toolchain_available() && engine::qemu_available();
  e.patch = patch.layer_wise() ? "" : engine::to_string(patch);
  spdlog::info("exporting the winner into {}{}", e.out, patch.layer_wise() ? "" : " (patch schedule " + e.patch + ")");
  ExportResult r = export_network(e);
  const engine::Deployment& d = r.deployment;
  line = "`firmware/` (report in `firmware/report.md`): " +
         std::string(d.run ? "built and run on the emulated core, outputs bit-identical to the host"
                           : d.built ? "built (no QEMU here)" : "written, not built (no arm-none-eabi-gcc)") + ".";
  if (d.run && !scoring.latency.model.kinds.empty()) {
    // The winner's instructions on the emulated core, against the latency model's prediction.
    const double count = double(d.run->instructions);
    const std::optional<engine::PatchStage> stage =
        patch.layer_wise() ? std::nullopt : std::optional(engine::plan_patch_stage(winner_graph, patch));
    const double predicted = scoring.latency.model.predict(winner_graph, stage ? &*stage : nullptr);
    line += " Instructions of one inference on the emulated core: " + std::to_string(d.run->instructions) +
            "; the latency model predicted " + std::to_string(int64_t(predicted)) + " (" + (predicted >= count ? "+" : "") +
            std::to_string(100.0 * (predicted - count) / count).substr(0, 5) + " %).";
  }
  return r;
}

}  // namespace

namespace {

// One network of the report, measured like the others.
ReportedNetwork reported(const std::string& name, const Candidate& c, const Scoring& scoring, evaluator::SubnetAccuracy& measure,
                         const search_space::SearchSpace& space) {
  ReportedNetwork n;
  n.name = name;
  n.candidate = c;
  n.predicted = scoring.predictor ? scoring.predictor->predict(c.arch) : -1;
  n.holdout_top1 = measure(c.arch);
  n.macs = search_space::compute_macs(space.describe(c.arch));  // the counter stage 1 ranks by
  return n;
}

// The evolution's options completed from the request: checkpoint in OUT, written by rank 0.
EvolutionOptions evolution_options(const SearchRequest& q, bool root) {
  EvolutionOptions evo = q.evolution;
  evo.parents = std::min(evo.parents, evo.population);
  evo.free_wr = true;
  evo.checkpoint_path = (fs::path(q.out) / "evolution.json").string();
  evo.resume = q.resume;
  evo.write_checkpoints = root;
  return evo;
}

// Nothing is written when no subnet can meet the budget (exit code 2).
void check_smallest_fits(const search_space::SearchSpace& candidates, const evaluator::CostModel& costs, const evaluator::Budget& budget) {
  const int r_min = *std::min_element(candidates.resolution_choices.begin(), candidates.resolution_choices.end());
  const evaluator::CandidateCosts smallest = costs(candidates.smallest(candidates.width_choices.front(), r_min));
  if (!budget.admits(smallest))
    throw core::InputError("no candidate subnet of the supernet meets " + budget.describe() + ": the smallest (r " +
                           std::to_string(r_min) + ") needs SRAM " + core::format_size(smallest.sram_bytes) + ", Flash " +
                           core::format_size(smallest.flash_bytes) + ", latency " + std::to_string(smallest.latency_ms) +
                           " ms, energy " + core::format_energy_uj(smallest.energy_uj));
}

// The top-k of the final population and the baselines, measured with the supernet (at once, split
// between the ranks); the winner is the best measured candidate.
void remeasure(const SearchRequest& q, const EvolutionResult& result, const std::vector<ScaledBaseline>& baselines,
               const Scoring& scoring, evaluator::SubnetAccuracy& measure, const evaluator::CostModel& costs, SearchReport& report, bool root) {
  const search_space::SearchSpace& space = costs.space();
  std::vector<Candidate> ranked = result.population;
  std::sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
    return a.accuracy != b.accuracy ? a.accuracy > b.accuracy : a.key < b.key;
  });
  std::vector<search_space::ArchSpec> batch;
  for (size_t i = 0; i < ranked.size() && int(batch.size()) < q.top_k; ++i) batch.push_back(ranked[i].arch);
  for (const auto& b : baselines)
    if (b.arch) batch.push_back(*b.arch);
  measure.measure_all(batch, dist::Cluster::world());
  for (size_t i = 0; i < ranked.size() && int(report.top_k.size()) < q.top_k; ++i)
    report.top_k.push_back(reported("candidate " + std::to_string(i + 1), ranked[i], scoring, measure, space));
  const auto best = std::max_element(report.top_k.begin(), report.top_k.end(),
                                     [](const ReportedNetwork& a, const ReportedNetwork& b) { return a.holdout_top1 < b.holdout_top1; });
  ReportedNetwork winner = *best;
  winner.name = "searched (tinynas)";
  report.networks.push_back(winner);
  for (const ScaledBaseline& b : baselines) {
    if (!b.arch) {
      report.notes.push_back(b.name + " does not fit the limits at any resolution of the supernet");
      continue;
    }
    if (root) search_space::save_arch((fs::path(q.out) / b.file).string(), *b.arch);
    Candidate c;
    c.arch = *b.arch;
    c.key = search_space::arch_key(space, *b.arch);
    c.costs = costs(*b.arch);
    report.networks.push_back(reported(b.name, c, scoring, measure, space));
  }
  measure.save();
}

}  // namespace

SearchResult search(SearchRequest q) {
  const Experiment& x = q.experiment;
  supernet::configure_torch(q.threads > 0 ? q.threads : x.train.threads);
  if (q.train) {
    if (!q.supernet.empty()) throw core::InputError("--train trains its own supernet: drop --supernet");
    q.supernet = train_for_search(q);
  }
  auto f = load_experiment_supernet(x, q.supernet);
  const search_space::SearchSpace& space = f.net->space;
  const double w = f.net->largest(f.resolutions.front()).w;
  // The candidates: the supernet's width, the resolutions it was trained at, and the experiment's stage
  // restrictions (receptive-field redistribution) on top of any the supernet was trained with.
  search_space::SearchSpace candidates = search_space::restricted(space, x.space.stage_choices);
  candidates.width_choices = {w};
  candidates.resolution_choices = f.resolutions;
  const Scoring scoring = load_scoring(q, f);
  const evaluator::CostModel costs(space, x.mcu, scoring.latency.model, patch_search(x, q.budget));
  check_smallest_fits(candidates, costs, q.budget);
  // Under MPI every rank runs these same steps; the subnet measurements are split between the ranks
  // and rank 0 alone writes files.
  const dist::Cluster& cluster = dist::Cluster::world();
  SearchResult out;
  out.root = cluster.is_root();
  core::install_stop_handlers();
  if (cluster.size() > 1) spdlog::info("search on {} MPI ranks: measurements split between them", cluster.size());
  core::create_output_dir(q.out);
  // Stage 1 over the supernet's (w, r) spaces: the FLOPs CDF of what fits, for the report.
  SpaceOptimizerOptions s1 = stage1_options(x, candidates, q.budget, q.latency_model);
  s1.stage1.widths = {w};
  s1.stage1.resolutions = f.resolutions;
  out.stage1 = optimize_space(s1);
  if (out.root) write_stage1_outputs((fs::path(q.out) / "stage1").string(), out.stage1, s1, x);

  // A stop signal ends a measurement phase between two subnets (measure_all): what was measured is
  // cached and the evolution's last finished generation is in its checkpoint.
  const auto resumable = [](const core::Interrupted& e) {
    return core::Interrupted(std::string(e.what()) + "; the same command with --resume continues the search");
  };
  evaluator::SubnetAccuracyOptions ao = subnet_accuracy_options(f, x, x.train.options.recalibration_images,
                                                     (fs::path(q.out) / "accuracy_cache.json").string());
  ao.write_cache = out.root;
  evaluator::SubnetAccuracy measure(f.net, space, data::open_split(x.data, "train"), data::open_split(x.data, "holdout"), ao);
  const EvolutionOptions evo = evolution_options(q, out.root);
  EvolutionCallbacks cb;
  cb.costs = [&](const search_space::ArchSpec& a) { return costs(a); };
  if (scoring.predictor) cb.accuracy = [&](const search_space::ArchSpec& a) { return scoring.predictor->predict(a); };
  else cb.accuracy_batch = [&](const std::vector<search_space::ArchSpec>& archs) {
    try {
      return measure.measure_all(archs, cluster);
    } catch (const core::Interrupted& e) {
      throw resumable(e);
    }
  };
  cb.should_stop = [&] { return cluster.any(core::stop_requested()); };
  cb.on_generation = [&](const GenerationStats& s) {
    spdlog::info("generation {}/{}: best {:.2f}, mean {:.2f}, {} children, {} scored ({:.2f} s)", s.generation,
                 evo.generations, s.best_accuracy, s.mean_accuracy, s.children, s.scored, s.seconds);
  };
  spdlog::info("evolution: {} x {} under {} ({}), r in the supernet's resolutions", evo.generations, evo.population,
               q.budget.describe(), scoring.predictor ? "predicted accuracy" : "measured accuracy");
  const EvolutionResult result = evolve(candidates, q.budget, evo, cb);

  SearchReport& report = out.report;
  report.experiment = x.name;
  report.mcu = x.mcu.name;
  if (x.mcu.has_power())
    report.power = fmt::format("{} V x {} mA in run mode at {} MHz ({})", x.mcu.supply_voltage, x.mcu.run_current_ma,
                               x.mcu.clock_hz / 1e6, x.mcu.power_source);
  report.supernet = f.path;
  report.predictor = scoring.predictor ? scoring.predictor_path : "none (every candidate measured)";
  report.latency_model = scoring.latency.found ? scoring.latency.path : "none";
  report.limits = q.budget;
  report.evolution = result;
  try {
    remeasure(q, result, scaled_baselines(space, w, f.resolutions, q.budget, costs), scoring, measure, costs, report,
              out.root);
  } catch (const core::Interrupted& e) {
    throw resumable(e);
  }
  const int r_max = *std::max_element(f.resolutions.begin(), f.resolutions.end());
  for (const std::string& note : binding_notes(costs(f.net->largest(r_max)), r_max, q.budget)) report.notes.push_back(note);
  if (const engine::Frontend frontend = engine::frontend_from_name(space.frontend); frontend != engine::Frontend::None) {
    // Every network's SRAM, Flash and latency above include the front-end the firmware runs first.
    const engine::FrontendSizes& fe = engine::frontend_sizes(frontend);
    std::string note = fmt::format("every network runs the {} front-end first: its {} B of PCM input and {} B of scratch "
                                   "are in the arena, its {} B of tables in Flash",
                                   space.frontend, fe.input_bytes, fe.scratch_bytes, fe.table_bytes);
    if (scoring.latency.found) {
      engine::Graph with_frontend;
      with_frontend.frontend = frontend;
      note += fmt::format(", its {:.0f} {} in the latency", scoring.latency.model.predict_frontend(with_frontend),
                          scoring.latency.model.unit);
    }
    report.notes.push_back(note);
  }
  if (!out.root) return out;  // the rest writes files and exports firmware: rank 0 only
  const search_space::ArchSpec& winner = report.networks.front().candidate.arch;
  report.winner_graph = engine::build_graph(space.describe(winner));
  out.winner_path = (fs::path(q.out) / "winner.json").string();
  search_space::save_arch(out.winner_path, winner);
  out.firmware = export_winner(q, f.path, winner, report.networks.front().candidate.costs.patch, scoring, report.winner_graph,
                               report.firmware);
  write_search_report(q.out, report);
  out.report_path = (fs::path(q.out) / "report.md").string();
  return out;
}

}  // namespace tinynas::nas
