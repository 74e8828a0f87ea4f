#pragma once
// A target microcontroller: its memory budgets and what the Flash and latency models need.
#include <cstdint>
#include <string>

namespace tinynas::engine {

struct McuProfile {
  std::string name;           // e.g. "stm32f746"
  std::string core;           // "cortex-m4", "cortex-m7"
  std::string qemu_machine;   // QEMU -M name for emulated profiles, empty for real boards
  int64_t sram_bytes = 0;     // SRAM available to the model (arena + stack)
  int64_t flash_bytes = 0;    // Flash available to the firmware
  int64_t runtime_code_bytes = 0;  // kernels + runtime + start-up code, added to the Flash estimate
  double clock_hz = 0.0;
  // The calibrated latency model (configs/calibration/NAME.yaml) whose counts stand for this MCU's
  // cycles: its own, or an emulated core's when the board cannot be measured here.
  std::string latency_model;
  // Run-mode supply from the vendor's datasheet at clock_hz (0 = not given): energy per inference =
  // cycles / clock_hz x supply_voltage x run_current. `power_source` names the table the figures come from.
  double supply_voltage = 0.0;  // V
  double run_current_ma = 0.0;  // mA
  std::string power_source;
  bool has_power() const { return supply_voltage > 0 && run_current_ma > 0; }
  // Energy of `seconds` of run mode, in microjoules (0 without power figures).
  double energy_uj(double seconds) const { return seconds * supply_voltage * run_current_ma * 1e3; }
};

}  // namespace tinynas::engine
