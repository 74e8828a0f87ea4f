#pragma once
// The export pipeline: a network (a subnet of a trained supernet, an extracted subnet file, random
// weights, or an ONNX file) with its calibration and test images, deployed as a firmware bundle
// (engine::deploy) with its ONNX files beside it; optionally its float vs int8 top-1.
#include <cstdint>
#include <optional>
#include <string>

#include "tinynas/engine/deploy.h"
#include "tinynas/nas/config.h"
#include "tinynas/nas/input_files.h"
#include "tinynas/search_space/space.h"

namespace tinynas::nas {

struct ExportRequest {
  Experiment experiment;
  // The network: arch_spec (typed), else arch ("largest", "smallest", an arch JSON file; with
  // random_weights also a network JSON), subnet (an extracted subnet file) or onnx: exactly one.
  std::optional<search_space::ArchSpec> arch_spec;
  std::string arch, subnet, onnx;
  std::string supernet;  // with an arch: the supernet file ("" = the experiment's)
  bool random_weights = false;
  std::string target;    // an MCU profile (name or YAML) or a board name; "" = the experiment's MCU
  std::string out;       // the bundle directory: new, empty or a bundle written before
  bool force = false;    // replace `out` even when it holds other files
  bool run_on_emulator = false;  // also build for the QEMU machine of the target's core and run there
  // The schedule (engine/patch.h): "" layer by layer, "auto" the smallest arena (then the fewest extra
  // MACs, at most max_extra_macs_percent of the network's when that is >= 0), or "n@s".
  std::string patch;
  double max_extra_macs_percent = -1;
  // The calibration inputs: a folder of images (JPEG, PNG, at any depth), one image or a .npy file of
  // float inputs (nas/input_files.h). "" = the experiment's training images for a network trained on
  // them, else random inputs (with a warning). An ONNX model whose file does not state its input
  // quantization gets its input scale and zero point from these inputs' range.
  std::string calibration_data;
  ImagePreprocessing preprocessing;  // of calibration images
  int calibration_images = 128;
  int test_inputs = 4;
  int eval_images = 0;   // float vs int8 top-1 on this many test images; -1 = the whole test split
  engine::QuantizeOptions quantize;
  uint64_t seed = 1;     // random weights and random inputs
  int threads = 0;       // LibTorch threads; 0 = the experiment's
};

struct Int8Accuracy {
  int images = 0;
  double float_top1 = 0, int8_top1 = 0;  // percent
  double agreement = 0;                  // percent of images where both predict the same class
};

struct ExportResult {
  engine::Deployment deployment;
  std::string board;                    // the board built for
  engine::PatchSchedule patch;          // the schedule the firmware runs
  std::string network_name;
  int64_t layers = 0;
  std::optional<Int8Accuracy> accuracy;  // when eval_images != 0
  std::string accuracy_split = "test";    // its images: "test", or "holdout" for data without a test split
  std::string calibrated_on;              // what the activation ranges were measured on
  std::string float_onnx, int8_onnx;    // the ONNX files in the bundle
};

// Throws InputError for a bad request (no network or two, data that does not fit the network, an
// emulator the target's core lacks), RuntimeFailure as engine::deploy does.
ExportResult export_network(const ExportRequest& request);

}  // namespace tinynas::nas
