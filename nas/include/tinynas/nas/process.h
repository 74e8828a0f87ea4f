#pragma once
// Runs an external program (gnuplot now; compilers and QEMU later) without a shell.
#include <string>
#include <vector>

namespace tinynas {

bool program_available(const std::string& name);  // found on PATH
// Runs argv[0] (searched on PATH) in `cwd` ("" = current), output to `log_path` ("" = inherited).
// Returns the exit status; -1 if it could not start or was killed by a signal.
int run_program(const std::vector<std::string>& argv, const std::string& cwd = "", const std::string& log_path = "");

}  // namespace tinynas
