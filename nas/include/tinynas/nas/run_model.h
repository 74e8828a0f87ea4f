#pragma once
// Runs given inputs through a deployed model: the float network, the int8 network on the host (the
// engine's C kernels) and, when asked, the firmware on the emulated Cortex-M, so a user can compare
// with their own framework (tinynas run).
#include <optional>
#include <string>
#include <vector>

#include "tinynas/nas/input_files.h"

namespace tinynas::nas {

struct RunRequest {
  // A bundle directory (its model_float.onnx and model_int8.onnx) or an ONNX file (float; its int8 form
  // too when it is a QDQ file that states the quantization of every tensor it needs).
  std::string model;
  // Images (JPEG, PNG) or .npy files of one or more inputs; WAV clips (16 kHz mono, up to 1 s) for a
  // bundle with the MFCC front-end, which runs them through the firmware's own front-end.
  std::vector<std::string> inputs;
  ImagePreprocessing preprocessing;  // of images; empty = the model's own input map
  std::string emulator;              // a QEMU board (mps2-an386, mps2-an500) to run the firmware on; "" = none
  std::string work_dir;              // for the firmware build ("" = a temporary folder, removed)
};

struct InputRun {
  std::string source;                 // the file (and the index within a .npy file)
  std::vector<float> float_output;    // ONNX's layout (C, or C x H x W)
  std::vector<int8_t> int8_output;    // empty without an int8 model
  std::vector<float> int8_dequantized;
  std::vector<int8_t> firmware_output;  // with an emulator: equal to int8_output (checked)
};

struct RunResult {
  std::string float_model, int8_model;  // the files run ("" when absent)
  std::vector<InputRun> runs;
  bool audio = false;  // a bundle with the MFCC front-end, run on WAV clips
  std::string emulator_board;
  bool firmware_bit_identical = false;  // with an emulator
};

// Throws InputError for a missing or bad model or input, an input of another shape than the model's,
// or an emulator name that is not a QEMU board; RuntimeFailure when the firmware fails.
RunResult run_model(const RunRequest& request);

}  // namespace tinynas::nas
