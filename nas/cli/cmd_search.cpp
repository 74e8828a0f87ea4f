// tinynas search: stage 1 over the supernet's spaces, the evolutionary search with the accuracy
// predictor and the engine's cost model, the top candidates and the scaled baselines re-measured with
// the supernet, the winner exported as firmware, and a report.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "commands.h"
#include "supernet_common.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/accuracy_predictor.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/evaluator/subnet_accuracy.h"
#include "tinynas/nas/baselines.h"
#include "tinynas/nas/evolution.h"
#include "tinynas/core/process.h"
#include "tinynas/nas/search_report.h"
#include "tinynas/nas/space_optimizer.h"
#include "tinynas/nas/stage1_report.h"
#include "tinynas/core/units.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::cli {

namespace fs = std::filesystem;

namespace {

// Runs a tinynas child (train, predictor, export) without the MPI launcher's variables, output to log_path.
int run_program(const std::vector<std::string>& argv, const std::string& cwd, const std::string& log_path) {
  if (argv.empty()) return -1;
  // The child is not a rank of this process's MPI job: without the launcher's variables it runs as a
  // plain process (a tinynas child would otherwise try to join the job).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string v = *e;
    if (v.rfind("OMPI_", 0) == 0 || v.rfind("PMIX_", 0) == 0 || v.rfind("PMI_", 0) == 0) continue;
    env_strings.push_back(v);
  }
  std::vector<char*> envp;
  for (auto& v : env_strings) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    if (!log_path.empty()) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
    }
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


struct Options {
  std::string sram, flash, latency, mcu, config, supernet, predictor, latency_model, out = "runs/search", objective = "accuracy";
  int64_t seed = 0;
  int population = 0, parents = 0, mutations = -1, crossovers = -1, generations = -1, top_k = 5;
  double mutate_prob = -1;
  bool resume = false, no_firmware = false, train = false;
  int predictor_samples = 300;
};

std::string self_path() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "tinynas" : p.string();
}

// Stage 1 over the config's grid of `space` under the search's limits (the stack bound comes off the
// SRAM limit, as the cost model adds it to the arena).
SpaceOptimizerOptions stage1_options(const Experiment& x, const SearchSpace& space, const SearchConstraints& limits) {
  SpaceOptimizerOptions s1;
  s1.space = space;
  s1.stage1 = x.stage1;
  s1.sram_bytes = limits.sram_bytes - kStackBoundBytes;
  s1.flash_bytes = limits.flash_bytes;
  s1.runtime_code_bytes = x.mcu.runtime_code_bytes;
  return s1;
}

