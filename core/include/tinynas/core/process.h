#pragma once
// Runs external programs (make, the arm toolchain, QEMU, gnuplot) without a shell: argv[0] is looked up
// on PATH, stdin is /dev/null, stdout and stderr are captured.
#include <string>
#include <vector>

namespace tinynas::core {

struct ProcessOptions {
  double timeout_s = 0;       // <= 0 waits for ever; on timeout the process is killed
  bool merge_stderr = false;  // stderr into `out` too
  std::string cwd;            // "" = the current directory
};

struct ProcessResult {
  bool started = false;
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out, err;  // each capped at 16 MiB, so a program printing in a loop cannot fill the memory
  bool ok() const { return started && !timed_out && exit_code == 0; }
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// An executable file of this name in a directory of PATH.
bool program_available(const std::string& name);

}  // namespace tinynas::core
