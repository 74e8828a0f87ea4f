#pragma once
// Shared by the test suites: the upstream model-zoo files.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace tinynas_test {

inline std::string zoo_dir() { return TINYNAS_ZOO_DIR; }

inline std::string zoo_path(const std::string& file) { return zoo_dir() + "/" + file; }

// Every *.json file of the zoo directory, sorted by name.
inline std::vector<std::string> zoo_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(zoo_dir()))
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace tinynas_test
