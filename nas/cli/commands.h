#pragma once
// The `tinynas` subcommands: each file adds one to the app and runs it when it was parsed.
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "tinynas/evaluator/budget.h"
#include "tinynas/nas/config.h"

namespace tinynas::cli {

using Runner = std::function<int()>;

// Each returns the function that runs the subcommand after parsing.
Runner add_optimize_space(CLI::App& app);
Runner add_profile(CLI::App& app);
Runner add_train(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_extract(CLI::App& app);
Runner add_export(CLI::App& app);
Runner add_run(CLI::App& app);
Runner add_calibrate(CLI::App& app);
Runner add_predictor(CLI::App& app);
Runner add_search(CLI::App& app);

// Options given before the subcommand.
struct GlobalOptions {
  int threads = 0;  // 0 = the command's default
};
GlobalOptions& global_options();

// The experiment --config names (the embedded default when empty), with --mcu's profile when given.
nas::Experiment load_experiment_flag(const std::string& config, const std::string& mcu = "");
// The limits of a search or of stage 1, as typed.
struct LimitFlags {
  std::optional<std::string> sram, flash, latency, energy;
};
// Adds --sram and --flash, and with `time_limits` --latency and --energy.
void add_limit_flags(CLI::App* cmd, LimitFlags& flags, bool time_limits);
// The budget: each flag given, else the config's `constraints:`, else the MCU's SRAM and Flash and no
// latency or energy limit. A malformed value (an empty one included) is an InputError naming the flag.
evaluator::Budget budget_flags(const LimitFlags& flags, const nas::Experiment& x);

// Size options ("320K", "1M", ...) are parsed by the command with core::parse_size, for one error style.
constexpr const char* kSizeHelp = "bytes, or a number with K, M or G (K = 1024): 320K, 320KB, 320KiB, 1M, 1.5MB";

}  // namespace tinynas::cli
