#pragma once
// A float network to firmware in one call: int8 quantization, the memory plan, the bundle (code
// generator), its build for the target board and, when asked, a run on the emulated core whose outputs
// must equal the host build's and the integer reference's bit for bit. `tinynas export` and
// `tinynas search` both deploy through it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tinynas/engine/codegen.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/engine/toolchain.h"

namespace tinynas::engine {

struct DeployOptions {
  std::string out;  // the bundle directory, replaced whole
  QuantizeOptions quantize;
  std::vector<std::vector<float>> calibration_inputs;  // float inputs for the activation ranges
  BundleOptions bundle;                                // the test inputs main.c embeds
  // Builds for this board (a link check for boards QEMU does not emulate); nullptr: the bundle is only
  // written. Without arm-none-eabi-gcc a Cortex-M board is not built either (Deployment::built says so).
  const Board* board = nullptr;
  // Runs on this QEMU machine and on the host and compares; nullptr: no run.
  const Board* emulator = nullptr;
  double host_timeout_s = 600;
  double emulator_timeout_s = 3600;
};

struct EmulatorRun {
  std::string board;
  FirmwareOutput output;          // per inference and per layer (instructions under -icount shift=0)
  uint64_t instructions = 0;      // of one inference (the last)
  int64_t stack_peak_bytes = 0;   // measured by the firmware, checked against kStackBoundBytes
};

struct Deployment {
  std::string bundle_dir;
  QuantizedModel model;
  BundleSummary bundle;     // arena, constants, test inputs, MACs
  FlashEstimate flash_model;  // the size model the search uses, without runtime code
  bool built = false;       // built for `board`
  BuildResult build;        // of `board` when built
  int64_t arena_symbol_bytes = -1;  // tn_arena in the ELF of a Cortex-M board (= bundle.arena_bytes)
  std::optional<EmulatorRun> run;   // bit-identical to the host and the integer reference when present
  std::string report_path;          // report.md in the bundle
};

// The most memory a host build may plan for: it stands in for an MCU, and none has more SRAM or Flash.
constexpr int64_t kHostMemoryLimitBytes = int64_t(64) << 20;

// InputError unless the network's arena (plus the stack bound) fits the board's SRAM and its weights fit
// its Flash (the host: kHostMemoryLimitBytes each). From shapes alone, so callers check before the work
// (calibration, code generation) that a network far too large would spend minutes and gigabytes on.
// With a patch schedule (patch.h) the arena is that schedule's.
void check_fits_board(const Graph& network, const Board& board, const PatchSchedule& schedule = {});

// Throws InputError for a model that does not fit the board's memory regions or an emulator that cannot
// run; RuntimeFailure for failed builds or runs, differing outputs, an arena symbol that differs from
// the plan, or a stack peak above kStackBoundBytes.
Deployment deploy(const FloatModel& network, const DeployOptions& options);

// The emulated run as text: the per-layer table (markdown) and the totals line with the predicted classes.
std::string layer_table(const FirmwareOutput& run);
std::string run_totals(const Deployment& d);

}  // namespace tinynas::engine
