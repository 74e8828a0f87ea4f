#include "tinynas/engine/toolchain.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tinynas/core/data_dir.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/process.h"

namespace tinynas::engine {

namespace fs = std::filesystem;

namespace {

constexpr int64_t KiB = 1024;
constexpr int64_t MiB = 1024 * KiB;

RunResult to_run_result(const core::ProcessResult& p) {
  RunResult r;
  r.exit_code = p.exit_code;
  r.timed_out = p.timed_out;
  r.ok = p.ok();
  r.output = p.out;
  r.errors = p.err;
  return r;
}

}  // namespace

const std::vector<Board>& known_boards() {
  // Flash and SRAM are the regions of each board's linker script. The MPS2 machines' regions are the
  // emulated RAMs (4 MB each); their models are held to a real board's budgets by the engine, not the
  // linker. Their clock is the FPGA's 25 MHz system clock, which under -icount means nothing.
  static const std::vector<Board> boards = {
      {"mps2-an386", "cortex-m4", "mps2-an386", 4 * MiB, 4 * MiB, 25e6, "mps2-an386"},
      {"mps2-an500", "cortex-m7", "mps2-an500", 4 * MiB, 4 * MiB, 25e6, "mps2-an500"},
      {"stm32f412", "cortex-m4", "", 1 * MiB, 256 * KiB, 100e6, "stm32f412"},
      {"stm32f746", "cortex-m7", "", 1 * MiB, 320 * KiB, 216e6, "stm32f746"},
      {"stm32h743", "cortex-m7", "", 2 * MiB, 512 * KiB, 480e6, "stm32h743"},
      {"host", "", "", 0, 0, 0.0, "host"},
  };
  return boards;
}

const Board& board_by_name(const std::string& name) {
  for (const auto& b : known_boards())
    if (b.name == name) return b;
  std::string list;
  for (const auto& b : known_boards()) list += (list.empty() ? "" : ", ") + b.name;
  throw core::InputError("unknown board '" + name + "' (known: " + list + ")");
}

const Board& board_for_mcu(const McuProfile& mcu) {
  for (const auto& b : known_boards()) {
    if (!mcu.qemu_machine.empty() && b.qemu_machine == mcu.qemu_machine) return b;
    if (mcu.qemu_machine.empty() && b.name == mcu.name) return b;
  }
  std::string list;
  for (const auto& b : known_boards()) list += (list.empty() ? "" : ", ") + b.name;
  throw core::InputError("no board support for the MCU profile " + mcu.name + " (boards: " + list + ")");
}

std::string firmware_dir() { return core::data_path("firmware"); }

void copy_board_support(const std::string& bundle_dir) {
  const fs::path from = firmware_dir();
  std::error_code ec;
  if (!fs::is_directory(from, ec))
    throw core::RuntimeFailure("board support directory " + from.string() + " is missing (set TINYNAS_DATA_DIR)");
  fs::create_directories(bundle_dir, ec);
  if (ec) throw core::RuntimeFailure("cannot create " + bundle_dir + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.empty() || name[0] == '.') continue;
    // Through a temporary name, so that a bundle never holds a half-written file.
    const fs::path target = fs::path(bundle_dir) / name;
    const fs::path temporary = fs::path(bundle_dir) / ("." + name + ".tmp");
    fs::copy_file(entry.path(), temporary, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::rename(temporary, target, ec);
    if (ec) {
      fs::remove(temporary);
      throw core::RuntimeFailure("cannot copy " + entry.path().string() + " to " + target.string() + ": " + ec.message());
    }
  }
}

bool arm_toolchain_available() { return core::program_available("arm-none-eabi-gcc"); }
bool qemu_available() { return core::program_available("qemu-system-arm"); }

bool BuildResult::does_not_fit() const {
  return log.find("overflowed by") != std::string::npos || log.find("will not fit in region") != std::string::npos;
}

std::string BuildResult::error_summary() const {
  static const char* const markers[] = {"error", "overflowed", "will not fit", "undefined reference", "No such file",
                                        "not found", "Stop."};
  std::vector<std::string> lines, hits;
  std::set<std::string> seen;
  std::stringstream in(log);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    for (const char* m : markers)
      if (line.find(m) != std::string::npos && seen.insert(line).second) {
        hits.push_back(line);
        break;
      }
  }
  constexpr size_t kMaxLines = 20;
  if (hits.empty()) hits.assign(lines.end() - std::ptrdiff_t(std::min(lines.size(), kMaxLines)), lines.end());
  if (hits.size() > kMaxLines) hits.resize(kMaxLines);
  std::string summary;
  for (const auto& h : hits) summary += h + "\n";
  return summary;
}

