#include "tinynas/supernet/audio_dataset.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <stdexcept>
#include <utility>

#include "tinynas/core/errors.h"
#include "tinynas/supernet/wav.h"

namespace tinynas::data {

namespace {

// Validates first, so that a config Speech Commands cannot feed fails before any table is built.
engine::AudioFrontendConfig checked_config(const engine::AudioFrontendConfig& config) {
  engine::validate_audio_frontend_config(config);
  if (config.clip_samples != SpeechCommands::kClipSamples)
    throw core::InputError("audio front-end: clip_samples is " + std::to_string(config.clip_samples) +
                           " but Speech Commands clips have " + std::to_string(SpeechCommands::kClipSamples) + " samples");
  if (config.sample_rate != kSpeechSampleRate)
    throw core::InputError("audio front-end: sample_rate is " + std::to_string(config.sample_rate) +
                           " Hz but Speech Commands clips are at " + std::to_string(kSpeechSampleRate) + " Hz");
  return config;
}

}  // namespace

AudioFeatureDataset::AudioFeatureDataset(SpeechCommandsSplit clips, engine::AudioFrontendConfig config)
    : clips_(std::move(clips)),
      config_(checked_config(config)),
      tables_(engine::audio_frontend_tables(config_)),
      quantization_(engine::audio_feature_quantization(config_)) {}

std::string AudioFeatureDataset::describe() const {
  return clips_.describe() + " as " + std::to_string(config_.frames()) + " x " + std::to_string(config_.coefficients) +
         " MFCC";
}

int AudioFeatureDataset::width(int) const { return config_.coefficients; }

void AudioFeatureDataset::load_one(int i, bool train, uint64_t seed, uint8_t* out) const {
  std::vector<int16_t> pcm(static_cast<size_t>(SpeechCommands::kClipSamples));
  clips_.load_clip(i, train, seed, pcm.data());
  const std::vector<int8_t> q =
      engine::quantize_audio_features(quantization_, engine::audio_features(config_, tables_, pcm));
  for (size_t j = 0; j < q.size(); ++j) out[j] = uint8_t(int(q[j]) + 128);
}

void AudioFeatureDataset::load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const {
  if (r != frames())
    throw core::InputError(describe() + ": audio inputs have a fixed height of " + std::to_string(frames()) +
                           " frames (the MFCC frames of a 1 s clip), so the resolution must be " +
                           std::to_string(frames()) + ", not " + std::to_string(r));
  for (int i : idx)
    if (i < 0 || i >= size())
      throw std::out_of_range(describe() + ": clip index " + std::to_string(i) + " is outside 0.." +
                              std::to_string(size() - 1));
  const size_t clip_bytes = size_t(frames()) * size_t(config_.coefficients);
  // A clip is a file read and 49 FFTs, about a millisecond: worth a task of its own.
  tbb::parallel_for(tbb::blocked_range<size_t>(0, idx.size(), 1), [&](const tbb::blocked_range<size_t>& range) {
    for (size_t j = range.begin(); j != range.end(); ++j) load_one(idx[j], train, seed, out + j * clip_bytes);
  });
}

}  // namespace tinynas::data
