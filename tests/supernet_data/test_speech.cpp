// Audio data for keyword spotting: the WAV reader and writer (on files the tests write byte by byte,
// independently of libsndfile), the Speech Commands reader on small synthetic layouts (splits, class
// balancing, augmentation, errors), and the espeak-ng + sox generator read back by the reader.
#include <gtest/gtest.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/speech_commands.h"
#include "tinynas/supernet/wav.h"

using namespace tinynas;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;
namespace fs = std::filesystem;

namespace {

using Samples = std::vector<int16_t>;
constexpr int kClip = data::SpeechCommands::kClipSamples;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_le(std::string& bytes, uint32_t value, int count) {
  for (int b = 0; b < count; ++b) bytes.push_back(char((value >> (8 * b)) & 0xFF));
}

// A canonical 44-byte-header RIFF/WAVE file: format tag 1 = PCM, 3 = IEEE float.
std::string wav_bytes(int rate, int channels, int bits, int format_tag, const std::string& data) {
  std::string bytes = "RIFF";
  put_le(bytes, uint32_t(36 + data.size()), 4);
  bytes += "WAVEfmt ";
  put_le(bytes, 16, 4);
  put_le(bytes, uint32_t(format_tag), 2);
  put_le(bytes, uint32_t(channels), 2);
  put_le(bytes, uint32_t(rate), 4);
  put_le(bytes, uint32_t(rate * channels * bits / 8), 4);
  put_le(bytes, uint32_t(channels * bits / 8), 2);
  put_le(bytes, uint32_t(bits), 2);
  bytes += "data";
  put_le(bytes, uint32_t(data.size()), 4);
  return bytes + data;
}

std::string pcm16_data(const Samples& samples) {
  std::string data;
  for (int16_t s : samples) put_le(data, uint16_t(s), 2);
  return data;
}

// Distinct non-zero samples 1000 + j, so a shifted copy shows its shift.
Samples ramp(int count) {
  Samples s(static_cast<size_t>(count));
  for (int j = 0; j < count; ++j) s[size_t(j)] = int16_t(1000 + j);
  return s;
}

Samples constant(int count, int16_t value) { return Samples(size_t(count), value); }

// Seeded noise in [-amplitude, amplitude].
Samples noise(int count, int amplitude, uint64_t seed) {
  core::Rng rng(seed);
  Samples s(static_cast<size_t>(count));
  for (auto& v : s) v = int16_t(int(rng.below(uint32_t(2 * amplitude + 1))) - amplitude);
  return s;
}

Samples load(const data::SpeechCommands& set, data::SpeechSplit split, int i, bool train, uint64_t seed) {
  Samples out(kClip, int16_t(12345));  // a value load_clip must overwrite everywhere
  set.load_clip(split, i, train, seed, out.data());
  return out;
}

// The offset and volume with out == round(volume * noise[offset ..]) (to +-1), if there is one.
bool is_scaled_window(const Samples& out, const Samples& source, int* found_offset = nullptr) {
  for (size_t offset = 0; offset + kClip <= source.size(); ++offset) {
    double dot = 0, norm = 0;
    for (size_t j = 0; j < 64; ++j) {
      dot += double(out[j]) * source[offset + j];
      norm += double(source[offset + j]) * source[offset + j];
    }
    const double volume = norm > 0 ? dot / norm : 0;
    bool match = true;
    for (size_t j = 0; j < size_t(kClip) && match; ++j) match = std::abs(out[j] - volume * source[offset + j]) <= 1.01;
    if (match) {
      if (found_offset) *found_offset = int(offset);
      return true;
    }
  }
  return false;
}

// A Speech Commands root: words[word] = the clip file names, every clip `clip` (written with
// write_wav), plus a _background_noise_ file of `noise_seconds` unless 0.
struct Layout {
  std::map<std::string, std::vector<std::string>> words;
  Samples clip = constant(kClip / 4, 300);
  double noise_seconds = 3;
};

Samples layout_noise(double seconds) { return noise(int(seconds * data::kSpeechSampleRate), 2000, 99); }

void write_layout(const fs::path& root, const Layout& layout) {
  for (const auto& [word, files] : layout.words) {
    fs::create_directories(root / word);
    for (const std::string& file : files) data::write_wav((root / word / file).string(), layout.clip);
  }
  if (layout.noise_seconds > 0) {
    fs::create_directories(root / "_background_noise_");
    data::write_wav((root / "_background_noise_/noise.wav").string(), layout_noise(layout.noise_seconds));
    write_bytes(root / "_background_noise_/README.md", "not a noise file");
  }
}

std::vector<std::string> speaker_files(const std::string& prefix, int speakers, int utterances = 1) {
  std::vector<std::string> files;
  for (int s = 0; s < speakers; ++s)
    for (int u = 0; u < utterances; ++u) files.push_back(prefix + std::to_string(s) + "_nohash_" + std::to_string(u) + ".wav");
  return files;
}

data::SpeechCommandsOptions two_keywords() {
  data::SpeechCommandsOptions o;
  o.keywords = {"yes", "no"};
  return o;
}

// Counts of each label in a split.
std::map<int64_t, int> label_counts(const data::SpeechCommands& set, data::SpeechSplit split) {
  std::map<int64_t, int> counts;
  for (int i = 0; i < set.size(split); ++i) ++counts[set.label(split, i)];
  return counts;
}

std::string relative_to(const fs::path& root, const std::string& path) {
  return fs::path(path).lexically_relative(root).generic_string();
}

const data::SpeechSplit kSplits[] = {data::SpeechSplit::kTrain, data::SpeechSplit::kValidation, data::SpeechSplit::kTest};

}  // namespace

