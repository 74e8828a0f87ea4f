#pragma once
// The data directory: configs, firmware templates, C kernels, the model zoo and the shipped pretrained
// supernet. Found relative to the executable, so that an installed tree (PREFIX/bin/tinynas beside
// PREFIX/share/tinynas) and the build tree (build/tinynas beside build/share/tinynas) both work from any
// directory; the environment variable TINYNAS_DATA_DIR overrides it.
#include <string>

namespace tinynas::core {

constexpr const char* kDataDirVariable = "TINYNAS_DATA_DIR";

// $TINYNAS_DATA_DIR, else the first of <exe dir>/../share/tinynas, <exe dir>/share/tinynas,
// <exe dir>/../../share/tinynas that exists. Throws RuntimeFailure naming the places looked at.
std::string data_dir();
// data_dir()/relative.
std::string data_path(const std::string& relative);

}  // namespace tinynas::core
