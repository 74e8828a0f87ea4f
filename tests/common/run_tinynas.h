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

inline Run run_tinynas(const std::string& args) {
  const std::string cmd = std::string(TINYNAS_BINARY_DIR) + "/tinynas " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace tinynas_test
