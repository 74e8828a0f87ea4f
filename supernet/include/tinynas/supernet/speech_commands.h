#pragma once
// Google Speech Commands as a source of 1 s clips for keyword spotting: the 12-class task of the
// TensorFlow speech_commands recipe (_silence_, _unknown_ and the keywords), its train / validation /
// test splits, class balancing and training augmentation.
//
// Layout of the root (the data set as distributed):
//   <word>/<speaker>_nohash_<n>.wav   one folder per word, 16 kHz mono 16-bit PCM clips of about 1 s
//   _background_noise_/*.wav          long noise recordings (silence clips and training noise)
//   validation_list.txt, testing_list.txt   optional: clip paths relative to the root, one a line
//
// Clips are read from disk on every load_clip (a file of 32 KB, so the full data set never needs to
// fit in memory); the background noise files are read once, when the set is opened.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tinynas::data {

enum class SpeechSplit { kTrain, kValidation, kTest };
const char* speech_split_name(SpeechSplit split);  // "train", "validation", "test"

struct SpeechCommandsOptions {
  std::vector<std::string> keywords = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"};
  // _silence_ and _unknown_ examples of a split, each as a percentage of its keyword clips (rounded up).
  double silence_percentage = 10;
  double unknown_percentage = 10;
  // The hashed split, used when the root has no validation_list.txt and testing_list.txt.
  double validation_percentage = 10;
  double testing_percentage = 10;
  // Seeds the hashed split, the choice of unknown clips and the windows of the silence examples.
  uint64_t seed = 0;
  // Training augmentation (the recipe's defaults): a time shift uniform in +-time_shift_ms (zero
  // fill), then with probability background_frequency a background noise window at a volume
  // uniform in [0, background_volume]. Silence examples are a fresh noise window at a volume
  // uniform in [0, silence_volume] each time.
  double time_shift_ms = 100;
  double background_frequency = 0.8;
  double background_volume = 0.1;
  double silence_volume = 1.0;
};

// The speaker of a clip: its file name up to "_nohash_" (the whole name without extension when it
// has none), which the data set's split rule hashes so that a speaker's clips share a split.
std::string speech_speaker_of(const std::string& file_name);
// The split the hashed rule gives a speaker: a percentage in [0, 100) from FNV-1a 64 of the speaker
// mixed with the seed; below validation_percentage is validation, below validation + testing is test.
SpeechSplit hashed_speech_split(const std::string& speaker, double validation_percentage, double testing_percentage,
                                uint64_t seed);

class SpeechCommands {
 public:
  static constexpr int kClipSamples = 16000;  // 1 s at 16 kHz
  static constexpr const char* kSilenceLabel = "_silence_";
  static constexpr const char* kUnknownLabel = "_unknown_";
  static constexpr const char* kBackgroundNoiseFolder = "_background_noise_";

  // Lists the word folders, splits and balances the classes and reads the background noise. Throws
  // core::InputError naming the path for a missing root, no keyword folder at all, a missing or
  // empty keyword folder, only one of the two list files, a listed clip that does not exist or is
  // listed twice, a missing or empty _background_noise_ when silence is requested, an unreadable
  // or shorter than 1 s noise file, and for options out of range.
  explicit SpeechCommands(const std::string& root, SpeechCommandsOptions options = {});

  // _silence_, _unknown_, then the keywords in the order given.
  const std::vector<std::string>& class_names() const { return class_names_; }
  int num_classes() const { return int(class_names_.size()); }
  int size(SpeechSplit split) const { return int(examples(split).size()); }
  int64_t label(SpeechSplit split, int i) const { return example(split, i).label; }
  // The clip file of example i; empty for a silence example.
  std::string clip_path(SpeechSplit split, int i) const;
  // Writes the kClipSamples samples of example i of `split` to `out`: the clip zero-padded at the end
  // or cut to 1 s (a silence example: its noise window). train: the augmentation of the options, its
  // random choices drawn only from derive_seed(seed, i), so a batch is the same whatever the thread
  // count. Thread-safe. Throws core::InputError naming the file when a clip cannot be read,
  // std::out_of_range for an index outside the split.
  void load_clip(SpeechSplit split, int i, bool train, uint64_t seed, int16_t* out) const;

  const std::string& root() const { return root_; }
  const SpeechCommandsOptions& options() const { return options_; }
  // Whether the splits come from validation_list.txt / testing_list.txt (else from the hashed rule).
  bool split_from_lists() const { return split_from_lists_; }
  int background_noise_count() const { return int(noise_.size()); }
  std::string describe() const;

 private:
  struct Example {
    int64_t label = 0;
    int clip = -1;  // index into clip_paths_; -1 for silence
    // Silence: the noise window it is, as drawn when the set was opened.
    int noise = 0;
    int offset = 0;
    double volume = 0;
  };

  const std::vector<Example>& examples(SpeechSplit split) const { return splits_[int(split)]; }
  const Example& example(SpeechSplit split, int i) const;
  void scan_words();
  void assign_splits();
  void read_background_noise(bool required);
  void balance_classes();
  // Adds volume * a window of noise file `noise` at `offset` to the kClipSamples samples of `out`.
  void mix_noise(int noise, int offset, double volume, int16_t* out) const;

  std::string root_;
  SpeechCommandsOptions options_;
  std::vector<std::string> class_names_;
  std::vector<std::string> clip_paths_;  // every .wav of every word folder, in folder and name order
  std::vector<std::string> clip_words_;
  std::vector<SpeechSplit> clip_splits_;
  std::vector<std::vector<int16_t>> noise_;
  std::vector<std::string> noise_paths_;
  bool split_from_lists_ = false;
  std::vector<Example> splits_[3];
};

// One split of a SpeechCommands set as a clip source: example i is example i of that split.
class SpeechCommandsSplit {
 public:
  SpeechCommandsSplit(std::shared_ptr<const SpeechCommands> set, SpeechSplit split);

  int size() const { return set_->size(split_); }
  int num_classes() const { return set_->num_classes(); }
  const std::vector<std::string>& class_names() const { return set_->class_names(); }
  int64_t label(int i) const { return set_->label(split_, i); }
  void load_clip(int i, bool train, uint64_t seed, int16_t* out) const { set_->load_clip(split_, i, train, seed, out); }
  std::string clip_path(int i) const { return set_->clip_path(split_, i); }
  SpeechSplit split() const { return split_; }
  const SpeechCommands& set() const { return *set_; }
  std::string describe() const;

 private:
  std::shared_ptr<const SpeechCommands> set_;
  SpeechSplit split_;
};

}  // namespace tinynas::data
