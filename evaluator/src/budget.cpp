#include "tinynas/evaluator/budget.h"

#include <sstream>
#include <vector>

#include "tinynas/core/units.h"

namespace tinynas::evaluator {

std::string Budget::describe() const {
  std::vector<std::string> parts;
  if (sram_bytes > 0) parts.push_back("SRAM " + core::format_size(sram_bytes));
  if (flash_bytes > 0) parts.push_back("Flash " + core::format_size(flash_bytes));
  if (latency_ms > 0) {
    std::ostringstream s;
    s << "latency " << latency_ms << " ms";
    parts.push_back(s.str());
  }
  if (energy_uj > 0) parts.push_back("energy " + core::format_energy_uj(energy_uj));
  if (parts.empty()) return "no limits";
  std::string out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += ", " + parts[i];
  return out;
}

Budget mcu_budget(const engine::McuProfile& mcu) {
  Budget b;
  b.sram_bytes = mcu.sram_bytes;
  b.flash_bytes = mcu.flash_bytes;
  return b;
}

}  // namespace tinynas::evaluator