// `search --train`: the supernet's space (the config's, or stage 1's best under the limits), then
// `tinynas train` and `tinynas predictor build` into OUT/supernet/ (the one training and predictor
// path; both resume what is there). Returns the supernet file.
std::string train_for_search(const Options& o, const Experiment& x, const SearchConstraints& limits) {
  if (dist::Cluster::world().size() > 1)
    throw core::InputError("--train runs in one process: under MPI, train with `mpirun tinynas train` "
                     "(scripts/slurm/train.sbatch), then search with --supernet");
  double w = x.supernet.width;
  std::vector<int> resolutions = x.supernet.resolutions;
  if (!x.supernet.width_given) {
    const SpaceOptimizerResult stage1 = optimize_space(stage1_options(x, x.space, limits));
    if (!stage1.any_fits())
      throw core::InputError("no space of the stage-1 grid has a subnet that meets " + limits.describe());
    w = stage1.best().w;
    // The best resolution and its neighbours in the space: the search then trades resolution for depth.
    const std::vector<int>& all = x.space.resolution_choices;
    const auto at = std::find(all.begin(), all.end(), stage1.best().r);
    resolutions.clear();
    for (auto it = at == all.begin() ? at : at - 1; it != all.end() && it <= at + 1; ++it) resolutions.push_back(*it);
    spdlog::info("stage 1 chose w {} r {} of {} spaces: training resolutions {}", w, stage1.best().r,
                 stage1.spaces.size(), fmt::join(resolutions, "/"));
  } else {
    // Nothing is trained for a budget the configured space cannot meet (the same check as below, without
    // the latency, which needs the supernet's file for nothing but is checked again after training).
    const int r_min = *std::min_element(resolutions.begin(), resolutions.end());
    const engine::Graph g = engine::build_graph(x.space.describe(x.space.smallest(w, r_min)));
    const int64_t sram = engine::plan_arena_bytes(g) + kStackBoundBytes;
    const int64_t flash = engine::estimate_flash(g, x.mcu.runtime_code_bytes).total();
    if (sram > limits.sram_bytes || flash > limits.flash_bytes)
      throw core::InputError("no subnet of the configured supernet (w " + std::to_string(w) + ") meets " + limits.describe() +
                       ": the smallest (r " + std::to_string(r_min) + ") needs SRAM " + core::format_size(sram) +
                       ", Flash " + core::format_size(flash));
  }
  const fs::path dir = fs::path(o.out) / "supernet";
  fs::create_directories(dir);
  std::string rs;
  for (int r : resolutions) rs += (rs.empty() ? "" : ",") + std::to_string(r);
  const auto run = [&](const std::vector<std::string>& argv, const std::string& what, const fs::path& log) {
    spdlog::info("{}: {} (log: {})", what, fmt::join(argv, " "), log.string());
    const int rc = run_program(argv, "", log.string());
    if (rc != 0) throw core::RuntimeFailure(what + " failed (exit " + std::to_string(rc) + "), see " + log.string());
  };
  run({self_path(), "train", "--config", x.path, "--out", dir.string(), "--resume", "--width", std::to_string(w),
       "--resolutions", rs},
      "training the supernet", dir / "train.out");
  const std::string supernet = (dir / "supernet.pt").string();
  if (o.predictor != "none")
    run({self_path(), "predictor", "build", "--config", x.path, "--supernet", supernet, "--samples",
         std::to_string(o.predictor_samples)},
        "building its accuracy predictor", dir / "predictor.out");
  return supernet;
}

}  // namespace

