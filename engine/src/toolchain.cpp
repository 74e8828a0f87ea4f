#include "tinynas/engine/toolchain.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tinynas/search_space/errors.h"

extern char** environ;

namespace tinynas::engine {

namespace fs = std::filesystem;

namespace {

constexpr int64_t KiB = 1024;
constexpr int64_t MiB = 1024 * KiB;

// A firmware printing in a loop must not fill the memory before its timeout.
constexpr size_t kMaxCapturedBytes = 16 * 1024 * 1024;

struct Process {
  bool started = false;
  int exit_code = -1;  // -1 when killed by a signal
  bool timed_out = false;
  std::string out, err;
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Runs argv[0] (looked up on PATH) with stdin from /dev/null, capturing stdout and stderr (stderr
// into `out` too when merge_stderr). timeout_s <= 0 waits for ever; on timeout the process is killed.
Process run_process(const std::vector<std::string>& argv, double timeout_s, bool merge_stderr) {
  Process result;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || (!merge_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0)) {
    close_fd(out_pipe[0]);
    close_fd(out_pipe[1]);
    throw RuntimeFailure(std::string("cannot create a pipe: ") + std::strerror(errno));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, merge_stderr ? out_pipe[1] : err_pipe[1], 2);
  // The child gets default signal dispositions: a parent that ignores SIGPIPE must not pass that on.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  if (spawn_error != 0) {
    close_fd(out_pipe[0]);
    close_fd(err_pipe[0]);
    result.err = "cannot run " + argv[0] + ": " + std::strerror(spawn_error) + "\n";
    if (merge_stderr) result.out = result.err;
    return result;
  }
  result.started = true;

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  int fds[2] = {out_pipe[0], err_pipe[0]};
  std::string* sinks[2] = {&result.out, &result.err};
  char buffer[65536];
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd polled[2];
    int count = 0, which[2];
    for (int i = 0; i < 2; ++i)
      if (fds[i] >= 0) {
        polled[count] = {fds[i], POLLIN, 0};
        which[count++] = i;
      }
    int wait_ms = -1;
    if (timeout_s > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        ::kill(pid, SIGKILL);
        result.timed_out = true;
        break;
      }
      wait_ms = int(std::min<int64_t>(left, 1000));
    }
    const int ready = ::poll(polled, nfds_t(count), wait_ms);
    if (ready < 0 && errno != EINTR) break;
    for (int k = 0; k < count && ready > 0; ++k) {
      if (!(polled[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int i = which[k];
      const ssize_t n = ::read(fds[i], buffer, sizeof buffer);
      if (n > 0) {
        if (sinks[i]->size() < kMaxCapturedBytes) sinks[i]->append(buffer, size_t(n));
      } else if (n == 0 || errno != EINTR) {
        close_fd(fds[i]);
      }
    }
  }
  close_fd(fds[0]);
  close_fd(fds[1]);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

RunResult to_run_result(const Process& p) {
  RunResult r;
  r.exit_code = p.exit_code;
  r.timed_out = p.timed_out;
  r.ok = p.started && !p.timed_out && p.exit_code == 0;
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
  throw InputError("unknown board '" + name + "' (known: " + list + ")");
}

const Board& board_for_mcu(const McuProfile& mcu) {
  for (const auto& b : known_boards()) {
    if (!mcu.qemu_machine.empty() && b.qemu_machine == mcu.qemu_machine) return b;
    if (mcu.qemu_machine.empty() && b.name == mcu.name) return b;
  }
  std::string list;
  for (const auto& b : known_boards()) list += (list.empty() ? "" : ", ") + b.name;
  throw InputError("no board support for the MCU profile " + mcu.name + " (boards: " + list + ")");
}

std::string firmware_dir() {
  if (const char* env = std::getenv("TINYNAS_FIRMWARE_DIR"); env && *env) return env;
  return TINYNAS_FIRMWARE_DIR;
}

void copy_board_support(const std::string& bundle_dir) {
  const fs::path from = firmware_dir();
  std::error_code ec;
  if (!fs::is_directory(from, ec))
    throw RuntimeFailure("board support directory " + from.string() + " is missing (set TINYNAS_FIRMWARE_DIR)");
  fs::create_directories(bundle_dir, ec);
  if (ec) throw RuntimeFailure("cannot create " + bundle_dir + ": " + ec.message());
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
      throw RuntimeFailure("cannot copy " + entry.path().string() + " to " + target.string() + ": " + ec.message());
    }
  }
}

bool arm_toolchain_available() { return on_path("arm-none-eabi-gcc"); }
bool qemu_available() { return on_path("qemu-system-arm"); }

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
  if (!fs::is_regular_file(fs::path(bundle_dir) / "Makefile"))
    throw InputError(bundle_dir + ": not a firmware bundle (no Makefile)");
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
  const Process p = run_process({"make", "--no-print-directory", "-C", bundle_dir, board.make_target}, 0.0, true);
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
  const Process sections = run_process({"arm-none-eabi-size", "-A", r.elf}, 0.0, true);
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
  const Process p = run_process({"arm-none-eabi-nm", "-S", elf}, 0.0, true);
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
    throw InputError("board " + board.name + " does not run in QEMU (mps2-an386 and mps2-an500 do)");
  if (!fs::is_regular_file(elf)) throw InputError(elf + ": no such firmware");
  if (!qemu_available()) {
    RunResult r;
    r.errors = "qemu-system-arm is not on PATH (Debian: qemu-system-arm)\n";
    return r;
  }
  return to_run_result(run_process(qemu_command(elf, board), timeout_s, false));
}

RunResult run_host(const std::string& exe, double timeout_s) {
  if (!fs::is_regular_file(exe)) throw InputError(exe + ": no such program");
  // posix_spawnp would search PATH for a bare name: make the path explicit.
  const std::string path = fs::path(exe).has_parent_path() ? exe : "./" + exe;
  return to_run_result(run_process({path}, timeout_s, false));
}

}  // namespace tinynas::engine
