// tinynas calibrate: fits the latency model of an MCU to the engine's own kernels. On an emulated MCU
// it generates micro-benchmark firmware (random subnets of the config's space), runs it in QEMU and
// fits; for a real board it writes the bundles (--generate) and later fits the counts of their
// captured serial output (--measurements).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/calibration.h"
#include "tinynas/nas/config.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/core/progress.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace tinynas::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Options {
  std::string mcu, config, out, work, generate, measurements, bundles;
  int subnets = 30, validate = 20;
  int64_t seed = 0;
};

const char* kManifest = "calibration.json";

void report(const LatencyModel& m) {
  for (const auto& [kind, k] : m.kinds)
    spdlog::info("  {:<18} {:>4} layers, rms relative error {:.2f} %", kind, k.samples, 100 * k.rms_relative_error);
  spdlog::info("validation on {} whole subnets: mean absolute error {:.2f} %, worst {:.2f} %", m.validation_subnets,
               m.validation_mape_percent, m.validation_max_error_percent);
}

// --generate: the bundles of a real board and a manifest of what they hold.
int generate(const Options& o, const Experiment& x) {
  const engine::Board& board = engine::board_for_mcu(x.mcu);
  const auto archs = calibration_archs(x.space, x.mcu, o.subnets + o.validate, uint64_t(o.seed));
  fs::create_directories(o.generate);
  json manifest{{"mcu", x.mcu.name}, {"board", board.name}, {"space", space_to_yaml(x.space)},
                {"fit", o.subnets},  {"seed", o.seed},      {"subnets", json::array()}};
  core::ProgressBar progress("writing bundles", int64_t(archs.size()), "bundles");
  for (size_t i = 0; i < archs.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "subnet-%03zu", i);
    write_calibration_bundle(x.space, archs[i], (fs::path(o.generate) / name).string());
    manifest["subnets"].push_back({{"name", name}, {"arch", json::parse(to_json(archs[i]))}});
    progress.advance();
  }
  progress.finish();
  core::write_file_atomic((fs::path(o.generate) / kManifest).string(), manifest.dump(1) + "\n");
  std::cout << "wrote " << archs.size() << " benchmark bundles to " << o.generate << "\n"
            << "build each with `make -C " << o.generate << "/subnet-NNN " << board.make_target
            << "`, flash it, capture the serial output of all runs into one file, then run\n"
            << "  tinynas calibrate --mcu " << x.mcu.name << " --bundles " << o.generate << " --measurements LOG\n";
  return 0;
}

// --measurements: fit the captured runs of the bundles in --bundles.
LatencyModel from_measurements(const Options& o, const Experiment& x) {
  const std::string manifest_path = (fs::path(o.bundles) / kManifest).string();
  json manifest;
  try {
    manifest = json::parse(core::read_text_file(manifest_path));
  } catch (const json::exception& e) {
    throw core::InputError(manifest_path + ": not a calibration manifest (" + e.what() + ")");
  }
  const std::string space_file = (fs::path(o.bundles) / "space.yaml").string();
  core::write_file_atomic(space_file, manifest.at("space").get<std::string>());
  const SearchSpace space = load_space(space_file);
  std::map<std::string, ArchSpec> archs;
  for (const auto& s : manifest.at("subnets")) archs[s.at("name")] = arch_from_json(s.at("arch").dump());
  const int fit_count = manifest.at("fit").get<int>();
  std::vector<SubnetMeasurement> fit, validate;
  for (auto& [name, run] : split_serial_log(core::read_text_file(o.measurements))) {
    const auto it = archs.find(name);
    if (it == archs.end()) throw core::InputError(o.measurements + ": a run of " + name + ", which " + manifest_path + " does not list");
    SubnetMeasurement m;
    m.arch = it->second;
    m.graph = engine::build_graph(space.describe(m.arch));
    m.graph.name = name;
    m.run = run;
    if (m.run.inferences.empty()) throw core::InputError(o.measurements + ": the run of " + name + " has no inference");
    m.measured = double(m.run.inferences.back().instructions);
    (std::stoi(name.substr(7)) < fit_count ? fit : validate).push_back(std::move(m));
  }
  if (fit.empty()) throw core::InputError(o.measurements + ": none of the runs is of a subnet to fit (subnet-000 ...)");
  LatencyModel model = fit_and_validate(fit, validate);
  model.mcu = x.mcu.name;
  model.unit = "cycles";
  model.clock_hz = x.mcu.clock_hz;
  model.source = "serial output of " + std::to_string(fit.size() + validate.size()) + " runs on " +
                 manifest.at("board").get<std::string>() + " (" + o.measurements + ")";
  return model;
}

}  // namespace

