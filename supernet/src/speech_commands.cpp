#include "tinynas/supernet/speech_commands.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/wav.h"

namespace tinynas::data {

namespace {

namespace fs = std::filesystem;

constexpr int kClipSamples = SpeechCommands::kClipSamples;
constexpr const char* kValidationList = "validation_list.txt";
constexpr const char* kTestingList = "testing_list.txt";
// Stream tags, so the unknown sample and the silence windows of a split draw independent numbers.
constexpr uint64_t kUnknownStream = 1, kSilenceStream = 2;

uint64_t fnv1a64(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char ch : text) {
    hash ^= ch;
    hash *= 1099511628211ull;
  }
  return hash;
}

bool is_wav_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return ext == ".wav";
}

bool is_hidden(const fs::path& path) { return path.filename().string().rfind('.', 0) == 0; }

// The entries of `dir` sorted by name; InputError naming the folder when it cannot be listed.
std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(it->path());
  if (ec) throw core::InputError("cannot list folder '" + dir.string() + "': " + ec.message());
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::vector<fs::path> wav_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const fs::path& entry : sorted_entries(dir))
    if (!is_hidden(entry) && is_wav_name(entry) && fs::is_regular_file(entry, ec)) files.push_back(entry);
  return files;
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : ", ") + word;
  return text;
}

// ceil(count * percentage / 100), robust to the rounding of the product (10 % of 30 is 3, not 4).
int percentage_of(size_t count, double percentage) {
  return int(std::ceil(double(count) * percentage / 100.0 - 1e-9));
}

void check_range(double value, double low, double high, const std::string& name) {
  if (!(value >= low && value <= high))
    throw core::InputError("speech commands: " + name + " must be in [" + std::to_string(low) + ", " +
                           std::to_string(high) + "], got " + std::to_string(value));
}

void check_options(const SpeechCommandsOptions& o) {
  if (o.keywords.empty()) throw core::InputError("speech commands: the keyword list is empty");
  for (size_t i = 0; i < o.keywords.size(); ++i) {
    const std::string& word = o.keywords[i];
    if (word.empty() || word[0] == '_' || word[0] == '.' || word.find('/') != std::string::npos)
      throw core::InputError("speech commands: '" + word + "' is not a word folder name");
    if (std::find(o.keywords.begin(), o.keywords.begin() + long(i), word) != o.keywords.begin() + long(i))
      throw core::InputError("speech commands: keyword '" + word + "' is listed twice");
  }
  check_range(o.silence_percentage, 0, 100, "silence_percentage");
  check_range(o.unknown_percentage, 0, 100, "unknown_percentage");
  check_range(o.validation_percentage, 0, 100, "validation_percentage");
  check_range(o.testing_percentage, 0, 100 - o.validation_percentage, "testing_percentage");
  check_range(o.time_shift_ms, 0, 999, "time_shift_ms");
  check_range(o.background_frequency, 0, 1, "background_frequency");
  check_range(o.background_volume, 0, 1e3, "background_volume");
  check_range(o.silence_volume, 0, 1e3, "silence_volume");
}

// The clip paths a split list names, relative to the root in generic form ("yes/abc_nohash_0.wav").
// Each must exist: InputError naming it and the list.
std::vector<std::string> read_split_list(const fs::path& root, const fs::path& list) {
  std::istringstream lines(core::read_text_file(list.string()));
  std::vector<std::string> paths;
  std::error_code ec;
  for (std::string line; std::getline(lines, line);) {
    const auto first = line.find_first_not_of(" \t\r"), last = line.find_last_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const std::string relative = fs::path(line.substr(first, last - first + 1)).lexically_normal().generic_string();
    if (!fs::is_regular_file(root / relative, ec))
      throw core::InputError("'" + list.string() + "' lists '" + (root / relative).string() + "', which does not exist");
    paths.push_back(relative);
  }
  return paths;
}

