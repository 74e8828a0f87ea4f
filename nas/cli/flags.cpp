// The flags several commands share, read one way.
#include "commands.h"
#include "tinynas/core/units.h"

namespace tinynas::cli {

nas::Experiment load_experiment_flag(const std::string& config, const std::string& mcu) {
  nas::Experiment x = nas::load_experiment(config.empty() ? nas::default_experiment_path() : config);
  if (!mcu.empty()) x.mcu = nas::load_mcu(mcu);
  return x;
}

void add_limit_flags(CLI::App* cmd, LimitFlags& flags, bool time_limits) {
  cmd->add_option("--sram", flags.sram, std::string("SRAM limit (arena + stack); ") + kSizeHelp +
                                            " (default: the config's constraints.sram, else the MCU's)");
  cmd->add_option("--flash", flags.flash, std::string("Flash limit; ") + kSizeHelp +
                                              " (default: the config's constraints.flash, else the MCU's)");
  if (!time_limits) return;
  cmd->add_option("--latency", flags.latency,
                  "latency limit on the MCU, e.g. 200ms or 0.5s (default: the config's constraints.latency, else none)");
  cmd->add_option("--energy", flags.energy,
                  "energy limit per inference on the MCU, in J, mJ or uJ, e.g. 2mJ (default: the config's "
                  "constraints.energy, else none; needs the MCU profile's power figures)");
}

evaluator::Budget budget_flags(const LimitFlags& flags, const nas::Experiment& x) {
  evaluator::Budget b = x.constraints;
  if (flags.sram) b.sram_bytes = core::parse_size(*flags.sram, "--sram");
  else if (b.sram_bytes <= 0) b.sram_bytes = x.mcu.sram_bytes;
  if (flags.flash) b.flash_bytes = core::parse_size(*flags.flash, "--flash");
  else if (b.flash_bytes <= 0) b.flash_bytes = x.mcu.flash_bytes;
  if (flags.latency) b.latency_ms = core::parse_duration_ms(*flags.latency, "--latency");
  if (flags.energy) b.energy_uj = core::parse_energy_uj(*flags.energy, "--energy");
  return b;
}

}  // namespace tinynas::cli
