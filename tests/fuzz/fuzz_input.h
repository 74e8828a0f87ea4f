#pragma once
// What every fuzz harness shares: the input as text or as a file, quiet logging, and the one rule the
// harnesses check: a reader either succeeds or throws core::InputError (exit 2 in the CLI). Any other
// exception escapes LLVMFuzzerTestOneInput, aborts, and libFuzzer reports the input that caused it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tinynas/core/errors.h"

namespace tinynas::fuzz {

inline std::string as_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// The folder this process writes its inputs to (removed at exit).
inline const std::string& work_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tinynas-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  static const bool removed_at_exit = [] {
    std::atexit([] { std::error_code ignored; std::filesystem::remove_all(work_dir(), ignored); });
    return true;
  }();
  (void)removed_at_exit;
  return dir;
}

// Readers that take a path get the input written to one file (the harness runs one input at a time);
// `name` keeps the extension and the folder a reader may look at.
inline std::string as_file(const uint8_t* data, size_t size, const std::string& name) {
  std::filesystem::path path = std::filesystem::path(work_dir()) / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), size);
  return path.string();
}

// Runs `read`; an InputError is the expected answer to bad input and is swallowed.
template <typename Read>
void expect_success_or_input_error(Read&& read) {
  try {
    read();
  } catch (const core::InputError&) {
  }
}

// What the project writes, it must read back to the same text: `read` parses text (InputError for bad
// text), `write` turns the result into text again.
template <typename Read, typename Write>
void expect_written_text_to_read_back(const std::string& text, Read&& read, Write&& write) {
  expect_success_or_input_error([&] {
    const std::string written = write(read(text));
    if (write(read(written)) != written) std::abort();
  });
}

// The readers' warnings would flood the fuzzer's output.
inline const bool kQuietLogging = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

}  // namespace tinynas::fuzz