// out[j] = clip[j - shift], zero where that is outside the clip.
void shift_clip(int16_t* out, int shift) {
  if (shift == 0) return;
  const std::vector<int16_t> clip(out, out + kClipSamples);
  for (int j = 0; j < kClipSamples; ++j) {
    const int source = j - shift;
    out[j] = source >= 0 && source < kClipSamples ? clip[size_t(source)] : int16_t(0);
  }
}

}  // namespace

const char* speech_split_name(SpeechSplit split) {
  switch (split) {
    case SpeechSplit::kTrain: return "train";
    case SpeechSplit::kValidation: return "validation";
    case SpeechSplit::kTest: return "test";
  }
  return "?";
}

std::string speech_speaker_of(const std::string& file_name) {
  const std::string name = fs::path(file_name).filename().string();
  const auto nohash = name.find("_nohash_");
  if (nohash != std::string::npos) return name.substr(0, nohash);
  return fs::path(name).stem().string();
}

SpeechSplit hashed_speech_split(const std::string& speaker, double validation_percentage, double testing_percentage,
                                uint64_t seed) {
  const double percentage = double(core::derive_seed(seed, fnv1a64(speaker)) % 10000) / 100.0;
  if (percentage < validation_percentage) return SpeechSplit::kValidation;
  if (percentage < validation_percentage + testing_percentage) return SpeechSplit::kTest;
  return SpeechSplit::kTrain;
}

SpeechCommands::SpeechCommands(const std::string& root, SpeechCommandsOptions options)
    : root_(root), options_(std::move(options)) {
  check_options(options_);
  class_names_ = {kSilenceLabel, kUnknownLabel};
  class_names_.insert(class_names_.end(), options_.keywords.begin(), options_.keywords.end());
  scan_words();
  assign_splits();
  read_background_noise(options_.silence_percentage > 0);
  balance_classes();
}

void SpeechCommands::scan_words() {
  std::error_code ec;
  if (!fs::exists(root_, ec)) throw core::InputError("speech commands root '" + root_ + "' does not exist");
  if (!fs::is_directory(root_, ec)) throw core::InputError("speech commands root '" + root_ + "' is not a directory");
  std::vector<std::string> words;
  for (const fs::path& entry : sorted_entries(root_)) {
    const std::string name = entry.filename().string();
    if (is_hidden(entry) || name == kBackgroundNoiseFolder || !fs::is_directory(entry, ec)) continue;
    words.push_back(name);
    for (const fs::path& file : wav_files(entry)) {
      clip_paths_.push_back(file.string());
      clip_words_.push_back(name);
    }
  }
  const auto has_word = [&](const std::string& word) { return std::find(words.begin(), words.end(), word) != words.end(); };
  if (std::none_of(options_.keywords.begin(), options_.keywords.end(), has_word))
    throw core::InputError("speech commands root '" + root_ + "' has no keyword folders (" + join(options_.keywords) + ")");
  for (const std::string& keyword : options_.keywords) {
    const std::string folder = (fs::path(root_) / keyword).string();
    if (!has_word(keyword)) throw core::InputError("keyword folder '" + folder + "' does not exist");
    if (std::find(clip_words_.begin(), clip_words_.end(), keyword) == clip_words_.end())
      throw core::InputError("keyword folder '" + folder + "' has no .wav files");
  }
  if (clip_paths_.size() > size_t(std::numeric_limits<int>::max()))
    throw core::InputError("speech commands root '" + root_ + "' holds too many clips");
}

