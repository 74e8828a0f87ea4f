#pragma once
// Calibration of the latency model on the engine's own kernels: random subnets of a search space are
// exported as micro-benchmark firmware (random weights, one test input), run (QEMU under -icount, or a
// real board whose serial output the user captures), and the per-layer counts they print are the
// samples the model is fit to. Whole subnets kept out of the fit validate it.
#include <functional>
#include <string>
#include <vector>

#include "tinynas/engine/mcu.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/latency_model.h"
#include "tinynas/search_space/space.h"

namespace tinynas::evaluator {

struct CalibrationOptions {
  search_space::SearchSpace space;
  engine::McuProfile mcu;
  int fit_subnets = 30;       // measured to fit the model
  int validate_subnets = 20;  // measured to validate it
  uint64_t seed = 0;
  std::string work_dir;       // one bundle per subnet: DIR/subnet-NNN
  int timeout_seconds = 600;  // per QEMU run
  std::function<void(int done, int total)> on_progress;
};

// The subnets a calibration measures: drawn uniformly over the space's (w, r) choices and blocks,
// kept when the planner's arena fits the MCU's SRAM and the Flash model its Flash (what the search
// will ask about), deterministic in the seed.
std::vector<search_space::ArchSpec> calibration_archs(const search_space::SearchSpace& space, const engine::McuProfile& mcu, int count,
                                        uint64_t seed);

// The schedule the calibration runs subnet `index` with: one subnet in three runs patch by patch (one of
// its schedules with 2x2 to 4x4 patches, chosen by the index), so the model also learns the patch
// calls' shapes; the others, and graphs without a schedule, layer by layer.
engine::PatchSchedule calibration_patch_schedule(const engine::Graph& g, size_t index);

// One subnet as micro-benchmark firmware for `board` in `dir` (random weights, one test input), run
// with `patch`.
engine::Graph write_calibration_bundle(const search_space::SearchSpace& space, const search_space::ArchSpec& arch, const std::string& dir,
                                       const engine::PatchSchedule& patch = {});

struct SubnetMeasurement {
  search_space::ArchSpec arch;
  engine::Graph graph;
  engine::PatchSchedule patch;  // the schedule its firmware ran
  engine::FirmwareOutput run;
  double measured = 0;   // the whole invoke
  double predicted = 0;  // filled by validation
};

// Builds and runs the bundle in `dir` under QEMU and returns its serial output (parse_firmware_output
// reads it); throws RuntimeFailure with the build or run log.
std::string run_calibration_bundle(const std::string& dir, const engine::Board& board, int timeout_seconds);

// Fits the model to the fit subnets' layers and fills the validation figures from the others.
LatencyModel fit_and_validate(const std::vector<SubnetMeasurement>& fit, std::vector<SubnetMeasurement>& validate);

// The whole calibration on a QEMU board: measure (in parallel, and split between the ranks of an MPI
// job), fit, validate.
LatencyModel calibrate_in_qemu(const CalibrationOptions& options);

// Splits a captured serial log holding several firmware runs (each starts with its
// "tinynas-firmware ... model=NAME" line) into (model name, run) pairs.
std::vector<std::pair<std::string, engine::FirmwareOutput>> split_serial_log(const std::string& text);

// A real board's calibration runs in two steps around the user's runs on the board: the bundles (and a
// manifest of what they hold) first, then the fit of their captured serial output.
struct BoardBundles {
  std::string dir;          // options.work_dir: DIR/subnet-NNN and DIR/calibration.json
  std::string board;        // the board the bundles are for
  std::string make_target;  // `make -C DIR/subnet-NNN TARGET` builds one
  int subnets = 0;
};
BoardBundles write_board_bundles(const CalibrationOptions& options);

// Fits the model of `mcu` to the serial output of the runs of the bundles in `bundles_dir` (one file,
// runs one after another); InputError for a run the manifest does not list or a log without runs.
LatencyModel fit_board_measurements(const std::string& bundles_dir, const std::string& measurements_path,
                                    const engine::McuProfile& mcu);

}  // namespace tinynas::evaluator
