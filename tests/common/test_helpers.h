#pragma once
// Shared by the test suites: a temporary directory, a Python script run in it, the message of an
// expected InputError, a full disk.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "tinynas/core/errors.h"

namespace tinynas_test {

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tinynas_test_XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to the file `name` in the directory and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

// Runs `code` with Debian's /usr/bin/python3 (python3-torch, -numpy, -pil) in `dir`: "" when it
// succeeded, else what it printed.
inline std::string run_python(const TempDir& dir, const std::string& code) {
  const std::string script = dir.write("script.py", code), log = (dir.path / "script.log").string();
  const std::string command = "cd '" + dir.path.string() + "' && /usr/bin/python3 " + script + " > " + log + " 2>&1";
  if (std::system(command.c_str()) == 0) return "";
  std::ostringstream printed;
  printed << std::ifstream(log).rdbuf();
  return "python3 failed (apt-get install python3-torch python3-numpy python3-pil):\n" + printed.str();
}

// The message of the InputError that f() throws; "<no exception>" or "<other exception>" otherwise.
template <typename F>
std::string input_error_message(F&& f) {
  try {
    f();
  } catch (const tinynas::core::InputError& e) {
    return e.what();
  } catch (...) {
    return "<other exception>";
  }
  return "<no exception>";
}

// Runs f() with file writes beyond `bytes` failing (EFBIG, as a full disk fails with ENOSPC): the
// process's RLIMIT_FSIZE, with SIGXFSZ ignored, restored afterwards.
template <typename F>
void with_file_size_limit(rlim_t bytes, F&& f) {
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = bytes;
  ::setrlimit(RLIMIT_FSIZE, &small);
  try {
    f();
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous);
}

}  // namespace tinynas_test
