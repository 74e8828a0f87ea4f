#pragma once
// A network's inputs from the user's files: images (JPEG, PNG) with a stated preprocessing, and NumPy
// .npy arrays of float inputs in ONNX's layout. Calibration sets (export --calibration) are built from
// them. Every input comes out as the engine takes it: float, NHWC, the network's input shape.
#include <cstdint>
#include <string>
#include <vector>

namespace tinynas::nas {

// The network's input shape.
struct InputShape {
  int height = 1, width = 1, channels = 1;
  size_t elements() const { return size_t(height) * size_t(width) * size_t(channels); }
};

// How an image becomes the network's input: resized whole (bilinear) to the input's size, then
// x = (pixel / 255 - mean[c]) / std[c] per channel (torchvision's convention). One value applies to
// every channel; empty = mean 0, std 1 (inputs in [0, 1]).
struct ImagePreprocessing {
  std::vector<float> mean, std;
};

// Throws InputError unless mean and std have 0, 1 or `channels` values and every std is positive.
void check_preprocessing(const ImagePreprocessing& pre, int channels);

// One image file as the network's input (1 or 3 channels). Throws InputError naming the file.
std::vector<float> read_image_input(const std::string& path, const InputShape& shape, const ImagePreprocessing& pre);

// The inputs of a .npy file of float32 or float64 values, C order, of shape [N,C,H,W] or [C,H,W]
// ([N,C] or [C] for an input without H and W): ONNX's layout, returned in NHWC. Throws InputError
// naming the file for another type, shape or size, a truncated file or a malformed header.
std::vector<std::vector<float>> read_npy_inputs(const std::string& path, const InputShape& shape);

// The inputs of one file: an image (by its extension: .jpg, .jpeg, .png) or a .npy file.
std::vector<std::vector<float>> read_inputs(const std::string& path, const InputShape& shape,
                                            const ImagePreprocessing& pre);

// A calibration set: up to `count` inputs from `path`, a folder (its JPEG and PNG files at any depth,
// a seeded sample of `count` when there are more) or a .npy file (its first `count`).
std::vector<std::vector<float>> load_calibration_inputs(const std::string& path, const InputShape& shape, int count,
                                                        uint64_t seed, const ImagePreprocessing& pre);

}  // namespace tinynas::nas
