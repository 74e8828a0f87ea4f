// Keyword spotting through the Dataset interface: a small synthetic Speech Commands root opened with
// data kind speech_commands, its batches checked against the front-end's public API (features of the
// clip, quantized, + 128), silence at the quantized floor, augmentation, determinism and errors.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "speech_fixture.h"
#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/engine/audio_frontend.h"
#include "tinynas/supernet/audio_dataset.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/speech_commands.h"
#include "tinynas/supernet/wav.h"

using namespace tinynas;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kClip = data::SpeechCommands::kClipSamples;
constexpr int kFrames = 49, kCoefficients = 10;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

data::DataConfig speech_config(const fs::path& root) {
  data::DataConfig c;
  c.kind = "speech_commands";
  c.path = root.string();
  c.keywords = {"yes", "no"};
  c.seed = 5;
  return c;
}

std::vector<int> all_of(const data::Dataset& d) {
  std::vector<int> idx(size_t(d.size()));
  for (int i = 0; i < d.size(); ++i) idx[size_t(i)] = i;
  return idx;
}

std::vector<uint8_t> batch(const data::Dataset& d, const std::vector<int>& idx, bool train, uint64_t seed) {
  std::vector<uint8_t> out(idx.size() * kFrames * kCoefficients, uint8_t(77));
  d.load_batch(idx, kFrames, train, seed, out.data());
  return out;
}

class AudioDataset : public ::testing::Test {
 protected:
  void SetUp() override { tinynas_test::write_tone_speech_root(dir.path); }
  TempDir dir;
};

}  // namespace

TEST_F(AudioDataset, SplitsSizesLabelsAndShape) {
  const data::DataConfig c = speech_config(dir.path);
  EXPECT_TRUE(data::has_test_split(c));
  const auto train = data::open_split(c, "train"), holdout = data::open_split(c, "holdout"), test = data::open_split(c, "test");
  EXPECT_EQ(train->size(), 10);
  EXPECT_EQ(holdout->size(), 4);
  EXPECT_EQ(test->size(), 4);
  for (const auto* d : {train.get(), holdout.get(), test.get()}) {
    EXPECT_EQ(d->num_classes(), 4);  // _silence_, _unknown_, yes, no
    EXPECT_EQ(d->channels(), 1);
    EXPECT_EQ(d->width(kFrames), kCoefficients);
    EXPECT_EQ(d->width(32), kCoefficients);
    EXPECT_TRUE(contains(d->describe(), dir.path.string())) << d->describe();
  }
  // The holdout is the validation split, example for example, and every class is in it once.
  const data::SpeechCommands set(dir.path.string(), [] {
    data::SpeechCommandsOptions o;
    o.keywords = {"yes", "no"};
    o.seed = 5;
    return o;
  }());
  std::vector<int> seen(4, 0);
  for (int i = 0; i < holdout->size(); ++i) {
    EXPECT_EQ(holdout->label(i), set.label(data::SpeechSplit::kValidation, i)) << i;
    ++seen[size_t(holdout->label(i))];
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 1, 1, 1}));
  for (int i = 0; i < test->size(); ++i) EXPECT_EQ(test->label(i), set.label(data::SpeechSplit::kTest, i)) << i;
  for (int i = 0; i < train->size(); ++i) EXPECT_EQ(train->label(i), set.label(data::SpeechSplit::kTrain, i)) << i;
  // The set is opened once for all three splits.
  const auto* a = dynamic_cast<const data::AudioFeatureDataset*>(train.get());
  const auto* b = dynamic_cast<const data::AudioFeatureDataset*>(test.get());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(&a->clips().set(), &b->clips().set());
  EXPECT_EQ(a->clips().split(), data::SpeechSplit::kTrain);
  EXPECT_EQ(dynamic_cast<const data::AudioFeatureDataset&>(*holdout).clips().split(), data::SpeechSplit::kValidation);
}

TEST_F(AudioDataset, EvaluationBatchIsTheQuantizedFeaturesOfEachClipPlus128) {
  const data::DataConfig c = speech_config(dir.path);
  const auto holdout = data::open_split(c, "holdout");
  const auto& audio = dynamic_cast<const data::AudioFeatureDataset&>(*holdout);
  const std::vector<uint8_t> got = batch(*holdout, all_of(*holdout), false, 0);

  const engine::AudioFrontendConfig config;
  ASSERT_EQ(config.frames(), kFrames);
  const engine::AudioFrontendTables tables = engine::audio_frontend_tables(config);
  const engine::AudioFeatureQuantization quantization = engine::audio_feature_quantization(config);
  const size_t clip_bytes = size_t(kFrames) * kCoefficients;
  for (int i = 0; i < holdout->size(); ++i) {
    std::vector<int16_t> pcm(static_cast<size_t>(kClip));
    audio.clips().load_clip(i, false, 0, pcm.data());
    const std::vector<int8_t> q = engine::quantize_audio_features(quantization, engine::audio_features(config, tables, pcm));
    ASSERT_EQ(q.size(), clip_bytes);
    int mismatches = 0;
    for (size_t j = 0; j < clip_bytes; ++j) mismatches += got[size_t(i) * clip_bytes + j] != uint8_t(q[j] + 128);
    EXPECT_EQ(mismatches, 0) << "clip " << i << " (label " << holdout->label(i) << ")";
    // The burst lifts mfcc[0] of its middle frame clear of the floor (uint8 0) its silent lead-in is at.
    if (holdout->label(i) != 0) {
      EXPECT_EQ(got[size_t(i) * clip_bytes], 0) << i;
      EXPECT_GT(got[size_t(i) * clip_bytes + size_t(kFrames / 2) * kCoefficients], 10) << i;
    }
  }
}