// ---- WAV files ---------------------------------------------------------------------------------

TEST(Wav, ReadsAHandWrittenFileAndItsOwnWrites) {
  TempDir dir;
  const Samples samples = {0, 1, -1, 32767, -32768, 12345, -2222};
  write_bytes(dir.path / "hand.wav", wav_bytes(16000, 1, 16, 1, pcm16_data(samples)));
  EXPECT_EQ(data::read_wav((dir.path / "hand.wav").string()), samples);

  const Samples long_clip = noise(20000, 30000, 1);
  const std::string written = (dir.path / "written.wav").string();
  data::write_wav(written, long_clip);
  EXPECT_EQ(data::read_wav(written), long_clip);
  // The canonical layout: the same bytes as the hand-written header.
  EXPECT_EQ(read_bytes(written), wav_bytes(16000, 1, 16, 1, pcm16_data(long_clip)));
  // Atomic: nothing beside the two files (no temporary left).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 2);
  // Another rate on request.
  data::write_wav((dir.path / "8k.wav").string(), samples, 8000);
  EXPECT_EQ(data::read_wav((dir.path / "8k.wav").string(), 8000), samples);
  // An empty clip is a clip of no samples.
  data::write_wav((dir.path / "empty.wav").string(), {});
  EXPECT_TRUE(data::read_wav((dir.path / "empty.wav").string()).empty());
}

TEST(Wav, WrongFormatsAreInputErrorsNamingFileAndProblem) {
  TempDir dir;
  const Samples samples = ramp(800);
  const auto message_for = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir.path / name, bytes);
    const std::string path = (dir.path / name).string();
    const std::string message = input_error_message([&] { data::read_wav(path); });
    EXPECT_TRUE(contains(message, path)) << message;
    return message;
  };
  EXPECT_TRUE(contains(message_for("8k.wav", wav_bytes(8000, 1, 16, 1, pcm16_data(samples))), "8000 Hz, expected 16000 Hz"));
  EXPECT_TRUE(contains(message_for("stereo.wav", wav_bytes(16000, 2, 16, 1, pcm16_data(samples))), "2 channels, expected mono"));
  EXPECT_TRUE(contains(message_for("8bit.wav", wav_bytes(16000, 1, 8, 1, std::string(800, '\x80'))), "expected 16-bit PCM"));
  EXPECT_TRUE(contains(message_for("float.wav", wav_bytes(16000, 1, 32, 3, std::string(3200, '\0'))), "expected 16-bit PCM"));
  EXPECT_TRUE(contains(message_for("text.wav", "this is not a sound file at all, just some text"), "not a readable WAV"));

  const std::string good = wav_bytes(16000, 1, 16, 1, pcm16_data(samples));
  EXPECT_TRUE(contains(message_for("cut.wav", good.substr(0, good.size() / 2)), "truncated"));
  const std::string header_cut = message_for("header_cut.wav", good.substr(0, 30));
  EXPECT_NE(header_cut, "<no exception>");
  const std::string missing = (dir.path / "missing.wav").string();
  EXPECT_TRUE(contains(input_error_message([&] { data::read_wav(missing); }), missing + ": no such file"));
  EXPECT_TRUE(contains(input_error_message([&] { data::read_wav(dir.path.string()); }), "not a regular file"));
}

