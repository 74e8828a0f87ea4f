#pragma once
// Accuracy of a network on a data set, BN recalibration of a supernet's active subnet, and the
// conversion of uint8 image batches into network inputs.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/ofa.h"

namespace tinynas::supernet {

// Network inputs are (pixel - 128) / 128: an int8 input with scale 1/128 and zero point 0 is then just
// the pixel minus 128, so the firmware needs no float preprocessing.
constexpr double kInputScale = 1.0 / 128.0;
constexpr int kInputZeroPixel = 128;

// uint8 NHWC [n, r, r, c] -> float [n, c, r, r] in channels-last memory (LibTorch's fast CPU
// convolution path), normalized as above.
torch::Tensor to_input(const uint8_t* pixels, int64_t n, int64_t r, int64_t c, int64_t w = 0);
// Loads images idx of `data` at resolution r (evaluation transform unless train) as network input.
torch::Tensor load_input(const data::Dataset& data, const std::vector<int>& idx, int r, bool train = false,
                         uint64_t seed = 0);
torch::Tensor labels_of(const data::Dataset& data, const std::vector<int>& idx);

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

struct Accuracy {
  int64_t correct = 0;
  int64_t total = 0;
  double top1() const { return total ? 100.0 * double(correct) / double(total) : 0.0; }
};

// Top-1 of `forward` (called under NoGradGuard; put modules in eval mode first) on every image of
// `data` at resolution r. Batches are loaded in the background while the previous one runs.
Accuracy evaluate(const Forward& forward, const data::Dataset& data, int r, int batch_size = 256);

// The fixed calibration subset: the first `count` images of a seeded permutation of `data`.
std::vector<int> calibration_indices(const data::Dataset& data, int count, uint64_t seed);
// The seed of a training run's calibration subset, from the run's seed.
uint64_t calibration_seed(uint64_t train_seed);

// Re-estimates the running statistics of every BN of the supernet's active subnet from images
// `indices` of `data` (evaluation transform) at resolution r: each BN's running mean and (unbiased)
// variance become the exact statistics of its input over those images, the subnet normalizing with
// batch statistics on the way as in training. Leaves the model in eval mode.
void recalibrate_bn(OFASupernet& net, const data::Dataset& data, const std::vector<int>& indices, int r,
                    int batch_size = 256);

}  // namespace tinynas::supernet
