#pragma once
// Shared by the test suites: the upstream model-zoo files and the shipped network files.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace tinynas_test {

inline std::string zoo_dir() { return TINYNAS_ZOO_DIR; }

inline std::string zoo_path(const std::string& file) { return zoo_dir() + "/" + file; }

// MLPerf Tiny's ResNet-8 as the project ships it (basic blocks, ReLU).
inline std::string resnet8_path() { return std::string(TINYNAS_SOURCE_DIR) + "/configs/networks/resnet8-cifar10.json"; }
// MLPerf Tiny's DS-CNN on the audio front-end's 49 x 10 MFCCs.
inline std::string dscnn_path() { return std::string(TINYNAS_SOURCE_DIR) + "/configs/networks/dscnn-kws.json"; }

// Every *.json file of the zoo directory, sorted by name.
inline std::vector<std::string> zoo_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(zoo_dir()))
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace tinynas_test
