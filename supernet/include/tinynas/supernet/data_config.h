#pragma once
// Which data set an experiment uses, and its splits: train (minus a seeded holdout), holdout (for
// search and recalibration metrics) and test (final reporting only).
//
// speech_commands (keyword spotting) differs: its splits are the data set's own (train, validation as
// the holdout, test), each clip delivered as its int8 MFCC features (audio_dataset.h) at the fixed
// height of the front-end's 49 frames. `holdout` does not apply to it (ignored), nor do `transform`
// (refused: the augmentation is the recipe's time shift and background noise) and a normalization
// other than the fixed one (refused: the int8 features are the network's int8 input as they are).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/image_ops.h"
#include "tinynas/supernet/normalization.h"
#include "tinynas/supernet/speech_commands.h"

namespace tinynas::data {

struct DataConfig {
  // "fashion-mnist" (Debian's IDX files), "folder" (class folders) or "speech_commands" (Google Speech
  // Commands, speech_commands.h).
  std::string kind = "fashion-mnist";
  std::string path;                    // fashion-mnist: its directory (default: Debian's);
                                       // folder: a root with train/ and optionally val/ (or test/);
                                       // speech_commands: its root (required)
  int channels = 1;                    // folder only: 1 = grayscale, 3 = RGB; speech_commands: 1
  int holdout = 5000;                  // images carved from the training split (not speech_commands)
  // Of the holdout split; speech_commands: of its hashed split, unknown clips and silence windows.
  uint64_t seed = 0;
  // speech_commands: the keyword classes besides _silence_ and _unknown_ (default: the 10 standard ones).
  std::vector<std::string> keywords = SpeechCommandsOptions().keywords;
  // Augmentation and evaluation preprocessing; unset: kMild for fashion-mnist, kLarge for folders.
  std::optional<Transform> transform;
  // The input normalization: `normalization` as given (empty = the fixed (pixel - 128) / 128), or,
  // with normalize_from_data, measured on the training split when a supernet is trained.
  bool normalize_from_data = false;
  Normalization normalization;
};

// The transform the data set's images get (the configured one or the kind's default).
Transform transform_of(const DataConfig& config);

// split: "train" (the training split minus the holdout), "holdout" or "test"; speech_commands: its
// train, validation and test splits. Throws core::InputError naming the path for a missing or
// malformed data set, for an unknown split, or for "test" when a folder has neither val/ nor test/.
std::shared_ptr<const Dataset> open_split(const DataConfig& config, const std::string& split);
// Whether the data set has a test split of its own (Fashion-MNIST's, a folder's val/ or test/, and
// always for speech_commands).
bool has_test_split(const DataConfig& config);

}  // namespace tinynas::data