void SpeechCommands::assign_splits() {
  const fs::path root(root_);
  const fs::path validation_list = root / kValidationList, testing_list = root / kTestingList;
  std::error_code ec;
  const bool has_validation = fs::exists(validation_list, ec), has_testing = fs::exists(testing_list, ec);
  split_from_lists_ = has_validation && has_testing;
  if (has_validation != has_testing)
    throw core::InputError("speech commands root '" + root_ + "' has " +
                           (has_validation ? validation_list : testing_list).filename().string() + " but no " +
                           (has_validation ? testing_list : validation_list).filename().string() +
                           " (give both lists, or neither for the hashed split)");
  clip_splits_.assign(clip_paths_.size(), SpeechSplit::kTrain);
  if (split_from_lists_) {
    std::map<std::string, SpeechSplit> listed;
    for (const auto& [list, split] : {std::pair{validation_list, SpeechSplit::kValidation}, std::pair{testing_list, SpeechSplit::kTest}})
      for (const std::string& relative : read_split_list(root, list)) {
        const auto [it, inserted] = listed.emplace(relative, split);
        if (!inserted && it->second != split)
          throw core::InputError("'" + (root / relative).string() + "' is listed in both " + kValidationList + " and " + kTestingList);
      }
    for (size_t c = 0; c < clip_paths_.size(); ++c) {
      const std::string relative = clip_words_[c] + "/" + fs::path(clip_paths_[c]).filename().string();
      const auto it = listed.find(relative);
      if (it != listed.end()) clip_splits_[c] = it->second;
    }
    return;
  }
  for (size_t c = 0; c < clip_paths_.size(); ++c)
    clip_splits_[c] = hashed_speech_split(speech_speaker_of(clip_paths_[c]), options_.validation_percentage,
                                          options_.testing_percentage, options_.seed);
}

void SpeechCommands::read_background_noise(bool required) {
  const fs::path folder = fs::path(root_) / kBackgroundNoiseFolder;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    if (required)
      throw core::InputError("speech commands root '" + root_ + "' has no '" + kBackgroundNoiseFolder +
                             "' folder, needed for the _silence_ class");
    return;
  }
  for (const fs::path& file : wav_files(folder)) {
    std::vector<int16_t> samples = read_wav(file.string());
    if (samples.size() < size_t(kClipSamples))
      throw core::InputError(file.string() + ": " + std::to_string(samples.size()) +
                             " samples, a background noise file needs at least 1 s (" + std::to_string(kClipSamples) + ")");
    noise_.push_back(std::move(samples));
    noise_paths_.push_back(file.string());
  }
  if (required && noise_.empty())
    throw core::InputError("background noise folder '" + folder.string() + "' has no .wav files, needed for the _silence_ class");
}

void SpeechCommands::balance_classes() {
  for (SpeechSplit split : {SpeechSplit::kTrain, SpeechSplit::kValidation, SpeechSplit::kTest}) {
    std::vector<int> keyword_clips, unknown_candidates;
    for (size_t c = 0; c < clip_paths_.size(); ++c) {
      if (clip_splits_[c] != split) continue;
      const bool is_keyword = std::find(options_.keywords.begin(), options_.keywords.end(), clip_words_[c]) != options_.keywords.end();
      (is_keyword ? keyword_clips : unknown_candidates).push_back(int(c));
    }
    const size_t unknown_count =
        std::min(size_t(percentage_of(keyword_clips.size(), options_.unknown_percentage)), unknown_candidates.size());
    // A seeded partial Fisher-Yates shuffle picks the unknown clips; then back in folder order.
    core::Rng unknown_rng(core::derive_seed(options_.seed, uint64_t(split), kUnknownStream));
    for (size_t j = 0; j < unknown_count; ++j)
      std::swap(unknown_candidates[j], unknown_candidates[j + unknown_rng.below(uint32_t(unknown_candidates.size() - j))]);
    unknown_candidates.resize(unknown_count);
    std::vector<int> chosen = keyword_clips;
    chosen.insert(chosen.end(), unknown_candidates.begin(), unknown_candidates.end());
    std::sort(chosen.begin(), chosen.end());

    std::vector<Example>& examples = splits_[int(split)];
    for (int c : chosen) {
      Example e;
      e.clip = c;
      const auto keyword = std::find(options_.keywords.begin(), options_.keywords.end(), clip_words_[size_t(c)]);
      e.label = keyword == options_.keywords.end() ? 1 : 2 + (keyword - options_.keywords.begin());
      examples.push_back(e);
    }
    const int silence_count = noise_.empty() ? 0 : percentage_of(keyword_clips.size(), options_.silence_percentage);
    core::Rng silence_rng(core::derive_seed(options_.seed, uint64_t(split), kSilenceStream));
    for (int s = 0; s < silence_count; ++s) {
      Example e;
      e.label = 0;
      e.noise = int(silence_rng.below(uint32_t(noise_.size())));
      e.offset = int(silence_rng.below(uint32_t(noise_[size_t(e.noise)].size() - kClipSamples + 1)));
      e.volume = silence_rng.uniform() * options_.silence_volume;
      examples.push_back(e);
    }
  }
}