TEST(Wav, WriteFailuresAreRuntimeFailures) {
  TempDir dir;
  EXPECT_THROW(data::write_wav((dir.path / "no_such_dir/x.wav").string(), ramp(10)), core::RuntimeFailure);
  EXPECT_FALSE(fs::exists(dir.path / "no_such_dir"));
}

// ---- Speech Commands: splits ---------------------------------------------------------------------

namespace {

// yes, no: speakers a0..a9 (one clip each); cat: a0..a6; dog: a0..a4. Listed: validation = yes/a0,
// no/a0, cat/a0; test = yes/a1, no/a1, dog/a1.
//   train:      16 keyword clips, unknown candidates cat a1..a6 + dog a0, a2..a4 = 10
//   validation:  2 keyword clips, unknown candidates cat/a0 = 1
//   test:        2 keyword clips, unknown candidates dog/a1 = 1
void write_listed_layout(const fs::path& root) {
  Layout layout;
  layout.words = {{"yes", speaker_files("a", 10)}, {"no", speaker_files("a", 10)},
                  {"cat", speaker_files("a", 7)}, {"dog", speaker_files("a", 5)}};
  write_layout(root, layout);
  write_bytes(root / "validation_list.txt", "yes/a0_nohash_0.wav\r\nno/a0_nohash_0.wav\n\n./cat/a0_nohash_0.wav\n");
  write_bytes(root / "testing_list.txt", "yes/a1_nohash_0.wav\nno/a1_nohash_0.wav\ndog/a1_nohash_0.wav");
}

}  // namespace