Runner add_search(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Find the most accurate subnet of the trained supernet that meets --sram, --flash (and --latency) on the MCU: "
      "stage 1, evolution with the accuracy predictor and the engine's cost model, the best candidates and the "
      "scaled MobileNetV2 / ProxylessNAS baselines re-measured, the winner exported as firmware, a report.");
  cmd->add_option("--sram", o->sram, std::string("SRAM limit (arena + stack); ") + kSizeHelp + " (default: the MCU's)");
  cmd->add_option("--flash", o->flash, std::string("Flash limit; ") + kSizeHelp + " (default: the MCU's)");
  cmd->add_option("--latency", o->latency, "latency limit on the MCU, e.g. 200ms or 0.5s (default: none)");
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
                "train a supernet first (OUT/supernet/, with `tinynas train`; resumes if it is there) and build its "
                "accuracy predictor, then search it; the config's supernet.width fixes its space, else stage 1 "
                "chooses (w, r) under the limits");
  cmd->add_option("--predictor-samples", o->predictor_samples, "with --train: subnets measured for the predictor")
      ->capture_default_str()
      ->check(CLI::Range(10, 1000000));
  cmd->add_flag("--no-firmware", o->no_firmware, "do not export the winner as a firmware bundle");
  return [o]() {
    Experiment x = load_experiment(o->config.empty() ? default_experiment_path() : o->config);
    if (!o->mcu.empty()) x.mcu = load_mcu(o->mcu);
    SearchConstraints limits;
    limits.sram_bytes = o->sram.empty() ? x.mcu.sram_bytes : core::parse_size(o->sram, "--sram");
    limits.flash_bytes = o->flash.empty() ? x.mcu.flash_bytes : core::parse_size(o->flash, "--flash");
    if (!o->latency.empty()) limits.latency_ms = core::parse_duration_ms(o->latency, "--latency");
    EvolutionOptions evo;
    evo.objective = parse_search_objective(o->objective);
    evo.seed = uint64_t(o->seed);
    if (o->population > 0) evo.population = o->population;
    if (o->parents > 0) evo.parents = o->parents;
    if (o->mutations >= 0) evo.mutations = o->mutations;
    if (o->crossovers >= 0) evo.crossovers = o->crossovers;
    if (o->mutate_prob >= 0) evo.mutate_prob = o->mutate_prob;
    if (o->generations >= 0) evo.generations = o->generations;
    evo.parents = std::min(evo.parents, evo.population);
    supernet::configure_torch(global_options().threads > 0 ? global_options().threads : x.train.threads);

    if (o->train) {
      if (!o->supernet.empty()) throw core::InputError("--train trains its own supernet: drop --supernet");
      o->supernet = train_for_search(*o, x, limits);
    }
    // The supernet, its predictor and the MCU's latency model.
    auto f = load_experiment_supernet(x, o->supernet);
    const SearchSpace& space = f.net->space;
    const double w = f.net->largest(f.resolutions.front()).w;
    SearchSpace trained = space;  // the candidates: the supernet's width, the resolutions it was trained at
    trained.width_choices = {w};
    trained.resolution_choices = f.resolutions;
    const std::string predictor_path =
        o->predictor.empty() ? (fs::path(f.path).parent_path() / "predictor.pt").string() : o->predictor;
    std::optional<AccuracyPredictor> predictor;
    if (predictor_path != "none") {
      if (!fs::exists(predictor_path))
        throw core::InputError("no accuracy predictor at " + predictor_path +
                         ": build it with `tinynas predictor build`, or pass --predictor none to measure every candidate");
      predictor = AccuracyPredictor::load(predictor_path, space);
    }
    const std::string latency_path =
        o->latency_model.empty() ? (fs::path(config_dir()) / "calibration" / (x.mcu.latency_model + ".yaml")).string()
                                 : o->latency_model;
    if (!o->latency_model.empty() && !fs::exists(latency_path))
      throw core::InputError("--latency-model " + latency_path + ": no such file");
    LatencyModel latency;
    if (fs::exists(latency_path)) latency = load_latency_model(latency_path);
    else if (limits.latency_ms > 0)
      throw core::InputError("--latency needs a latency model of " + x.mcu.name + " (" + latency_path +
                       "): run `tinynas calibrate --mcu " + x.mcu.latency_model + "`");
    else spdlog::warn("no latency model at {}: latencies are reported as 0", latency_path);
    const CostModel costs(space, x.mcu, latency);
    {
      // Nothing is written when no subnet can meet the limits (exit code 2).
      const int r_min = *std::min_element(f.resolutions.begin(), f.resolutions.end());
      const CandidateCosts smallest = costs(f.net->smallest(r_min));
      if (!limits.admits(smallest))
        throw core::InputError("no subnet of the supernet meets " + limits.describe() + ": the smallest (r " +
                         std::to_string(r_min) + ") needs SRAM " + core::format_size(smallest.sram_bytes) + ", Flash " +
                         core::format_size(smallest.flash_bytes) + ", latency " + std::to_string(smallest.latency_ms) + " ms");
    }
    // Under MPI every rank runs these same steps; the subnet measurements are split between the ranks
    // and rank 0 alone writes files.
    const dist::Cluster& cluster = dist::Cluster::world();
    const bool root = cluster.is_root();
    core::install_stop_handlers();
    if (cluster.size() > 1) spdlog::info("search on {} MPI ranks: measurements split between them", cluster.size());
    fs::create_directories(o->out);
    // Stage 1 over the supernet's (w, r) spaces: the FLOPs CDF of what fits, for the report.
    SpaceOptimizerOptions s1 = stage1_options(x, space, limits);
    s1.stage1.widths = {w};
    s1.stage1.resolutions = f.resolutions;
    const SpaceOptimizerResult stage1 = optimize_space(s1);
    if (root) write_stage1_outputs((fs::path(o->out) / "stage1").string(), stage1, s1, x);

    // Evolution.
    SubnetAccuracyOptions ao = subnet_accuracy_options(f, x, x.train.options.recalibration_images,
                                                       (fs::path(o->out) / "accuracy_cache.json").string());
    ao.write_cache = root;
    SubnetAccuracy measure(f.net, space, data::open_split(x.data, "train"), data::open_split(x.data, "holdout"), ao);
    evo.free_wr = true;
    evo.checkpoint_path = (fs::path(o->out) / "evolution.json").string();
    evo.resume = o->resume;
    evo.write_checkpoints = root;
    EvolutionCallbacks cb;
    cb.costs = [&](const ArchSpec& a) { return costs(a); };
    if (predictor) cb.accuracy = [&](const ArchSpec& a) { return predictor->predict(a); };
    else cb.accuracy_batch = [&](const std::vector<ArchSpec>& archs) { return measure.measure_all(archs, cluster); };
    cb.should_stop = [&] { return cluster.any(core::stop_requested()); };
    cb.on_generation = [&](const GenerationStats& s) {
      spdlog::info("generation {}/{}: best {:.2f}, mean {:.2f}, {} children, {} scored ({:.2f} s)", s.generation,
                   evo.generations, s.best_accuracy, s.mean_accuracy, s.children, s.scored, s.seconds);
    };
    spdlog::info("evolution: {} x {} under {} ({}), r in the supernet's resolutions", evo.generations, evo.population,
                 limits.describe(), predictor ? "predicted accuracy" : "measured accuracy");
    const EvolutionResult result = evolve(trained, limits, evo, cb);

    // The best distinct candidates and the baselines, measured with the supernet.
    SearchReport report;
    report.experiment = x.name;
    report.mcu = x.mcu.name;
    report.supernet = f.path;
    report.predictor = predictor ? predictor_path : "none (every candidate measured)";
    report.latency_model = fs::exists(latency_path) ? latency_path : "none";
    report.limits = limits;
    report.evolution = result;
    auto reported = [&](const std::string& name, const Candidate& c) {
      ReportedNetwork n;
      n.name = name;
      n.candidate = c;
      n.predicted = predictor ? predictor->predict(c.arch) : -1;
      n.holdout_top1 = measure(c.arch);
      const engine::Graph g = engine::build_graph(space.describe(c.arch));
      for (const auto& op : g.ops) n.macs += engine::op_macs(g, op);
      return n;
    };
    std::vector<Candidate> ranked = result.population;
    std::sort(ranked.begin(), ranked.end(),
              [](const Candidate& a, const Candidate& b) { return a.accuracy != b.accuracy ? a.accuracy > b.accuracy : a.key < b.key; });
    // The baselines: MobileNetV2 and ProxylessNAS as subnets of the space, scaled until they fit.
    const auto cost_fn = [&](const ArchSpec& a) { return costs(a); };
    struct Baseline {
      std::string name, file;  // file: its arch, written beside winner.json for fine-tuning comparisons
      std::optional<ArchSpec> arch;
    };
    std::vector<Baseline> baselines;
    for (const auto& [name, file, make] :
         std::vector<std::tuple<std::string, std::string, std::function<ArchSpec(double, int)>>>{
             {"MobileNetV2 (scaled)", "baseline-mobilenetv2.json",
              [&](double bw, int r) { return mobilenetv2_arch(space, bw, r); }},
             {"ProxylessNAS (scaled)", "baseline-proxylessnas.json",
              [&](double bw, int r) { return proxylessnas_arch(space, bw, r); }}}) {
      const auto b = scale_to_fit(name, make, {w}, f.resolutions, limits, cost_fn);
      baselines.push_back({name, file, b ? std::optional<ArchSpec>(b->arch) : std::nullopt});
    }
    {
      // The top-k and the baselines measured at once (split between the ranks); `reported` finds them cached.
      std::vector<ArchSpec> batch;
      for (size_t i = 0; i < ranked.size() && int(batch.size()) < o->top_k; ++i) batch.push_back(ranked[i].arch);
      for (const auto& b : baselines)
        if (b.arch) batch.push_back(*b.arch);
      measure.measure_all(batch, cluster);
    }
    for (size_t i = 0; i < ranked.size() && int(report.top_k.size()) < o->top_k; ++i)
      report.top_k.push_back(reported("candidate " + std::to_string(i + 1), ranked[i]));
    const auto best = std::max_element(report.top_k.begin(), report.top_k.end(),
                                       [](const ReportedNetwork& a, const ReportedNetwork& b) {
                                         return a.holdout_top1 < b.holdout_top1;
                                       });
    ReportedNetwork winner = *best;
    winner.name = "searched (tinynas)";
    report.networks.push_back(winner);
    for (const Baseline& b : baselines) {
      if (!b.arch) {
        report.notes.push_back(b.name + " does not fit the limits at any resolution of the supernet");
        continue;
      }
      if (root) save_arch((fs::path(o->out) / b.file).string(), *b.arch);
      Candidate c;
      c.arch = *b.arch;
      c.key = arch_key(space, *b.arch);
      c.costs = costs(*b.arch);
      report.networks.push_back(reported(b.name, c));
    }
    measure.save();
    // Whether each limit binds: does the largest subnet at the largest resolution meet it?
    const int r_max = *std::max_element(f.resolutions.begin(), f.resolutions.end());
    const CandidateCosts largest = costs(f.net->largest(r_max));
    if (largest.sram_bytes <= limits.sram_bytes)
      report.notes.push_back("the SRAM limit does not bind: the largest subnet (r " + std::to_string(r_max) +
                             ") needs " + core::format_size(largest.sram_bytes));
    if (largest.flash_bytes <= limits.flash_bytes)
      report.notes.push_back("the Flash limit does not bind: the largest subnet needs " +
                             core::format_size(largest.flash_bytes));
    if (limits.latency_ms > 0 && largest.latency_ms <= limits.latency_ms)
      report.notes.push_back("the latency limit does not bind: the largest subnet takes " +
                             std::to_string(largest.latency_ms) + " ms");
    // The rest writes files and exports firmware: rank 0 only.
    if (!root) return 0;
    report.winner_graph = engine::build_graph(space.describe(winner.candidate.arch));
    const std::string winner_path = (fs::path(o->out) / "winner.json").string();
    save_arch(winner_path, winner.candidate.arch);

    // The winner as firmware, through `tinynas export` (the one export path).
    if (o->no_firmware) {
      report.firmware = "not exported (--no-firmware); `tinynas export --arch winner.json` does it.";
    } else {
      const std::string bundle = (fs::path(o->out) / "firmware").string();
      std::vector<std::string> argv = {self_path(), "--log-level", "warn", "export", "--config", x.path,
                                       "--supernet", f.path, "--arch", winner_path, "--mcu", x.mcu.name,
                                       "--out", bundle};
      const bool qemu = engine::arm_toolchain_available() && engine::qemu_available();
      if (qemu) argv.push_back("--run-qemu");
      const std::string log = (fs::path(o->out) / "export.log").string();
      spdlog::info("exporting the winner: {}", fmt::join(argv, " "));
      const int rc = run_program(argv, "", log);
      if (rc != 0) throw core::RuntimeFailure("exporting the winner failed (exit " + std::to_string(rc) + "), see " + log);
      // The winner's instructions on the emulated core, against the latency model's prediction.
      std::string measured;
      {
        const std::string text = core::read_text_file(log);
        const auto at = text.find("total: ");
        if (at != std::string::npos && !latency.kinds.empty()) {
          const double count = std::stod(text.substr(at + 7));
          const double predicted = latency.predict(report.winner_graph);
          measured = " Instructions of one inference on the emulated core: " + std::to_string(int64_t(count)) +
                     "; the latency model predicted " + std::to_string(int64_t(predicted)) + " (" +
                     (predicted >= count ? "+" : "") + std::to_string(100.0 * (predicted - count) / count).substr(0, 5) +
                     " %).";
        }
      }
      report.firmware = "`firmware/` (report in `firmware/report.md`, the export's output in `export.log`): " +
                        std::string(qemu ? "built and run on the emulated core, outputs bit-identical to the host"
                                         : engine::arm_toolchain_available() ? "built (no QEMU here)"
                                                                             : "written, not built (no arm-none-eabi-gcc)") +
                        "." + measured;
    }
    write_search_report(o->out, report);
    std::cout << "searched: " << to_json(winner.candidate.arch) << "\n  holdout top-1 "
              << winner.holdout_top1 << " %, SRAM " << core::format_size(winner.candidate.costs.sram_bytes) << ", Flash "
              << core::format_size(winner.candidate.costs.flash_bytes) << ", latency " << winner.candidate.costs.latency_ms
              << " ms\n";
    for (size_t i = 1; i < report.networks.size(); ++i)
      std::cout << report.networks[i].name << ": holdout top-1 " << report.networks[i].holdout_top1 << " %, SRAM "
                << core::format_size(report.networks[i].candidate.costs.sram_bytes) << "\n";
    std::cout << "report: " << (fs::path(o->out) / "report.md").string() << "\n";
    return 0;
  };
}

}  // namespace tinynas::cli
