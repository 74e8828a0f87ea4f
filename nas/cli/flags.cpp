// The flags several commands share, read one way.
#include "commands.h"
#include "tinynas/core/units.h"

namespace tinynas::cli {

nas::Experiment load_experiment_flag(const std::string& config, const std::string& mcu) {
  nas::Experiment x = nas::load_experiment(config.empty() ? nas::default_experiment_path() : config);
  if (!mcu.empty()) x.mcu = nas::load_mcu(mcu);
  return x;
}

evaluator::Budget memory_budget_flags(const std::string& sram, const std::string& flash, const engine::McuProfile& mcu) {
  evaluator::Budget b;
  b.sram_bytes = sram.empty() ? mcu.sram_bytes : core::parse_size(sram, "--sram");
  b.flash_bytes = flash.empty() ? mcu.flash_bytes : core::parse_size(flash, "--flash");
  return b;
}

}  // namespace tinynas::cli
