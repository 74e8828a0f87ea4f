#include "tinynas/engine/deploy.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/units.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/planner.h"

namespace tinynas::engine {

namespace fs = std::filesystem;

namespace {

// Builds for the target board; fills d.build, d.built and the arena symbol; appends its sections to the report.
void build_for_board(const Board& board, Deployment& d, std::string& report) {
  if (!board.is_host() && !arm_toolchain_available()) {
    spdlog::warn("arm-none-eabi-gcc is not installed: the bundle is written but not built");
    return;
  }
  d.build = build_bundle(d.bundle_dir, board);
  if (!d.build.ok) {
    if (d.build.does_not_fit())
      throw core::InputError("the model does not fit " + board.name + ":\n" + d.build.error_summary());
    throw core::RuntimeFailure("building the bundle for " + board.name + " failed:\n" + d.build.error_summary());
  }
  d.built = true;
  if (board.is_host()) return;
  d.arena_symbol_bytes = symbol_size(d.build.elf, "tn_arena");
  report += "## " + board.name + " (arm-none-eabi-size -A)\n\n| section | bytes |\n|---|---:|\n";
  for (const auto& [name, size] : d.build.sections) report += fmt::format("| {} | {} |\n", name, size);
  report += fmt::format("| **Flash** (text + data) | {} |\n| **RAM** (data + bss) | {} |\n| arena symbol | {} |\n\n",
                        d.build.flash_bytes(), d.build.ram_bytes(), d.arena_symbol_bytes);
  if (d.arena_symbol_bytes != d.bundle.arena_bytes)
    throw core::RuntimeFailure(
        fmt::format("the firmware's arena is {} B, the planner's {} B", d.arena_symbol_bytes, d.bundle.arena_bytes));
}

// Runs the host build and the emulated core; their outputs and the integer reference's must be equal.
EmulatorRun run_and_compare(const Board& emulator, const DeployOptions& o, const Deployment& d) {
  if (!qemu_available()) throw core::InputError("running on " + emulator.name + ": qemu-system-arm is not installed");
  const BuildResult host = build_bundle(d.bundle_dir, board_by_name("host"));
  if (!host.ok) throw core::RuntimeFailure("building the bundle for the host failed:\n" + host.error_summary());
  const BuildResult arm = build_bundle(d.bundle_dir, emulator);
  if (!arm.ok) throw core::RuntimeFailure("building the bundle for " + emulator.name + " failed:\n" + arm.error_summary());
  const RunResult host_run = run_host(host.elf, o.host_timeout_s);
  if (!host_run.ok) throw core::RuntimeFailure("the host build failed to run:\n" + host_run.output + host_run.errors);
  spdlog::info("running in QEMU: {}", fmt::join(qemu_command(arm.elf, emulator), " "));
  const RunResult arm_run = run_in_qemu(arm.elf, emulator, o.emulator_timeout_s);
  if (!arm_run.ok) throw core::RuntimeFailure(emulator.name + " run failed:\n" + arm_run.output + arm_run.errors);
  const FirmwareOutput h = parse_firmware_output(host_run.output);
  EmulatorRun run;
  run.board = emulator.name;
  run.output = parse_firmware_output(arm_run.output);
  const auto& inferences = run.output.inferences;
  Int8Interpreter reference(d.model);
  const bool audio = d.model.graph.frontend != Frontend::None;
  const size_t inputs = audio ? o.bundle.test_audio.size() : o.bundle.test_inputs.size();
  bool identical = h.inferences.size() == inferences.size() && inferences.size() == inputs;
  for (size_t i = 0; identical && i < inferences.size(); ++i)
    identical = inferences[i].output == h.inferences[i].output &&
                h.inferences[i].output ==
                    (audio ? reference.run_audio(o.bundle.test_audio[i]) : reference.run(o.bundle.test_inputs[i]));
  if (!identical) throw core::RuntimeFailure("the outputs of " + emulator.name + " and the host differ");
  run.instructions = inferences.back().instructions;
  run.stack_peak_bytes = int64_t(run.output.stack_peak_bytes);
  // The search counts SRAM as arena + this bound: a firmware that needs more would break its promise.
  if (run.stack_peak_bytes > kStackBoundBytes)
    throw core::RuntimeFailure(fmt::format("the firmware's stack peak is {} B, above the bound of {} B that the "
                                           "SRAM budgets count",
                                           run.stack_peak_bytes, kStackBoundBytes));
  return run;
}

}  // namespace

std::string layer_table(const FirmwareOutput& run) {
  std::string table = "| layer | kernel | MACs | instructions | per MAC |\n|---:|---|---:|---:|---:|\n";
  if (run.frontend_instructions) table += fmt::format("| front-end | tn_mfcc_s8 | | {} | |\n", run.frontend_instructions);
  for (size_t l = 0; l < run.layers.size(); ++l) {
    const auto& L = run.layers[l];
    table += fmt::format("| {} | {} | {} | {} | {} |\n", l, L.kernel, L.macs, L.instructions,
                         L.macs ? fmt::format("{:.2f}", double(L.instructions) / double(L.macs)) : "");
  }
  return table;
}

std::string run_totals(const Deployment& d) {
  if (!d.run) return "";
  const EmulatorRun& r = *d.run;
  std::string line = fmt::format("total: {} instructions, {} MACs, {:.2f} instructions/MAC; stack peak {} B; predicted classes",
                                 r.instructions, d.bundle.macs, double(r.instructions) / double(d.bundle.macs),
                                 r.stack_peak_bytes);
  for (const auto& inf : r.output.inferences)
    line += fmt::format(" {}{}", inf.predicted, inf.label >= 0 ? fmt::format(" (label {})", inf.label) : "");
  return line;
}

void check_fits_board(const Graph& network, const Board& board, const PatchSchedule& schedule) {
  const int64_t sram = board.is_host() || board.sram_bytes <= 0 ? kHostMemoryLimitBytes : board.sram_bytes;
  const int64_t flash = board.is_host() || board.flash_bytes <= 0 ? kHostMemoryLimitBytes : board.flash_bytes;
  const int64_t needed_sram =
      schedule.layer_wise() ? peak_sram_bytes(network) : peak_sram_bytes(network, plan_patch_stage(network, schedule));
  const int64_t needed_flash = estimate_flash(network, 0).total();
  if (needed_sram <= sram && needed_flash <= flash) return;
  throw core::InputError(fmt::format(
      "'{}' does not fit {}: it needs {} of SRAM (arena {} + stack bound {}) and {} of Flash for its weights; the "
      "board has {} and {}",
      network.name, board.name, core::format_size(needed_sram), core::format_size(needed_sram - kStackBoundBytes),
      core::format_size(kStackBoundBytes), core::format_size(needed_flash), core::format_size(sram),
      core::format_size(flash)));
}

Deployment deploy(const FloatModel& network, const DeployOptions& o) {
  if (o.out.empty()) throw core::InputError("deploy: no bundle directory given");
  check_bundle_dir(o.out, o.bundle.replace_any_directory);
  if (o.board) check_fits_board(network.graph, *o.board, o.bundle.patch);
  if (o.emulator && !o.emulator->runs_in_qemu()) throw core::InputError(o.emulator->name + " is not a QEMU machine");
  Deployment d;
  d.bundle_dir = o.out;
  d.model = quantize(network, o.calibration_inputs, o.quantize);
  d.bundle = write_bundle(d.model, o.bundle, o.out);
  d.flash_model = estimate_flash(network.graph, 0);
  std::string report = "# Firmware bundle: " + network.graph.name + "\n\n";
  report += fmt::format(
      "| | bytes |\n|---|---:|\n| arena (memory planner) | {} |\n| weights, biases, requantization (model.c) | {} |\n"
      "| test inputs (main.c) | {} |\n\n",
      d.bundle.arena_bytes, d.bundle.constant_bytes, d.bundle.test_input_bytes);
  if (!o.bundle.patch.layer_wise())
    report += fmt::format("Patch schedule {}: the first blocks run patch by patch; the arena is that schedule's and the "
                          "input is read patch by patch from outside it. MACs executed: {}.\n\n",
                          to_string(o.bundle.patch), d.bundle.macs);
  if (o.board) build_for_board(*o.board, d, report);
  if (o.emulator) {
    d.run = run_and_compare(*o.emulator, o, d);
    report += "## " + d.run->board + " (QEMU, -icount shift=0: instructions)\n\n" + layer_table(d.run->output) + "\n" +
              run_totals(d) + "\n";
    report += fmt::format("\nPeak SRAM of the running model: arena {} B + stack peak {} B = {} B (stack bound {} B).\n",
                          d.bundle.arena_bytes, d.run->stack_peak_bytes, d.bundle.arena_bytes + d.run->stack_peak_bytes,
                          kStackBoundBytes);
  }
  d.report_path = (fs::path(o.out) / "report.md").string();
  core::write_file_atomic(d.report_path, report);
  return d;
}

}  // namespace tinynas::engine
