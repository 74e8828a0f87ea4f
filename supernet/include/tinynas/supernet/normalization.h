#pragma once
// How raw uint8 pixels become a network's input. Every network here is fed x = (pixel - 128) / 128
// (the MCU's int8 input is pixel - 128); a per-channel normalization (pixel - mean[c]) / std[c] is
// applied by the network's stem after its zero padding (image borders = pixel 128), so that it folds
// exactly into the stem's weights and BN when the network goes to the engine.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/supernet/dataset.h"

namespace tinynas::data {

struct Normalization {
  std::vector<double> mean, std;  // per channel, in pixel units; both empty = the fixed map alone

  bool is_fixed() const { return mean.empty(); }
  // "fixed" or "mean 125.3/123.0/113.9, std 63.0/62.1/66.7".
  std::string describe() const;
  bool operator==(const Normalization& o) const { return mean == o.mean && std == o.std; }
  bool operator!=(const Normalization& o) const { return !(*this == o); }
};

// Throws core::InputError (prefixed with `at`) unless mean and std both hold one value per channel,
// means lie within [0, 255] and standard deviations within (0, 255].
void check_normalization(const Normalization& n, int channels, const std::string& at);

// Per-channel mean and standard deviation of the evaluation-transform images of `data` at r x r, over
// at most max_images of them (a seeded sample when the set is larger; 0 = all). A standard deviation
// below one pixel (a constant channel) is taken as one.
Normalization measure_normalization(const Dataset& data, int r, int max_images, uint64_t seed);

}  // namespace tinynas::data