TEST_F(AudioDataset, SilenceFromZeroNoiseIsTheQuantizedFloor) {
  const auto holdout = data::open_split(speech_config(dir.path), "holdout");
  const std::vector<uint8_t> got = batch(*holdout, all_of(*holdout), false, 0);
  const int zero_point = engine::audio_feature_quantization({}).zero_point;
  int silences = 0;
  for (int i = 0; i < holdout->size(); ++i) {
    if (holdout->label(i) != 0) continue;
    ++silences;
    for (int f = 0; f < kFrames; ++f)
      for (int k = 0; k < kCoefficients; ++k) {
        const int value = got[(size_t(i) * kFrames + size_t(f)) * kCoefficients + size_t(k)];
        // mfcc[0] at the floor is the bottom of the int8 range (-128 + 128); the other coefficients of
        // equal log mel energies are 0, the zero point.
        EXPECT_EQ(value, k == 0 ? 0 : zero_point + 128) << "frame " << f << " coefficient " << k;
      }
  }
  EXPECT_EQ(silences, 1);
}

TEST_F(AudioDataset, TrainingBatchesAreSeededAugmentedAndThreadIndependent) {
  const auto train = data::open_split(speech_config(dir.path), "train");
  const std::vector<int> idx = all_of(*train);
  const std::vector<uint8_t> first = batch(*train, idx, true, 11);
  EXPECT_EQ(batch(*train, idx, true, 11), first);
  EXPECT_NE(batch(*train, idx, true, 12), first);
  EXPECT_NE(batch(*train, idx, false, 11), first);
  // Evaluation ignores the seed.
  EXPECT_EQ(batch(*train, idx, false, 1), batch(*train, idx, false, 2));
  // A clip loaded alone is its row of the batch.
  const size_t clip_bytes = size_t(kFrames) * kCoefficients;
  const std::vector<uint8_t> third = batch(*train, {3}, true, 11);
  EXPECT_TRUE(std::equal(third.begin(), third.end(), first.begin() + 3 * long(clip_bytes)));
  // One thread gives the batch the default parallelism gives.
  std::vector<uint8_t> serial;
  {
    tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
    serial = batch(*train, idx, true, 11);
  }
  EXPECT_EQ(serial, first);
}

TEST_F(AudioDataset, ErrorsNameTheProblem) {
  const data::DataConfig c = speech_config(dir.path);
  const auto train = data::open_split(c, "train");
  std::vector<uint8_t> out(size_t(32) * 32);
  const std::string msg = input_error_message([&] { train->load_batch({0}, 32, false, 0, out.data()); });
  EXPECT_TRUE(contains(msg, "fixed height of 49 frames")) << msg;
  EXPECT_THROW(train->load_batch({train->size()}, kFrames, false, 0, out.data()), std::out_of_range);

  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(c, "validation"); }), "unknown split")) ;
  data::DataConfig no_path = c;
  no_path.path.clear();
  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(no_path, "train"); }), "needs a path"));
  data::DataConfig missing = c;
  missing.path = (dir.path / "nowhere").string();
  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(missing, "train"); }), "nowhere"));
  data::DataConfig transformed = c;
  transformed.transform = data::Transform{data::Transform::Kind::kSmall};
  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(transformed, "train"); }), "transform"));
  data::DataConfig normalized = c;
  normalized.normalize_from_data = true;
  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(normalized, "train"); }), "normalize"));
  data::DataConfig rgb = c;
  rgb.channels = 3;
  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(rgb, "train"); }), "channel"));
  data::DataConfig unknown_keyword = c;
  unknown_keyword.keywords = {"yes", "maybe"};
  EXPECT_TRUE(contains(input_error_message([&] { data::open_split(unknown_keyword, "train"); }), "maybe"));

  // A front-end whose clip is not Speech Commands' 1 s.
  const auto& audio = dynamic_cast<const data::AudioFeatureDataset&>(*train);
  engine::AudioFrontendConfig half_second;
  half_second.clip_samples = kClip / 2;
  EXPECT_TRUE(contains(input_error_message([&] { data::AudioFeatureDataset(audio.clips(), half_second); }), "clip_samples"));
}
