// tinynas calibrate: fits the latency model of an MCU to the engine's own kernels. On an emulated MCU
// it generates micro-benchmark firmware (random subnets of the config's space), runs it in QEMU and
// fits; for a real board it writes the bundles (--generate) and later fits the counts of their
// captured serial output (--measurements).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "commands.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/calibration.h"
#include "tinynas/nas/config.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/core/progress.h"
#include "tinynas/core/errors.h"

namespace tinynas::cli {

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string mcu, config, out, work, generate, measurements, bundles;
  int subnets = 30, validate = 20;
  int64_t seed = 0;
};

void report(const evaluator::LatencyModel& m) {
  for (const auto& [kind, k] : m.kinds)
    spdlog::info("  {:<18} {:>4} layers, rms relative error {:.2f} %", kind, k.samples, 100 * k.rms_relative_error);
  spdlog::info("validation on {} whole subnets: mean absolute error {:.2f} %, worst {:.2f} %", m.validation_subnets,
               m.validation_mape_percent, m.validation_max_error_percent);
}

// The calibration options the flags describe.
evaluator::CalibrationOptions calibration_options(const Options& o, const nas::Experiment& x, const std::string& work_dir) {
  evaluator::CalibrationOptions c;
  c.space = x.space;
  c.mcu = x.mcu;
  c.fit_subnets = o.subnets;
  c.validate_subnets = o.validate;
  c.seed = uint64_t(o.seed);
  c.work_dir = work_dir;
  return c;
}

// --generate: the bundles of a real board and a manifest of what they hold.
int generate(const Options& o, const nas::Experiment& x) {
  evaluator::CalibrationOptions c = calibration_options(o, x, o.generate);
  core::ProgressBar progress("writing bundles", c.fit_subnets + c.validate_subnets, "bundles");
  c.on_progress = [&](int, int) { progress.advance(); };
  const evaluator::BoardBundles b = evaluator::write_board_bundles(c);
  progress.finish();
  std::cout << "wrote " << b.subnets << " benchmark bundles to " << b.dir << "\n"
            << "build each with `make -C " << b.dir << "/subnet-NNN " << b.make_target
            << "`, flash it, capture the serial output of all runs into one file, then run\n"
            << "  tinynas calibrate --mcu " << x.mcu.name << " --bundles " << b.dir << " --measurements LOG\n";
  return 0;
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
    const nas::Experiment x = load_experiment_flag(o->config, o->mcu);
    if (!o->generate.empty()) return generate(*o, x);
    if (!o->measurements.empty() && o->bundles.empty()) throw core::InputError("--measurements needs --bundles");
    const std::string out =
        o->out.empty() ? nas::calibration_output(x.mcu) : o->out;
    evaluator::LatencyModel model;
    if (!o->measurements.empty()) {
      model = evaluator::fit_board_measurements(o->bundles, o->measurements, x.mcu);
    } else {
      if (!engine::arm_toolchain_available() || !engine::qemu_available())
        throw core::RuntimeFailure("calibrating in QEMU needs arm-none-eabi-gcc and qemu-system-arm (scripts/setup.sh)");
      evaluator::CalibrationOptions c =
          calibration_options(*o, x, o->work.empty() ? "runs/calibrate-" + x.mcu.name : o->work);
      spdlog::info("calibrating {} on {} + {} subnets of {} in QEMU {}", x.mcu.name, c.fit_subnets, c.validate_subnets,
                   x.space.name, x.mcu.qemu_machine);
      core::ProgressBar progress("calibrate", c.fit_subnets + c.validate_subnets, "subnets");
      c.on_progress = [&](int, int) { progress.advance(); };
      model = evaluator::calibrate_in_qemu(c);
      progress.finish();
    }
    if (!dist::Cluster::world().is_root()) return 0;  // under MPI, rank 0 reports and writes the model
    report(model);
    fs::create_directories(fs::absolute(out).parent_path());
    evaluator::save_latency_model(out, model);
    std::cout << "latency model of " << model.mcu << " written to " << out << " (validation error "
              << model.validation_mape_percent << " % mean, " << model.validation_max_error_percent << " % worst on "
              << model.validation_subnets << " subnets)\n";
    return 0;
  };
}

}  // namespace tinynas::cli
