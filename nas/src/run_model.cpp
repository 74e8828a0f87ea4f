#include "tinynas/nas/run_model.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/engine/audio_frontend.h"
#include "tinynas/engine/deploy.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/supernet/wav.h"

namespace fs = std::filesystem;

namespace tinynas::nas {

namespace {

// An engine tensor (NHWC) in ONNX's layout (CHW).
template <typename T>
std::vector<T> to_onnx_layout(const std::vector<T>& hwc, const engine::Tensor& t) {
  std::vector<T> chw(hwc.size());
  const size_t hw = size_t(t.h) * size_t(t.w);
  for (size_t p = 0; p < hw; ++p)
    for (size_t c = 0; c < size_t(t.c); ++c) chw[c * hw + p] = hwc[p * size_t(t.c) + c];
  return chw;
}

// A folder removed when it goes out of scope (the firmware build of a run).
struct ScratchDir {
  fs::path path;
  bool owned = false;
  explicit ScratchDir(const std::string& wanted) {
    if (!wanted.empty()) {
      path = wanted;
      return;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/tinynas-run-XXXXXX";
    if (!mkdtemp(pattern.data())) throw core::RuntimeFailure("cannot create a temporary folder in " + pattern);
    path = pattern;
    owned = true;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (owned) fs::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace

RunResult run_model(const RunRequest& q) {
  if (q.inputs.empty()) throw core::InputError("run: no inputs (--input FILE...)");
  RunResult r;
  std::error_code ec;
  if (fs::is_directory(q.model, ec)) {
    r.float_model = (fs::path(q.model) / "model_float.onnx").string();
    r.int8_model = (fs::path(q.model) / "model_int8.onnx").string();
    if (!fs::exists(r.float_model, ec))
      throw core::InputError("run: '" + q.model + "' is not a bundle (it has no model_float.onnx)");
    if (!fs::exists(r.int8_model, ec)) r.int8_model.clear();
  } else {
    r.float_model = q.model;
  }
  const engine::FloatModel fm = engine::import_onnx(r.float_model);
  // An ONNX file that states its quantization (a QDQ file) is its own int8 model.
  if (r.int8_model.empty() && !fm.stated_quantization.empty() && fm.input_quantization_stated) r.int8_model = r.float_model;
  std::optional<engine::FloatModel> fm8;
  if (!r.int8_model.empty()) {
    fm8 = r.int8_model == r.float_model ? fm : engine::import_onnx(r.int8_model);
    if (!fm8->input_quantization_stated || fm8->stated_quantization.empty())
      throw core::InputError("run: '" + r.int8_model + "' does not state its int8 quantization (not a QDQ file)");
    if (fm8->graph.tensors[size_t(fm8->graph.input)].elements() != fm.graph.tensors[size_t(fm.graph.input)].elements())
      throw core::InputError("run: '" + r.int8_model + "' takes another input than '" + r.float_model + "'");
  }

  // The inputs, images mapped as the model states unless the request says otherwise.
  const engine::Tensor& in = fm.graph.tensors[size_t(fm.graph.input)];
  const engine::Tensor& out = fm.graph.tensors[size_t(fm.graph.output)];
  ImagePreprocessing pre = q.preprocessing;
  if (fm.input_quantization_stated && pre.mean.empty() && pre.std.empty())
    pre = {{fm.input_mean / 255.0f}, {fm.input_std / 255.0f}};
  std::vector<std::vector<float>> inputs;
  // A bundle whose firmware computes its input from audio (it has the MFCC front-end) takes WAV clips:
  // the features are the firmware's own (the fixed-point front-end), mapped to the float input the
  // network was trained on, which the int8 model quantizes back to them exactly. It also takes the
  // features themselves as .npy arrays of that float input.
  std::vector<std::vector<int16_t>> clips;
  r.audio = fs::is_directory(q.model, ec) && core::is_file((fs::path(q.model) / "frontend.c").string());
  // Its tables are built on first use: only audio bundles need them.
  const engine::AudioFrontendFixed* frontend = r.audio ? &engine::default_audio_frontend_fixed() : nullptr;
  if (r.audio) {
    if (!fm8) throw core::InputError("run: the audio bundle '" + q.model + "' has no model_int8.onnx");
    if (int64_t(frontend->config.frames()) * frontend->config.coefficients != in.elements())
      throw core::InputError("run: '" + q.model + "' takes " + std::to_string(in.h) + "x" + std::to_string(in.w) + "x" +
                             std::to_string(in.c) + " inputs, not the front-end's MFCCs");
  }
  for (const auto& file : q.inputs) {
    const std::string extension = fs::path(file).extension().string();
    if (!r.audio && extension == ".wav")
      throw core::InputError("run: '" + file + "': '" + q.model + "' has no audio front-end (it takes images or .npy inputs)");
    if (r.audio && extension != ".wav" && extension != ".npy")
      throw core::InputError("run: '" + file + "': the audio bundle '" + q.model +
                             "' takes WAV clips (16 kHz mono) or .npy arrays of its features");
    if (extension == ".wav") {
      const size_t samples = size_t(frontend->config.clip_samples);
      std::vector<int16_t> pcm = data::read_wav(file);
      if (pcm.size() > samples)
        throw core::InputError("run: '" + file + "' is " + std::to_string(pcm.size()) + " samples long; the model takes " +
                               std::to_string(samples) + " (1 s at 16 kHz)");
      pcm.resize(samples, 0);  // a shorter clip is padded with silence, as Speech Commands clips are
      std::vector<float> x;
      for (int8_t v : frontend->features(pcm)) x.push_back((float(v) + 128.0f - fm8->input_mean) / fm8->input_std);
      inputs.push_back(std::move(x));
      clips.push_back(std::move(pcm));
      r.runs.push_back({file, {}, {}, {}, {}});
      continue;
    }
    const auto read = read_inputs(file, {in.h, in.w, in.c}, pre);
    for (size_t i = 0; i < read.size(); ++i) {
      inputs.push_back(read[i]);
      r.runs.push_back({read.size() > 1 ? file + "[" + std::to_string(i) + "]" : file, {}, {}, {}, {}});
    }
  }
  if (r.audio && !q.emulator.empty() && clips.size() != inputs.size())
    throw core::InputError("run: --qemu runs the audio bundle's firmware on WAV clips only, from its front-end on");

  std::optional<engine::QuantizedModel> qm;
  if (fm8) qm = engine::quantize(*fm8, inputs);  // every scale the file states is kept
  for (size_t i = 0; i < inputs.size(); ++i) {
    InputRun& run = r.runs[i];
    run.float_output = to_onnx_layout(engine::run_float(fm, inputs[i]), out);
    if (qm) {
      const std::vector<int8_t> q8 = engine::run_int8(*qm, engine::quantize_input(*qm, inputs[i]));
      run.int8_output = to_onnx_layout(q8, out);
      run.int8_dequantized = to_onnx_layout(engine::dequantize_output(*qm, q8), out);
    }
  }

  if (!q.emulator.empty()) {
    if (!qm) throw core::InputError("run: --qemu runs the int8 model, and '" + q.model + "' has none");
    const engine::Board& board = engine::board_by_name(q.emulator);
    if (!board.runs_in_qemu()) throw core::InputError("run: '" + q.emulator + "' is not a board QEMU emulates");
    if (!engine::qemu_available()) throw core::InputError("run: qemu-system-arm is not installed");
    ScratchDir scratch(q.work_dir);
    engine::DeployOptions d;
    d.out = (scratch.path / "bundle").string();
    d.bundle.replace_any_directory = true;
    d.calibration_inputs = inputs;
    engine::FloatModel firmware_model = *fm8;
    if (r.audio) {
      // The firmware takes the clips; deploy() checks it against the integer reference's run_audio.
      firmware_model.graph.frontend = engine::Frontend::Mfcc;
      d.bundle.test_audio = clips;
    } else {
      for (const auto& x : inputs) d.bundle.test_inputs.push_back(engine::quantize_input(*qm, x));
    }
    d.board = &board;
    d.emulator = &board;
    spdlog::info("building the firmware for {} and running {} inputs in QEMU", board.name, inputs.size());
    // deploy() throws unless the firmware's outputs equal the host build's and the integer reference's.
    const engine::Deployment deployment = engine::deploy(firmware_model, d);
    r.emulator_board = board.name;
    r.firmware_bit_identical = deployment.run.has_value();
    for (size_t i = 0; deployment.run && i < deployment.run->output.inferences.size() && i < r.runs.size(); ++i) {
      r.runs[i].firmware_output = to_onnx_layout(deployment.run->output.inferences[i].output, out);
      // For clips, the firmware ran its front-end and the host int8 run took the features: equal too.
      if (r.runs[i].firmware_output != r.runs[i].int8_output)
        throw core::RuntimeFailure("run: the firmware's output of '" + r.runs[i].source + "' differs from the host int8 run");
    }
  }
  return r;
}

}  // namespace tinynas::nas
