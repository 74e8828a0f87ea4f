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
// The SRAM and Flash limits --sram and --flash give; the MCU's own where a flag is not given (given
// empty, it is an error like any other malformed size).
evaluator::Budget memory_budget_flags(const std::optional<std::string>& sram, const std::optional<std::string>& flash,
                                      const engine::McuProfile& mcu);

// Size options ("320K", "1M", ...) are parsed by the command with core::parse_size, for one error style.
constexpr const char* kSizeHelp = "bytes, or a number with K, M or G (K = 1024): 320K, 320KB, 320KiB, 1M, 1.5MB";

}  // namespace tinynas::cli
