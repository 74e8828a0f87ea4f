#pragma once
// Shared by the test suites: a temporary directory, the message of an expected InputError and a small
// hand-checked network.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "tinynas/core/errors.h"
#include "tinynas/search_space/network.h"

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

// 9x9x1 input (odd, so ceil matters), stem 8 ch 3x3 s2; block 0: 8->16->8 expand, 3x3 s1, residual;
// block 1: 8->16 no expand, 3x3 s2; feature mix 32; classifier to 10.
inline tinynas::NetworkDesc small_network() {
  tinynas::NetworkDesc n;
  n.name = "small";
  n.resolution = 9;
  n.in_channels = 1;
  n.stem_out = 8;
  n.stem_kernel = 3;
  n.stem_stride = 2;
  // BlockDesc{in_ch, out_ch, mid_ch, kernel, stride, has_expand, residual}
  n.blocks = {tinynas::BlockDesc{8, 8, 16, 3, 1, true, true}, tinynas::BlockDesc{8, 16, 8, 3, 2, false, false}};
  n.feature_mix_out = 32;
  n.num_classes = 10;
  return n;
}

}  // namespace tinynas_test