Runner add_calibrate(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Fit the latency model of an MCU to the engine's own kernels: random subnets of the config's space run as "
      "micro-benchmark firmware (in QEMU for emulated MCUs; on the board for real ones), a linear model per kernel "
      "kind fit to their per-layer counts, validated on subnets kept out of the fit.");
  cmd->add_option("--mcu", o->mcu, "MCU profile: a name in configs/mcu/ or a YAML path (default: the config's)");
  cmd->add_option("--config", o->config, "experiment YAML whose space the subnets come from (default: fashion-mnist)");
  cmd->add_option("--subnets", o->subnets, "subnets to fit")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--validate", o->validate, "subnets to validate on")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--out", o->out, "model file (default: runs/calibrate/MCU.yaml; `search --latency-model` reads it)");
  cmd->add_option("--work", o->work, "folder for the QEMU benchmark bundles (default: runs/calibrate-MCU)");
  cmd->add_option("--generate", o->generate, "real board: write the benchmark bundles and a manifest into this folder");
  cmd->add_option("--bundles", o->bundles, "real board: the folder --generate wrote");
  cmd->add_option("--measurements", o->measurements,
                  "real board: the captured serial output of the bundles' runs (one file, runs one after another)");
  return [o]() {
    Experiment x = load_experiment(o->config.empty() ? default_experiment_path() : o->config);
    if (!o->mcu.empty()) x.mcu = load_mcu(o->mcu);
    if (!o->generate.empty()) return generate(*o, x);
    if (!o->measurements.empty() && o->bundles.empty()) throw core::InputError("--measurements needs --bundles");
    const std::string out =
        o->out.empty() ? calibration_output(x.mcu) : o->out;
    LatencyModel model;
    if (!o->measurements.empty()) {
      model = from_measurements(*o, x);
    } else {
      if (!engine::arm_toolchain_available() || !engine::qemu_available())
        throw core::RuntimeFailure("calibrating in QEMU needs arm-none-eabi-gcc and qemu-system-arm (scripts/setup.sh)");
      CalibrationOptions c;
      c.space = x.space;
      c.mcu = x.mcu;
      c.fit_subnets = o->subnets;
      c.validate_subnets = o->validate;
      c.seed = uint64_t(o->seed);
      c.work_dir = o->work.empty() ? "runs/calibrate-" + x.mcu.name : o->work;
      spdlog::info("calibrating {} on {} + {} subnets of {} in QEMU {}", x.mcu.name, c.fit_subnets, c.validate_subnets,
                   x.space.name, x.mcu.qemu_machine);
      core::ProgressBar progress("calibrate", c.fit_subnets + c.validate_subnets, "subnets");
      c.on_progress = [&](int, int) { progress.advance(); };
      model = calibrate_in_qemu(c);
      progress.finish();
    }
    if (!dist::Cluster::world().is_root()) return 0;  // under MPI, rank 0 reports and writes the model
    report(model);
    fs::create_directories(fs::absolute(out).parent_path());
    save_latency_model(out, model);
    std::cout << "latency model of " << model.mcu << " written to " << out << " (validation error "
              << model.validation_mape_percent << " % mean, " << model.validation_max_error_percent << " % worst on "
              << model.validation_subnets << " subnets)\n";
    return 0;
  };
}

}  // namespace tinynas::cli