BuildResult build_bundle(const std::string& bundle_dir, const Board& board) {
  if (!core::is_file((fs::path(bundle_dir) / "Makefile").string()))
    throw core::InputError(bundle_dir + ": not a firmware bundle (no Makefile)");
  BuildResult r;
  const fs::path out = fs::path(bundle_dir) / "build" / board.make_target;
  r.elf = (out / (board.is_host() ? "firmware" : "firmware.elf")).string();
  if (!board.is_host()) {
    r.map = (out / "firmware.map").string();
    if (!arm_toolchain_available()) {
      r.log = "arm-none-eabi-gcc is not on PATH (Debian: gcc-arm-none-eabi and libnewlib-arm-none-eabi)\n";
      return r;
    }
  }
  core::ProcessOptions merged;
  merged.merge_stderr = true;
  const core::ProcessResult p = core::run_process({"make", "--no-print-directory", "-C", bundle_dir, board.make_target}, merged);
  r.log = p.out;
  r.ok = p.exit_code == 0;
  if (!r.ok || board.is_host()) return r;

  // The Makefile leaves arm-none-eabi-size's Berkeley table beside the ELF.
  std::ifstream size_file(out / "firmware.size");
  std::string header, values;
  std::getline(size_file, header);
  std::getline(size_file, values);
  std::istringstream fields(values);
  if (!(fields >> r.text >> r.data >> r.bss)) {
    r.ok = false;
    r.log += "cannot read the section sizes from " + (out / "firmware.size").string() + "\n";
    return r;
  }
  const core::ProcessResult sections = core::run_process({"arm-none-eabi-size", "-A", r.elf}, merged);
  std::istringstream lines(sections.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string name;
    int64_t size = 0, address = 0;
    if (!(f >> name >> size >> address) || name.size() < 2 || name[0] != '.' || size <= 0) continue;
    // Allocated sections only: not the debug information, comments and build attributes.
    if (name.rfind(".debug", 0) == 0 || name == ".comment" || name == ".ARM.attributes") continue;
    r.sections.emplace_back(name, size);
  }
  return r;
}

int64_t symbol_size(const std::string& elf, const std::string& symbol) {
  core::ProcessOptions merged;
  merged.merge_stderr = true;
  const core::ProcessResult p = core::run_process({"arm-none-eabi-nm", "-S", elf}, merged);
  std::istringstream lines(p.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string address, size, type, name;
    if (f >> address >> size >> type >> name && name == symbol) return std::stoll(size, nullptr, 16);
  }
  return -1;
}

std::vector<std::string> qemu_command(const std::string& elf, const Board& board) {
  return {"qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
          "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,align=off,sleep=off",
          "-kernel", elf};
}

RunResult run_in_qemu(const std::string& elf, const Board& board, double timeout_s) {
  if (!board.runs_in_qemu())
    throw core::InputError("board " + board.name + " does not run in QEMU (mps2-an386 and mps2-an500 do)");
  if (!core::is_file(elf)) throw core::InputError(elf + ": no such firmware");
  if (!qemu_available()) {
    RunResult r;
    r.errors = "qemu-system-arm is not on PATH (Debian: qemu-system-arm)\n";
    return r;
  }
  core::ProcessOptions limited;
  limited.timeout_s = timeout_s;
  return to_run_result(core::run_process(qemu_command(elf, board), limited));
}

RunResult run_host(const std::string& exe, double timeout_s) {
  if (!core::is_file(exe)) throw core::InputError(exe + ": no such program");
  // posix_spawnp would search PATH for a bare name: make the path explicit.
  const std::string path = fs::path(exe).has_parent_path() ? exe : "./" + exe;
  core::ProcessOptions limited;
  limited.timeout_s = timeout_s;
  return to_run_result(core::run_process({path}, limited));
}

}  // namespace tinynas::engine
