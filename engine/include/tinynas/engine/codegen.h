#pragma once
// The code generator: a quantized model becomes a self-contained firmware bundle.
//
//   model.h / model.c  one direct kernel call per layer with literal shapes and arena offsets from the
//                      memory planner; weights, biases and requantization parameters as const arrays
//                      (Flash); one static arena of exactly the planned size; model_invoke().
//   main.c             runs the model on embedded test inputs and prints, per input, the predicted
//                      class, the output bytes and a checksum, then instructions per layer and in
//                      total and the stack peak (format: parse_firmware_output).
//   patch schedule     (BundleOptions::patch, patch.h) model_invoke_input(input) runs the patch stage's
//                      layers once per patch from per-patch shape tables, reading each patch's input
//                      region from `input` (outside the arena), then the rest layer by layer.
//   frontend.c         a graph with an MFCC front-end: its tables; model_invoke_audio() runs it on the
//                      int16 clip in the arena (model_audio_input()), then the layers.
//   kernels/           the C99 kernels; board support and the Makefile (toolchain.h).
// The same sources build for the host and for every board, so outputs can be compared bit for bit.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/lowering.h"
#include "tinynas/engine/quantize.h"

namespace tinynas::engine {

struct BundleOptions {
  std::vector<std::vector<int8_t>> test_inputs;  // at least one; each the model's int8 input
  // A graph with a front-end takes raw inputs instead (MFCC: int16 clips of clip_samples), at least one.
  std::vector<std::vector<int16_t>> test_audio;
  std::vector<int> test_labels;                  // optional, one per input (printed beside the class)
  // Replace a non-empty directory that is not a firmware bundle (the user's files in it are lost).
  bool replace_any_directory = false;
  // Layer by layer (the default) or patch by patch (patch.h); InputError when the model cannot run it.
  PatchSchedule patch;
};

struct BundleSummary {
  int64_t arena_bytes = 0;     // the planner's arena, the size of the static arena in model.c
  int64_t constant_bytes = 0;  // weights + biases + requantization parameters + layer descriptors
  int64_t test_input_bytes = 0;
  int64_t macs = 0;             // executed per inference: a patch stage's recomputed halos included
  std::vector<std::string> files;  // relative to the bundle directory
};

// Throws InputError unless `dir` may receive a bundle: it does not exist, is an empty directory or a
// bundle written before (any directory with replace_any_directory). Never a file, a symbolic link, the
// working directory or one of its parents. Cheap: callers check before their long work.
void check_bundle_dir(const std::string& dir, bool replace_any_directory);

// Writes the bundle into `dir` (check_bundle_dir first): everything goes to a temporary sibling
// directory, which then replaces `dir` in one rename, so an interrupted export never leaves a
// half-written bundle.
BundleSummary write_bundle(const QuantizedModel& model, const BundleOptions& options, const std::string& dir);

// What a bundle's main.c printed.
struct FirmwareOutput {
  std::string board;
  int64_t arena_bytes = 0;
  struct Inference {
    int predicted = -1;
    int label = -1;
    std::vector<int8_t> output;
    uint32_t checksum = 0;
    uint64_t instructions = 0;  // the whole model_invoke() (with a front-end: model_invoke_audio())
  };
  std::vector<Inference> inferences;
  struct Layer {
    std::string kernel;
    int64_t macs = 0;
    uint64_t instructions = 0;  // of the last inference
  };
  std::vector<Layer> layers;
  uint64_t frontend_instructions = 0;  // the front-end's part of the last inference (0 without one)
  uint64_t stack_peak_bytes = 0;
};
// Throws RuntimeFailure when the text is not a complete run's output (e.g. the firmware crashed).
FirmwareOutput parse_firmware_output(const std::string& text);

// FNV-1a over the output bytes: the checksum main.c prints.
uint32_t output_checksum(const std::vector<int8_t>& output);

}  // namespace tinynas::engine
