#pragma once
// A float network on the engine graph: the form every source (a trained LibTorch subnet, an ONNX file)
// is brought to before quantization, and the float reference the int8 engine is checked against.
// BatchNorm is already folded into the convolutions. Tensors are NHWC with batch 1.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tinynas/engine/graph.h"

namespace tinynas::engine {

// Weight layouts (row-major):
//   Conv2D, PointwiseConv2D: [out_c][k][k][in_c]   (OHWI)
//   DepthwiseConv2D:         [c][k][k]
//   FullyConnected:          [out][in], `in` in the NHWC order of the input tensor
struct FloatOpParams {
  std::vector<float> weights;  // empty for ops without weights
  std::vector<float> bias;     // per output channel; empty means zero
};

struct FloatModel {
  Graph graph;
  std::vector<FloatOpParams> params;  // one per op
  std::vector<std::string> op_names;  // one per op (e.g. the ONNX node name); may be empty strings

  // The input the network expects, as an affine map from the raw uint8 pixel: x = (pixel - mean) / std.
  // The int8 input of the quantized network is the pixel minus 128, so its scale is 1 / std and its
  // zero point mean - 128.
  float input_mean = 128.0f;
  float input_std = 128.0f;
  // The model file stated mean and std (tinynas's ONNX metadata, or the scale of an integer input); else
  // they are the default above, and calibration inputs may set them (fit_input_quantization).
  bool input_quantization_stated = false;
  // Activation quantization the model file states (the Q/DQ pairs of a QDQ ONNX file), by tensor id:
  // quantize() keeps these instead of calibrating the tensor. int8 zero points.
  struct StatedQuantization {
    float scale = 1.0f;
    int32_t zero_point = 0;
  };
  std::map<int, StatedQuantization> stated_quantization;

  // Checks the graph and that every op has weights and bias of the sizes its shapes imply; throws
  // InputError naming the op.
  void validate() const;
};

// Random weights for a graph (He-uniform weights, small uniform biases): the test and benchmark models.
FloatModel random_float_model(const Graph& g, uint64_t seed);
// Images of uniformly random pixels for a graph's input, as float inputs of the networks trained here:
// (pixel - 128) / 128 (calibration and test inputs for random-weight models).
std::vector<std::vector<float>> random_image_inputs(const Graph& g, int count, uint64_t seed);
// `count` clips of `samples` uniform int16 noise in [-8192, 8191] (-16 dBFS peak): raw inputs for a
// graph with an audio front-end (calibration bundles).
std::vector<std::vector<int16_t>> random_audio_clips(int samples, int count, uint64_t seed);

// The float reference interpreter: runs every op in order and returns the value of every tensor
// (index = tensor id); `input` is the graph input in NHWC. Plain loops with float accumulation: the
// reference for quantization calibration and for the ONNX node tests. Pooling averages over the
// window's elements inside the input (padding excluded, as TF-Lite and ONNX's default).
std::vector<std::vector<float>> run_float_all(const FloatModel& m, const std::vector<float>& input);
// Only the graph output.
std::vector<float> run_float(const FloatModel& m, const std::vector<float>& input);

}  // namespace tinynas::engine