const SpeechCommands::Example& SpeechCommands::example(SpeechSplit split, int i) const {
  const std::vector<Example>& all = examples(split);
  if (i < 0 || size_t(i) >= all.size())
    throw std::out_of_range(describe() + ": example " + std::to_string(i) + " is outside the " + speech_split_name(split) +
                            " split of " + std::to_string(all.size()));
  return all[size_t(i)];
}

std::string SpeechCommands::clip_path(SpeechSplit split, int i) const {
  const Example& e = example(split, i);
  return e.clip < 0 ? std::string() : clip_paths_[size_t(e.clip)];
}

std::string SpeechCommands::describe() const { return "speech commands '" + root_ + "'"; }

void SpeechCommands::mix_noise(int noise, int offset, double volume, int16_t* out) const {
  const int16_t* window = noise_[size_t(noise)].data() + offset;
  for (int j = 0; j < kClipSamples; ++j) {
    const long mixed = std::lround(double(out[j]) + volume * double(window[j]));
    out[j] = int16_t(std::clamp(mixed, -32768L, 32767L));
  }
}

void SpeechCommands::load_clip(SpeechSplit split, int i, bool train, uint64_t seed, int16_t* out) const {
  const Example& e = example(split, i);
  std::fill(out, out + kClipSamples, int16_t(0));
  core::Rng rng(core::derive_seed(seed, uint64_t(i)));
  if (e.clip < 0) {
    if (!train) {
      mix_noise(e.noise, e.offset, e.volume, out);
      return;
    }
    const int noise = int(rng.below(uint32_t(noise_.size())));
    const int offset = int(rng.below(uint32_t(noise_[size_t(noise)].size() - kClipSamples + 1)));
    mix_noise(noise, offset, rng.uniform() * options_.silence_volume, out);
    return;
  }
  const std::vector<int16_t> samples = read_wav(clip_paths_[size_t(e.clip)]);
  std::copy_n(samples.begin(), std::min(samples.size(), size_t(kClipSamples)), out);  // shorter: zeros stay at the end
  if (!train) return;
  const int max_shift = int(std::lround(options_.time_shift_ms * kSpeechSampleRate / 1000.0));
  shift_clip(out, int(rng.below(uint32_t(2 * max_shift + 1))) - max_shift);
  if (noise_.empty() || rng.uniform() >= options_.background_frequency) return;
  const int noise = int(rng.below(uint32_t(noise_.size())));
  const int offset = int(rng.below(uint32_t(noise_[size_t(noise)].size() - kClipSamples + 1)));
  mix_noise(noise, offset, rng.uniform() * options_.background_volume, out);
}

SpeechCommandsSplit::SpeechCommandsSplit(std::shared_ptr<const SpeechCommands> set, SpeechSplit split)
    : set_(std::move(set)), split_(split) {
  if (!set_) throw std::invalid_argument("SpeechCommandsSplit needs a set");
}

std::string SpeechCommandsSplit::describe() const { return set_->describe() + " (" + speech_split_name(split_) + ")"; }

}  // namespace tinynas::data