TEST(SpeechCommands, ListsDecideTheSplitsAndTheClassesAreBalanced) {
  TempDir dir;
  write_listed_layout(dir.path);
  const data::SpeechCommands set(dir.path.string(), two_keywords());
  EXPECT_TRUE(set.split_from_lists());
  EXPECT_EQ(set.class_names(), (std::vector<std::string>{"_silence_", "_unknown_", "yes", "no"}));
  EXPECT_EQ(set.num_classes(), 4);
  EXPECT_EQ(set.background_noise_count(), 1);
  // train: 16 keywords, ceil(10 % of 16) = 2 silence, 2 unknown; validation and test: 2 keywords,
  // ceil(0.2) = 1 silence and 1 unknown (the only candidate).
  EXPECT_EQ(label_counts(set, data::SpeechSplit::kTrain), (std::map<int64_t, int>{{0, 2}, {1, 2}, {2, 8}, {3, 8}}));
  EXPECT_EQ(label_counts(set, data::SpeechSplit::kValidation), (std::map<int64_t, int>{{0, 1}, {1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(label_counts(set, data::SpeechSplit::kTest), (std::map<int64_t, int>{{0, 1}, {1, 1}, {2, 1}, {3, 1}}));

  std::map<data::SpeechSplit, std::set<std::string>> clips;
  for (data::SpeechSplit split : kSplits)
    for (int i = 0; i < set.size(split); ++i) {
      const std::string path = set.clip_path(split, i);
      EXPECT_EQ(path.empty(), set.label(split, i) == 0);
      if (!path.empty()) clips[split].insert(relative_to(dir.path, path));
    }
  EXPECT_EQ(clips[data::SpeechSplit::kValidation],
            (std::set<std::string>{"yes/a0_nohash_0.wav", "no/a0_nohash_0.wav", "cat/a0_nohash_0.wav"}));
  EXPECT_EQ(clips[data::SpeechSplit::kTest],
            (std::set<std::string>{"yes/a1_nohash_0.wav", "no/a1_nohash_0.wav", "dog/a1_nohash_0.wav"}));
  // Unlisted clips train; the listed ones do not.
  EXPECT_TRUE(clips[data::SpeechSplit::kTrain].count("yes/a5_nohash_0.wav"));
  EXPECT_FALSE(clips[data::SpeechSplit::kTrain].count("yes/a0_nohash_0.wav"));
  EXPECT_EQ(clips[data::SpeechSplit::kTrain].size(), 18u);
  EXPECT_FALSE(clips[data::SpeechSplit::kTrain].count("cat/a0_nohash_0.wav"));

  // Other percentages: unknown capped by the candidates, silence rounded up.
  data::SpeechCommandsOptions more = two_keywords();
  more.unknown_percentage = 50;  // train: min(8, 10); validation: min(1, 1)
  more.silence_percentage = 25;  // train: 4; validation: ceil(0.5) = 1
  const data::SpeechCommands balanced(dir.path.string(), more);
  EXPECT_EQ(label_counts(balanced, data::SpeechSplit::kTrain), (std::map<int64_t, int>{{0, 4}, {1, 8}, {2, 8}, {3, 8}}));
  EXPECT_EQ(balanced.size(data::SpeechSplit::kValidation), 4);
  more.unknown_percentage = 100;  // train: min(16, 10)
  more.silence_percentage = 0;
  const data::SpeechCommands all_unknown(dir.path.string(), more);
  EXPECT_EQ(label_counts(all_unknown, data::SpeechSplit::kTrain), (std::map<int64_t, int>{{1, 10}, {2, 8}, {3, 8}}));
}

TEST(SpeechCommands, UnknownClipsAreSampledWithTheSeed) {
  TempDir dir;
  write_listed_layout(dir.path);
  const auto unknown_clips = [&](uint64_t seed) {
    data::SpeechCommandsOptions o = two_keywords();
    o.seed = seed;
    const data::SpeechCommands set(dir.path.string(), o);
    std::vector<std::string> paths;
    for (int i = 0; i < set.size(data::SpeechSplit::kTrain); ++i)
      if (set.label(data::SpeechSplit::kTrain, i) == 1) paths.push_back(set.clip_path(data::SpeechSplit::kTrain, i));
    return paths;
  };
  EXPECT_EQ(unknown_clips(3), unknown_clips(3));
  std::set<std::vector<std::string>> selections;
  for (uint64_t seed = 0; seed < 10; ++seed) selections.insert(unknown_clips(seed));
  EXPECT_GT(selections.size(), 3u);  // 45 possible pairs out of 10 candidates
}

TEST(SpeechCommands, HashedSplitKeepsSpeakersTogetherAndFollowsTheSeed) {
  TempDir dir;
  Layout layout;
  layout.clip = constant(100, 7);
  layout.words = {{"yes", speaker_files("s", 40, 2)}, {"no", speaker_files("s", 40, 2)}, {"cat", speaker_files("s", 40)}};
  write_layout(dir.path, layout);
  const auto speaker_splits = [&](uint64_t seed) {
    data::SpeechCommandsOptions o = two_keywords();
    o.seed = seed;
    o.unknown_percentage = 100;
    const data::SpeechCommands set(dir.path.string(), o);
    EXPECT_FALSE(set.split_from_lists());
    std::map<std::string, data::SpeechSplit> of_speaker;
    int clips = 0;
    for (data::SpeechSplit split : kSplits)
      for (int i = 0; i < set.size(split); ++i) {
        const std::string path = set.clip_path(split, i);
        if (path.empty()) continue;
        ++clips;
        const std::string speaker = data::speech_speaker_of(path);
        EXPECT_EQ(data::hashed_speech_split(speaker, 10, 10, seed), split) << path;
        const auto [it, first] = of_speaker.emplace(speaker, split);
        EXPECT_EQ(it->second, split) << speaker << " is in two splits";
      }
    EXPECT_EQ(clips, 200);  // 160 keyword clips and all 40 unknown
    return of_speaker;
  };
  const auto splits = speaker_splits(5);
  EXPECT_EQ(splits.size(), 40u);
  std::map<data::SpeechSplit, int> speakers_per_split;
  for (const auto& [speaker, split] : splits) ++speakers_per_split[split];
  EXPECT_GT(speakers_per_split[data::SpeechSplit::kValidation], 0);
  EXPECT_GT(speakers_per_split[data::SpeechSplit::kTest], 0);
  EXPECT_GT(speakers_per_split[data::SpeechSplit::kTrain], 24);
  EXPECT_EQ(speaker_splits(5), splits);
  EXPECT_NE(speaker_splits(6), splits);

  EXPECT_EQ(data::speech_speaker_of("/x/yes/0a2b_nohash_3.wav"), "0a2b");
  EXPECT_EQ(data::speech_speaker_of("plain.wav"), "plain");
  // The percentages hold over many speakers: 10 % +- 1.5 % each.
  std::map<data::SpeechSplit, int> counts;
  for (int s = 0; s < 10000; ++s) ++counts[data::hashed_speech_split("speaker" + std::to_string(s), 10, 10, 1)];
  EXPECT_NEAR(counts[data::SpeechSplit::kValidation], 1000, 150);
  EXPECT_NEAR(counts[data::SpeechSplit::kTest], 1000, 150);
  EXPECT_EQ(data::hashed_speech_split("anyone", 100, 0, 1), data::SpeechSplit::kValidation);
  EXPECT_EQ(data::hashed_speech_split("anyone", 0, 0, 1), data::SpeechSplit::kTrain);
}

// ---- Speech Commands: clips ----------------------------------------------------------------------

namespace {

// yes: a short clip (a0, 8000 samples of 500), a long one (a1, 20000 ramp samples), a ramp of 1 s (a2);
// no: one clip of 1 s. No lists, no validation or test: every clip trains.
struct ClipLayout {
  TempDir dir;
  std::unique_ptr<data::SpeechCommands> set;
  explicit ClipLayout(data::SpeechCommandsOptions o = two_keywords()) {
    fs::create_directories(dir.path / "yes");
    fs::create_directories(dir.path / "no");
    data::write_wav((dir.path / "yes/a0_nohash_0.wav").string(), constant(8000, 500));
    data::write_wav((dir.path / "yes/a1_nohash_0.wav").string(), ramp(20000));
    data::write_wav((dir.path / "yes/a2_nohash_0.wav").string(), ramp(kClip));
    data::write_wav((dir.path / "no/a3_nohash_0.wav").string(), constant(kClip, -700));
    fs::create_directories(dir.path / "_background_noise_");
    data::write_wav((dir.path / "_background_noise_/noise.wav").string(), layout_noise(2.5));
    o.validation_percentage = o.testing_percentage = 0;
    set = std::make_unique<data::SpeechCommands>(dir.path.string(), o);
  }
  int index_of(const std::string& file) const {
    for (int i = 0; i < set->size(data::SpeechSplit::kTrain); ++i)
      if (fs::path(set->clip_path(data::SpeechSplit::kTrain, i)).filename() == file) return i;
    ADD_FAILURE() << file << " is not in the train split";
    return 0;
  }
};

// The shift s with out[j] = clip[j - s] (zero outside), or a value above any shift when there is none.
int shift_of(const Samples& out, const Samples& clip) {
  const int s = out[0] != 0 ? -(out[0] - clip[0]) : int(std::find_if(out.begin(), out.end(), [](int16_t v) { return v != 0; }) - out.begin());
  for (int j = 0; j < kClip; ++j) {
    const int source = j - s;
    if (out[size_t(j)] != (source >= 0 && source < kClip ? clip[size_t(source)] : 0)) return 1 << 20;
  }
  return s;
}

}  // namespace

TEST(SpeechCommands, EvaluationClipsArePaddedOrCutToOneSecond) {
  const ClipLayout layout;
  const data::SpeechCommands& set = *layout.set;
  ASSERT_EQ(set.size(data::SpeechSplit::kTrain), 5);  // 4 clips + ceil(0.4) silence, no unknown words
  Samples expected = constant(kClip, 0);
  std::fill_n(expected.begin(), 8000, int16_t(500));
  EXPECT_EQ(load(set, data::SpeechSplit::kTrain, layout.index_of("a0_nohash_0.wav"), false, 1), expected);
  EXPECT_EQ(load(set, data::SpeechSplit::kTrain, layout.index_of("a1_nohash_0.wav"), false, 1), ramp(kClip));
  EXPECT_EQ(load(set, data::SpeechSplit::kTrain, layout.index_of("a3_nohash_0.wav"), false, 2), constant(kClip, -700));
  // Without augmentation settings, training returns the same clip.
  data::SpeechCommandsOptions plain = two_keywords();
  plain.time_shift_ms = 0;
  plain.background_frequency = 0;
  const ClipLayout unaugmented(plain);
  EXPECT_EQ(load(*unaugmented.set, data::SpeechSplit::kTrain, unaugmented.index_of("a0_nohash_0.wav"), true, 9), expected);
}

TEST(SpeechCommands, SilenceIsAScaledNoiseWindow) {
  const ClipLayout layout;
  const data::SpeechCommands& set = *layout.set;
  const int silence = set.size(data::SpeechSplit::kTrain) - 1;
  ASSERT_EQ(set.label(data::SpeechSplit::kTrain, silence), 0);
  EXPECT_TRUE(set.clip_path(data::SpeechSplit::kTrain, silence).empty());
  const Samples source = layout_noise(2.5);
  // Evaluation: the window drawn when the set was opened, whatever the seed.
  const Samples fixed = load(set, data::SpeechSplit::kTrain, silence, false, 1);
  EXPECT_EQ(load(set, data::SpeechSplit::kTrain, silence, false, 2), fixed);
  EXPECT_TRUE(is_scaled_window(fixed, source));
  // Training: a fresh window per seed.
  std::set<int> offsets;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    int offset = -1;
    EXPECT_TRUE(is_scaled_window(load(set, data::SpeechSplit::kTrain, silence, true, seed), source, &offset)) << seed;
    offsets.insert(offset);
  }
  EXPECT_GT(offsets.size(), 3u);
}

TEST(SpeechCommands, TrainingShiftStaysWithinTheBound) {
  data::SpeechCommandsOptions o = two_keywords();
  o.background_frequency = 0;  // the shift alone
  const ClipLayout layout(o);
  const int ramp_clip = layout.index_of("a2_nohash_0.wav");
  int low = 0, high = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const int s = shift_of(load(*layout.set, data::SpeechSplit::kTrain, ramp_clip, true, seed), ramp(kClip));
    ASSERT_LE(std::abs(s), 1600) << "seed " << seed << ": not a shift of at most 100 ms";
    low = std::min(low, s), high = std::max(high, s);
  }
  EXPECT_LT(low, -1300);
  EXPECT_GT(high, 1300);
}

TEST(SpeechCommands, TrainingNoiseIsMixedWithTheConfiguredFrequencyAndVolume) {
  data::SpeechCommandsOptions o = two_keywords();
  o.time_shift_ms = 0;  // the noise alone
  const ClipLayout layout(o);
  const int clip = layout.index_of("a3_nohash_0.wav");
  const Samples source = layout_noise(2.5);
  int mixed = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Samples out = load(*layout.set, data::SpeechSplit::kTrain, clip, true, seed);
    Samples added(out.size());
    for (size_t j = 0; j < out.size(); ++j) added[j] = int16_t(out[j] + 700);
    if (added == constant(kClip, 0)) continue;
    ++mixed;
    int max_added = 0;
    for (int16_t v : added) max_added = std::max(max_added, std::abs(int(v)));
    EXPECT_LE(max_added, 201) << "seed " << seed << ": louder than 0.1 x the noise";  // |noise| <= 2000
    if (mixed <= 25) {  // the window search is slow under the sanitizers; a sample of the seeds suffices
      EXPECT_TRUE(is_scaled_window(added, source)) << "seed " << seed;
    }
  }
  EXPECT_GT(mixed, 140);  // 0.8 of 200, a few quiet draws aside
  EXPECT_LT(mixed, 185);
}

TEST(SpeechCommands, AugmentationDependsOnlyOnSeedAndIndex) {
  const ClipLayout layout;
  const data::SpeechCommands& set = *layout.set;
  const int n = set.size(data::SpeechSplit::kTrain);
  std::vector<Samples> sequential;
  for (int i = 0; i < n; ++i) sequential.push_back(load(set, data::SpeechSplit::kTrain, i, true, 42));
  // In parallel, in reverse, many times over: the same clips.
  std::vector<Samples> parallel(size_t(n) * 8);
  tbb::parallel_for(0, n * 8, [&](int k) { parallel[size_t(k)] = load(set, data::SpeechSplit::kTrain, n - 1 - k % n, true, 42); });
  for (int k = 0; k < n * 8; ++k) EXPECT_EQ(parallel[size_t(k)], sequential[size_t(n - 1 - k % n)]);
  int differing = 0;
  for (int i = 0; i < n; ++i) differing += load(set, data::SpeechSplit::kTrain, i, true, 43) != sequential[size_t(i)];
  EXPECT_GE(differing, n - 1);

  // A split view is the same source.
  auto shared = std::make_shared<const data::SpeechCommands>(layout.dir.path.string(), set.options());
  const data::SpeechCommandsSplit train(shared, data::SpeechSplit::kTrain);
  EXPECT_EQ(train.size(), n);
  EXPECT_EQ(train.num_classes(), 4);
  EXPECT_EQ(train.label(0), set.label(data::SpeechSplit::kTrain, 0));
  Samples out(kClip);
  train.load_clip(2, true, 42, out.data());
  EXPECT_EQ(out, sequential[2]);
  EXPECT_TRUE(contains(train.describe(), "(train)"));
  EXPECT_EQ(data::SpeechCommandsSplit(shared, data::SpeechSplit::kTest).size(), 0);
  EXPECT_THROW(train.load_clip(n, false, 0, out.data()), std::out_of_range);
  EXPECT_THROW(train.load_clip(-1, false, 0, out.data()), std::out_of_range);
}

// ---- Speech Commands: errors ---------------------------------------------------------------------

TEST(SpeechCommands, ErrorsNameThePath) {
  TempDir dir;
  const fs::path root = dir.path / "set";
  const auto open_message = [&](const data::SpeechCommandsOptions& o = two_keywords()) {
    return input_error_message([&] { data::SpeechCommands(root.string(), o); });
  };
  EXPECT_TRUE(contains(open_message(), root.string() + "' does not exist"));

  Layout layout;
  layout.words = {{"cat", speaker_files("a", 2)}};
  write_layout(root, layout);
  std::string message = open_message();
  EXPECT_TRUE(contains(message, root.string()) && contains(message, "no keyword folders")) << message;

  layout.words = {{"yes", speaker_files("a", 2)}};
  write_layout(root, layout);
  message = open_message();
  EXPECT_TRUE(contains(message, (root / "no").string() + "' does not exist")) << message;

  fs::create_directories(root / "no");
  message = open_message();
  EXPECT_TRUE(contains(message, (root / "no").string()) && contains(message, "no .wav files")) << message;

  data::write_wav((root / "no/a0_nohash_0.wav").string(), ramp(100));
  EXPECT_EQ(open_message(), "<no exception>");

  // Lists: a listed clip that is missing, a clip in both lists, one list alone.
  write_bytes(root / "validation_list.txt", "yes/a0_nohash_0.wav\nyes/gone_nohash_0.wav\n");
  message = open_message();
  EXPECT_TRUE(contains(message, "testing_list.txt")) << message;
  write_bytes(root / "testing_list.txt", "no/a0_nohash_0.wav\n");
  message = open_message();
  EXPECT_TRUE(contains(message, (root / "yes/gone_nohash_0.wav").string()) && contains(message, "validation_list.txt")) << message;
  write_bytes(root / "validation_list.txt", "yes/a0_nohash_0.wav\n");
  write_bytes(root / "testing_list.txt", "yes/a0_nohash_0.wav\n");
  message = open_message();
  EXPECT_TRUE(contains(message, (root / "yes/a0_nohash_0.wav").string()) && contains(message, "both")) << message;
  fs::remove(root / "validation_list.txt");
  fs::remove(root / "testing_list.txt");

  // Background noise: needed for silence only; a noise file must hold 1 s.
  fs::remove_all(root / "_background_noise_");
  message = open_message();
  EXPECT_TRUE(contains(message, root.string()) && contains(message, "_background_noise_")) << message;
  data::SpeechCommandsOptions no_silence = two_keywords();
  no_silence.silence_percentage = 0;
  EXPECT_EQ(open_message(no_silence), "<no exception>");
  fs::create_directories(root / "_background_noise_");
  message = open_message();
  EXPECT_TRUE(contains(message, (root / "_background_noise_").string())) << message;
  data::write_wav((root / "_background_noise_/short.wav").string(), ramp(kClip - 1));
  message = open_message();
  EXPECT_TRUE(contains(message, (root / "_background_noise_/short.wav").string())) << message;
  data::write_wav((root / "_background_noise_/short.wav").string(), ramp(kClip));
  EXPECT_EQ(open_message(), "<no exception>");

  // A broken clip is found when it is loaded, and named.
  const std::string broken = (root / "yes/a1_nohash_0.wav").string();
  write_bytes(broken, wav_bytes(8000, 1, 16, 1, pcm16_data(ramp(100))));
  const data::SpeechCommands set(root.string(), two_keywords());
  Samples out(kClip);
  for (data::SpeechSplit split : kSplits)
    for (int i = 0; i < set.size(split); ++i)
      if (set.clip_path(split, i) == broken) {
        message = input_error_message([&] { set.load_clip(split, i, true, 0, out.data()); });
        EXPECT_TRUE(contains(message, broken) && contains(message, "8000 Hz")) << message;
      }
  EXPECT_TRUE(contains(message, broken)) << "the broken clip is in no split";

  // Options out of range.
  data::SpeechCommandsOptions bad = two_keywords();
  bad.keywords = {"yes", "yes"};
  EXPECT_TRUE(contains(open_message(bad), "twice"));
  bad = two_keywords();
  bad.keywords = {"_silence_"};
  EXPECT_TRUE(contains(open_message(bad), "_silence_"));
  bad = two_keywords();
  bad.validation_percentage = 60;
  bad.testing_percentage = 50;
  EXPECT_TRUE(contains(open_message(bad), "testing_percentage"));
  bad = two_keywords();
  bad.background_frequency = 1.5;
  EXPECT_TRUE(contains(open_message(bad), "background_frequency"));
}

// ---- The generator -------------------------------------------------------------------------------

TEST(MakeSpeechSet, GeneratedSetReadsBackWithBothSplitRules) {
  if (std::system("command -v espeak-ng > /dev/null && command -v sox > /dev/null") != 0)
    GTEST_SKIP() << "espeak-ng and sox are not installed";
  TempDir dir;
  const std::string script = std::string(TINYNAS_SOURCE_DIR) + "/scripts/make_speech_set.sh";
  const fs::path listed = dir.path / "listed", hashed = dir.path / "hashed", log = dir.path / "log.txt";
  const auto run = [&](const std::string& arguments) {
    return std::system((script + " " + arguments + " > '" + log.string() + "' 2>&1").c_str());
  };
  ASSERT_EQ(run("'" + listed.string() + "' --speakers 3 --utterances 1 --seed 7"), 0) << read_bytes(log);
  ASSERT_EQ(run("'" + hashed.string() + "' --speakers 3 --utterances 1 --seed 7 --no-lists"), 0) << read_bytes(log);
  EXPECT_NE(run("'" + hashed.string() + "' --speakers 3"), 0);  // exists already
  EXPECT_NE(run("'" + (dir.path / "x").string() + "' --speakers 0"), 0);
  EXPECT_FALSE(fs::exists(dir.path / "x"));

  // 3 speakers: one each for validation and test; per split 10 keyword clips, ceil(1) silence,
  // 1 of the 10 unknown-word clips.
  const data::SpeechCommands set(listed.string());
  EXPECT_TRUE(set.split_from_lists());
  EXPECT_EQ(set.num_classes(), 12);
  EXPECT_EQ(set.background_noise_count(), 4);
  std::map<std::string, data::SpeechSplit> split_of_speaker;
  Samples clip(kClip);
  for (data::SpeechSplit split : kSplits) {
    EXPECT_EQ(set.size(split), 12) << data::speech_split_name(split);
    for (int i = 0; i < set.size(split); ++i) {
      set.load_clip(split, i, false, 0, clip.data());
      const std::string path = set.clip_path(split, i);
      if (path.empty()) {
        EXPECT_NE(clip, Samples(kClip, 0));  // a noise window at a random volume
        continue;
      }
      double energy = 0;
      for (int16_t v : clip) energy += double(v) * v;
      EXPECT_GT(std::sqrt(energy / kClip), 300) << path;  // a spoken word
      const auto [it, first] = split_of_speaker.emplace(data::speech_speaker_of(path), split);
      EXPECT_EQ(it->second, split) << path;
      set.load_clip(split, i, true, 1, clip.data());
    }
  }
  EXPECT_EQ(split_of_speaker.size(), 3u);

  // --no-lists: the same clips (same seed), no lists, the reader's hashed split.
  EXPECT_FALSE(fs::exists(hashed / "validation_list.txt"));
  EXPECT_FALSE(fs::exists(hashed / "testing_list.txt"));
  int clips = 0;
  for (const auto& entry : fs::recursive_directory_iterator(listed))
    if (entry.path().extension() == ".wav") {
      ++clips;
      EXPECT_EQ(read_bytes(entry.path()), read_bytes(hashed / entry.path().lexically_relative(listed))) << entry.path();
    }
  EXPECT_EQ(clips, 3 * 20 + 4);
  const data::SpeechCommands from_hash(hashed.string());
  EXPECT_FALSE(from_hash.split_from_lists());
  int total = 0;
  for (data::SpeechSplit split : kSplits) total += from_hash.size(split);
  EXPECT_GE(total, 30 + 3);  // all 30 keyword clips, and some silence and unknown
}
