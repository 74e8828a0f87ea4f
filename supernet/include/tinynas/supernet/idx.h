#pragma once
// The IDX format of MNIST / Fashion-MNIST (big-endian header, then raw uint8 data), read directly from
// the gzip files Debian's dataset-fashion-mnist ships (zlib reads plain files as well).
#include <cstdint>
#include <string>
#include <vector>

namespace tinynas::data {

// Images in NHWC uint8 with one label each.
struct ImageSet {
  int count = 0;
  int height = 0, width = 0, channels = 1;
  std::vector<uint8_t> pixels;  // count * height * width * channels
  std::vector<int64_t> labels;  // count
  int num_classes = 0;          // max label + 1
};

// Reads an idx3 image file and its idx1 label file; throws InputError naming the path for a missing,
// truncated or malformed file, or for image/label counts that disagree.
ImageSet read_idx(const std::string& images_path, const std::string& labels_path);

// Debian's location of Fashion-MNIST.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// split: "train" (60,000 images) or "test" (10,000).
ImageSet load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir);

}  // namespace tinynas::data
