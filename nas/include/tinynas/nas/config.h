#pragma once
// YAML experiment configs: MCU profiles (configs/mcu/), search spaces (configs/spaces/) and the
// experiment files that combine them (configs/experiments/). Command-line flags override them.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/mcu.h"
#include "tinynas/search_space/space.h"

namespace tinynas {

struct Stage1Config {
  std::vector<double> widths;      // the (w, r) grid; empty = the space's own choices
  std::vector<int> resolutions;
  int samples = 1000;              // subnets sampled per (w, r) space
  uint64_t seed = 0;
  double min_fit_fraction = 0.0;   // see SpaceOptimizerOptions
};

struct Experiment {
  std::string name;
  std::string path;  // the file it was read from
  SearchSpace space;
  std::string space_path;
  engine::McuProfile mcu;
  Stage1Config stage1;
};

// The configs folder: $TINYNAS_CONFIG_DIR, else the source tree's configs/.
std::string config_dir();
std::vector<std::string> known_mcus();
// A profile by name (configs/mcu/NAME.yaml) or by path to a YAML file; InputError lists the known ones.
engine::McuProfile load_mcu(const std::string& name_or_path);
SearchSpace load_space(const std::string& path);
Experiment load_experiment(const std::string& path);
// The embedded default: configs/experiments/fashion-mnist.yaml.
std::string default_experiment_path();

// The space as YAML, in the same format load_space reads.
std::string space_to_yaml(const SearchSpace& space);

}  // namespace tinynas
