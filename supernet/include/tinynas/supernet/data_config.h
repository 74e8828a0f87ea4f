#pragma once
// Which data set an experiment uses, and its splits: train (minus a seeded holdout), holdout (for
// search and recalibration metrics) and test (final reporting only).
#include <cstdint>
#include <memory>
#include <string>

#include "tinynas/supernet/dataset.h"

namespace tinynas::data {

struct DataConfig {
  std::string kind = "fashion-mnist";  // "fashion-mnist" (Debian's IDX files) or "folder" (ImageNet-style)
  std::string path;                    // fashion-mnist: its directory (default: Debian's);
                                       // folder: a root with train/ and val/ (or test/) class folders
  int channels = 1;                    // folder only: 1 = grayscale, 3 = RGB
  int holdout = 5000;                  // images carved from the training split
  uint64_t seed = 0;                   // of the holdout split
};

// split: "train" (the training split minus the holdout), "holdout" or "test". Throws core::InputError
// naming the path for a missing or malformed data set, or for an unknown split.
std::shared_ptr<const Dataset> open_split(const DataConfig& config, const std::string& split);

}  // namespace tinynas::data
