#pragma once
// The one budget every part of the search checks a network against: stage 1, the evolution, the scaled
// baselines, `search --train`'s choice of space and the calibration subnets. SRAM means what the MCU
// needs: the planner's arena plus the firmware's stack bound (engine::peak_sram_bytes), on every command.
#include <cstdint>
#include <string>

#include "tinynas/engine/mcu.h"
#include "tinynas/engine/patch.h"

namespace tinynas::evaluator {

// What a candidate costs on the target MCU, as the search counts it.
struct CandidateCosts {
  int64_t sram_bytes = 0;   // arena + stack bound
  int64_t flash_bytes = 0;  // Flash model (weights, biases, requantization parameters, runtime code)
  double latency_ms = 0;    // latency model; 0 without one
  double energy_uj = 0;     // latency x the MCU's run-mode supply power; 0 without either
  engine::PatchSchedule patch{};  // the schedule these figures are of (layer by layer unless the search uses patches)
};

// Hard limits; 0 means no limit.
struct Budget {
  int64_t sram_bytes = 0;
  int64_t flash_bytes = 0;
  double latency_ms = 0;
  double energy_uj = 0;

  bool admits_sram(int64_t peak_sram_bytes) const { return sram_bytes <= 0 || peak_sram_bytes <= sram_bytes; }
  bool admits_flash(int64_t flash) const { return flash_bytes <= 0 || flash <= flash_bytes; }
  bool admits_latency(double ms) const { return latency_ms <= 0 || ms <= latency_ms; }
  bool admits_energy(double uj) const { return energy_uj <= 0 || uj <= energy_uj; }
  bool admits(const CandidateCosts& c) const {
    return admits_sram(c.sram_bytes) && admits_flash(c.flash_bytes) && admits_latency(c.latency_ms) &&
           admits_energy(c.energy_uj);
  }
  // Whether checking it needs the latency model.
  bool limits_time() const { return latency_ms > 0 || energy_uj > 0; }
  std::string describe() const;  // "SRAM 320 KiB, Flash 1 MiB, latency 200 ms, energy 2.000 mJ"
};

// The SRAM and Flash of an MCU profile, no latency limit.
Budget mcu_budget(const engine::McuProfile& mcu);

}  // namespace tinynas::evaluator
