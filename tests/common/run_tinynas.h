#pragma once
// Runs the built tinynas binary with arguments and captures its exit code and output (stdout + stderr).
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace tinynas_test {

struct Run {
  int code;
  std::string out;
};

// `limited`: under a 4 GiB address-space limit and a 5-minute timeout, so that a runaway allocation
// or loop on bad input fails the test instead of taking the machine.
inline Run run_tinynas(const std::string& args, bool limited = false) {
  const std::string prefix = limited ? "ulimit -v 4194304 && timeout 300 " : "";
  const std::string cmd = prefix + std::string(TINYNAS_BINARY_DIR) + "/tinynas " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace tinynas_test
