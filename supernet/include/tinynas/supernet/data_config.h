#pragma once
// Which data set an experiment uses, and its splits: train (minus a seeded holdout), holdout (for
// search and recalibration metrics) and test (final reporting only).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/image_ops.h"
#include "tinynas/supernet/normalization.h"

namespace tinynas::data {

struct DataConfig {
  std::string kind = "fashion-mnist";  // "fashion-mnist" (Debian's IDX files) or "folder" (class folders)
  std::string path;                    // fashion-mnist: its directory (default: Debian's);
                                       // folder: a root with train/ and optionally val/ (or test/)
  int channels = 1;                    // folder only: 1 = grayscale, 3 = RGB
  int holdout = 5000;                  // images carved from the training split
  uint64_t seed = 0;                   // of the holdout split
  // Augmentation and evaluation preprocessing; unset: kMild for fashion-mnist, kLarge for folders.
  std::optional<Transform> transform;
  // The input normalization: `normalization` as given (empty = the fixed (pixel - 128) / 128), or,
  // with normalize_from_data, measured on the training split when a supernet is trained.
  bool normalize_from_data = false;
  Normalization normalization;
};

// The transform the data set's images get (the configured one or the kind's default).
Transform transform_of(const DataConfig& config);

// split: "train" (the training split minus the holdout), "holdout" or "test". Throws core::InputError
// naming the path for a missing or malformed data set, for an unknown split, or for "test" when a
// folder has neither val/ nor test/.
std::shared_ptr<const Dataset> open_split(const DataConfig& config, const std::string& split);
// Whether the data set has a test split of its own (Fashion-MNIST's, or a folder's val/ or test/).
bool has_test_split(const DataConfig& config);

}  // namespace tinynas::data
