// tinynas: neural architecture search and deployment for microcontrollers.
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "commands.h"
#include "tinynas/core/logging.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/stop_signal.h"  // Interrupted, its exit code
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::cli {
GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}
}  // namespace tinynas::cli

int main(int argc, char** argv) {
  CLI::App app{
      "tinynas: finds and deploys neural networks for microcontrollers (MCUNet-style TinyNAS + TinyEngine).\n"
      "Exit codes: 0 success, 1 failure, 2 bad input or impossible request, 3 stopped by SIGTERM/SIGUSR1 after\n"
      "writing a checkpoint (run the same command with --resume)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tinynas 0.1.0");
  std::string log_level = "info", log_file;
  int& threads = tinynas::cli::global_options().threads;
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")->capture_default_str();
  app.add_option("--log-file", log_file, "also write the log to this file");
  app.add_option("--threads", threads, "worker threads (0 = all cores)")->check(CLI::NonNegativeNumber);

  struct Command {
    CLI::App* app;
    tinynas::cli::Runner run;
  };
  std::vector<Command> commands;
  auto add = [&](tinynas::cli::Runner (*adder)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    tinynas::cli::Runner run = adder(app);
    commands.push_back({app.get_subcommands({})[before], run});
  };
  add(tinynas::cli::add_optimize_space);
  add(tinynas::cli::add_profile);
  add(tinynas::cli::add_train);
  add(tinynas::cli::add_eval);
  add(tinynas::cli::add_extract);
  add(tinynas::cli::add_export);
  add(tinynas::cli::add_run);
  add(tinynas::cli::add_calibrate);
  add(tinynas::cli::add_predictor);
  add(tinynas::cli::add_search);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  // Commands that run LibTorch's parallel kernels restart once with the passive OpenMP wait policy
  // (runtime.h); the quick ones do not pay LibTorch's start-up twice.
  for (const char* heavy : {"train", "search", "predictor", "eval", "extract"})
    if (app.got_subcommand(heavy)) tinynas::supernet::restart_with_passive_openmp_wait(argv);
  // One rank that fails ends the whole MPI job: the others would wait for it in their next collective.
  const auto fail = [](int code) {
    const auto& cluster = tinynas::dist::Cluster::world();
    if (cluster.size() > 1) cluster.abort(code);
    return code;
  };
  try {
    const auto& cluster = tinynas::dist::Cluster::world();
    tinynas::core::setup_logging(log_level, log_file, cluster.rank(), cluster.size());
    const auto env = [](const char* name) { return std::getenv(name) ? std::getenv(name) : "(unset)"; };
    spdlog::debug("OpenMP waiting: OMP_WAIT_POLICY={} GOMP_SPINCOUNT={}", env("OMP_WAIT_POLICY"), env("GOMP_SPINCOUNT"));
    std::unique_ptr<tbb::global_control> limit;
    if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, size_t(threads));
    for (const Command& c : commands)
      if (c.app->parsed()) return c.run();
    return 2;
  } catch (const tinynas::core::Interrupted& e) {
    // Every rank stops at the same step, so no abort: they all exit with this code.
    spdlog::warn("stopped: {}", e.what());
    return tinynas::core::kInterruptedExitCode;
  } catch (const tinynas::core::InputError& e) {
    spdlog::error("{}", e.what());
    return fail(2);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return fail(1);
  }
}
