#include "tinynas/core/files.h"
#include "tinynas/supernet/data_config.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "tinynas/core/errors.h"
#include "tinynas/supernet/audio_dataset.h"
#include "tinynas/supernet/idx.h"
#include "tinynas/supernet/image_folder.h"
#include "tinynas/supernet/memory_dataset.h"
#include "tinynas/supernet/subset.h"

namespace tinynas::data {

namespace {

namespace fs = std::filesystem;

// The full training split, shared by the train and holdout views (read once per process).
std::shared_ptr<const Dataset> full_training_split(const DataConfig& c) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Dataset>> cache;
  const Transform t = transform_of(c);
  const std::string key = c.kind + "|" + c.path + "|" + std::to_string(c.channels) + "|" + transform_kind_name(t.kind) +
                          "|" + std::to_string(t.pad) + "|" + std::to_string(t.cutout);
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[key];
  if (!slot) {
    if (c.kind == "fashion-mnist") {
      const std::string dir = c.path.empty() ? kFashionMnistDir : c.path;
      slot = std::make_shared<MemoryDataset>(load_fashion_mnist("train", dir), dir + " (train)", t);
    } else {
      slot = std::make_shared<ImageFolderDataset>((fs::path(c.path) / "train").string(), c.channels, t);
    }
  }
  return slot;
}

constexpr const char* kSpeechCommands = "speech_commands";

// A Speech Commands set, opened once per process for its three splits (opening lists every word
// folder and reads the background noise).
std::shared_ptr<const SpeechCommands> speech_commands_set(const DataConfig& c) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, uint64_t, std::vector<std::string>>, std::shared_ptr<const SpeechCommands>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[{c.path, c.seed, c.keywords}];
  if (!slot) {
    SpeechCommandsOptions options;
    options.keywords = c.keywords;
    options.seed = c.seed;
    slot = std::make_shared<const SpeechCommands>(c.path, options);
  }
  return slot;
}

std::shared_ptr<const Dataset> open_speech_split(const DataConfig& c, const std::string& split) {
  SpeechSplit which = SpeechSplit::kTrain;
  if (split == "holdout")
    which = SpeechSplit::kValidation;
  else if (split == "test")
    which = SpeechSplit::kTest;
  else if (split != "train")
    throw core::InputError("unknown split '" + split + "' (train, holdout or test)");
  return std::make_shared<AudioFeatureDataset>(SpeechCommandsSplit(speech_commands_set(c), which));
}

void check_speech_commands(const DataConfig& c) {
  if (c.path.empty()) throw core::InputError("a speech_commands data set needs a path (the Speech Commands root)");
  if (!core::is_directory(c.path)) throw core::InputError("speech commands folder '" + c.path + "' does not exist");
  if (c.channels != 1) throw core::InputError("speech_commands data has 1 channel (MFCC features), not " + std::to_string(c.channels));
  if (c.transform)
    throw core::InputError("data transform does not apply to speech_commands: its training augmentation is the "
                           "recipe's time shift and background noise");
  if (!c.normalization.is_fixed() || c.normalize_from_data)
    throw core::InputError("data normalize must stay fixed for speech_commands: the int8 MFCC features are the "
                           "network's int8 input as they are");
}

void check(const DataConfig& c) {
  if (c.kind != "fashion-mnist" && c.kind != "folder" && c.kind != kSpeechCommands)
    throw core::InputError("data kind '" + c.kind + "' is not known (fashion-mnist, folder or speech_commands)");
  if (c.kind == kSpeechCommands) return check_speech_commands(c);
  if (c.kind == "folder") {
    if (c.path.empty()) throw core::InputError("a folder data set needs a path (a root with train/ and val/)");
    if (!core::is_directory(c.path)) throw core::InputError("data folder '" + c.path + "' does not exist");
    if (c.channels != 1 && c.channels != 3) throw core::InputError("data channels must be 1 or 3");
  }
  if (c.holdout < 0) throw core::InputError("the holdout size must not be negative");
  check_transform(transform_of(c), "data transform");
  check_normalization(c.normalization, c.channels, "data");
}

// A folder's own test split: val/, else test/; empty when it has neither.
fs::path folder_test_dir(const DataConfig& c) {
  for (const char* name : {"val", "test"})
    if (core::is_directory((fs::path(c.path) / name).string())) return fs::path(c.path) / name;
  return {};
}

}  // namespace

Transform transform_of(const DataConfig& c) {
  if (c.transform) return *c.transform;
  return Transform{c.kind == "fashion-mnist" ? Transform::Kind::kMild : Transform::Kind::kLarge};
}

bool has_test_split(const DataConfig& c) {
  check(c);
  return c.kind == "fashion-mnist" || c.kind == kSpeechCommands || !folder_test_dir(c).empty();
}

std::shared_ptr<const Dataset> open_split(const DataConfig& c, const std::string& split) {
  check(c);
  if (c.kind == kSpeechCommands) return open_speech_split(c, split);
  if (split == "test") {
    if (c.kind == "fashion-mnist") {
      const std::string dir = c.path.empty() ? kFashionMnistDir : c.path;
      return std::make_shared<MemoryDataset>(load_fashion_mnist("test", dir), dir + " (test)", transform_of(c));
    }
    const fs::path dir = folder_test_dir(c);
    if (dir.empty())
      throw core::InputError("data folder '" + c.path + "' has no test split (val/ or test/): report the holdout instead");
    return std::make_shared<ImageFolderDataset>(dir.string(), c.channels, transform_of(c));
  }
  if (split != "train" && split != "holdout")
    throw core::InputError("unknown split '" + split + "' (train, holdout or test)");
  auto full = full_training_split(c);
  if (c.holdout >= full->size())
    throw core::InputError("the holdout (" + std::to_string(c.holdout) + " images) must be smaller than the training split '" +
                     full->describe() + "' (" + std::to_string(full->size()) + ")");
  auto parts = split_holdout(full->size(), c.holdout, c.seed);
  return std::make_shared<SubsetDataset>(full, split == "train" ? std::move(parts.train) : std::move(parts.holdout));
}

}  // namespace tinynas::data
