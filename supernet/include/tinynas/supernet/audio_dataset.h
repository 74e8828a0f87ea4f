#pragma once
// Keyword spotting as a Dataset: the clips of a Speech Commands split turned into the MFCC features of
// the audio front-end (engine/audio_frontend.h), one frames x coefficients x 1 "image" per clip.
//
// The features are quantized exactly as the MCU quantizes them (quantize_audio_features) and stored
// as uint8 = int8 + 128, so that the fixed input mapping (u8 - 128) / 128 hands the network q / 128:
// a network trained on these batches takes the MCU's int8 features as its int8 input unchanged.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/audio_frontend.h"
#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/speech_commands.h"

namespace tinynas::data {

class AudioFeatureDataset : public Dataset {
 public:
  // Builds the front-end's tables once. Throws core::InputError naming the field for a config the
  // front-end cannot run, or whose clip is not the 1 s at 16 kHz that Speech Commands delivers.
  explicit AudioFeatureDataset(SpeechCommandsSplit clips, engine::AudioFrontendConfig config = {});

  int size() const override { return clips_.size(); }
  int num_classes() const override { return clips_.num_classes(); }
  int channels() const override { return 1; }
  int64_t label(int i) const override { return clips_.label(i); }
  std::string describe() const override;
  // The coefficients per frame, whatever r: the features' width is fixed by the front-end.
  int width(int r) const override;
  // The height every batch must be asked for: the front-end's frames per clip (49 by default).
  int frames() const { return config_.frames(); }

  // Writes clips `idx` as idx.size() x frames() x coefficients x 1 uint8 (int8 feature + 128). train:
  // the split's training augmentation (time shift, background noise, fresh silence), drawn per clip
  // from derive_seed(seed, idx[j]), so a batch is the same whatever the thread count or batch split.
  // Throws core::InputError unless r == frames(), std::out_of_range for an index outside the split.
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override;

  const SpeechCommandsSplit& clips() const { return clips_; }
  const engine::AudioFrontendConfig& config() const { return config_; }
  const engine::AudioFeatureQuantization& quantization() const { return quantization_; }

 private:
  // The uint8 features of clip i into out[0 .. frames x coefficients).
  void load_one(int i, bool train, uint64_t seed, uint8_t* out) const;

  SpeechCommandsSplit clips_;
  engine::AudioFrontendConfig config_;
  engine::AudioFrontendTables tables_;
  engine::AudioFeatureQuantization quantization_;
};

}  // namespace tinynas::data
