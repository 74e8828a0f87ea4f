#pragma once
// A deterministic in-memory data set for supernet tests: class k images are noise around a class-specific
// brightness pattern, so a network can learn something in a few steps. Training batches flip images
// horizontally from derive_seed(seed, index), like the real readers.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/core/rng.h"
#include "tinynas/supernet/dataset.h"

namespace tinynas_test {

class SyntheticImages : public tinynas::data::Dataset {
 public:
  SyntheticImages(int count, int classes, int channels, uint64_t seed = 1)
      : count_(count), classes_(classes), channels_(channels), seed_(seed) {}
  int size() const override { return count_; }
  int num_classes() const override { return classes_; }
  int channels() const override { return channels_; }
  int64_t label(int i) const override { return i % classes_; }
  std::string describe() const override { return "synthetic"; }
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override {
    for (size_t j = 0; j < idx.size(); ++j) {
      const int i = idx[j];
      tinynas::core::Rng noise(tinynas::core::derive_seed(seed_, uint64_t(i)));
      const bool flip = train && (tinynas::core::Rng(tinynas::core::derive_seed(seed, uint64_t(i))).next() & 1);
      const int k = int(label(i));
      for (int y = 0; y < r; ++y)
        for (int x = 0; x < r; ++x)
          for (int c = 0; c < channels_; ++c) {
            const int xs = flip ? r - 1 - x : x;
            const int base = ((xs * (k + 1)) / r) % 2 ? 40 + 20 * k : 200 - 10 * k;
            const int v = base + int(noise.below(41)) - 20;
            out[((j * size_t(r) + size_t(y)) * size_t(r) + size_t(x)) * size_t(channels_) + size_t(c)] =
                uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
          }
    }
  }

 private:
  int count_, classes_, channels_;
  uint64_t seed_;
};

}  // namespace tinynas_test
