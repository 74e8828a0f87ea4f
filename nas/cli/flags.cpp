// The flags several commands share, read one way.
#include "commands.h"
#include "tinynas/core/units.h"

namespace tinynas::cli {

nas::Experiment load_experiment_flag(const std::string& config, const std::string& mcu) {
  nas::Experiment x = nas::load_experiment(config.empty() ? nas::default_experiment_path() : config);
  if (!mcu.empty()) x.mcu = nas::load_mcu(mcu);
  return x;
}

evaluator::Budget memory_budget_flags(const std::optional<std::string>& sram, const std::optional<std::string>& flash,
                                      const engine::McuProfile& mcu) {
  evaluator::Budget b;
  b.sram_bytes = sram ? core::parse_size(*sram, "--sram") : mcu.sram_bytes;
  b.flash_bytes = flash ? core::parse_size(*flash, "--flash") : mcu.flash_bytes;
  return b;
}

}  // namespace tinynas::cli
