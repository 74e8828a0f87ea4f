#pragma once
// YAML experiment configs: MCU profiles (configs/mcu/), search spaces (configs/spaces/) and the
// experiment files that combine them (configs/experiments/). Command-line flags override them.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/mcu.h"
#include "tinynas/nas/space_optimizer.h"
#include "tinynas/search_space/space.h"
#include "tinynas/search_space/space_yaml.h"  // load_space, space_to_yaml
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/train.h"

namespace tinynas::nas {

// The supernet an experiment searches: its fixed width and training resolutions, and the trained
// checkpoint (relative paths are relative to the experiment file).
struct SupernetConfig {
  double width = 0.5;
  std::vector<int> resolutions;
  std::string checkpoint;
  bool width_given = false;  // the config fixes the supernet's space (else `search --train` asks stage 1)
};

struct TrainConfig {
  std::string method = "sandwich";  // "sandwich" (BigNAS) or "progressive_shrinking" (once-for-all)
  supernet::TrainOptions options;    // space, width and resolutions filled from the experiment
  int threads = 2;
};

// `search:` of an experiment: patch-based inference in the search (evaluator::PatchSearch).
struct SearchConfig {
  bool patch = false;   // candidates may run their first blocks patch by patch (`search --patch`)
  int max_patches = 4;  // up to max_patches x max_patches
};

struct Experiment {
  std::string name;
  std::string path;  // the file it was read from
  search_space::SearchSpace space;
  std::string space_path;
  engine::McuProfile mcu;
  // The search's limits from the config (`constraints:`); 0 = not given: the MCU's SRAM and Flash, no
  // latency or energy limit. Command-line flags override each.
  evaluator::Budget constraints;
  Stage1Config stage1;
  data::DataConfig data;
  SupernetConfig supernet;
  TrainConfig train;
  SearchConfig search;
};

// The shipped configs folder: configs/ of the data directory (core/data_dir.h).
std::string config_dir();
std::vector<std::string> known_mcus();
// A profile by name (configs/mcu/NAME.yaml) or by path to a YAML file; InputError lists the known ones.
engine::McuProfile load_mcu(const std::string& name_or_path);
Experiment load_experiment(const std::string& path);
// The embedded default: configs/experiments/fashion-mnist.yaml.
std::string default_experiment_path();

}  // namespace tinynas::nas
