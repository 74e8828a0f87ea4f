// tinynas run: given inputs through a deployed model (a bundle or an ONNX file): the float network, the
// int8 network on the host and, with --qemu, the firmware on the emulated Cortex-M (nas/run_model.h).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <numeric>

#include "commands.h"
#include "tinynas/nas/run_model.h"

namespace tinynas::cli {

namespace {

struct Options {
  nas::RunRequest request;
  bool qemu = false, json = false;
  std::string mcu = "mps2-an386";
  int top = 5;
};

template <typename T>
std::string top_k(const std::vector<T>& v, int k, const std::vector<float>& shown) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t(0));
  k = std::min<int>(k, int(v.size()));
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](size_t a, size_t b) { return v[a] > v[b]; });
  std::string s;
  for (int i = 0; i < k; ++i) s += fmt::format("{}{} ({:.4g})", i ? ", " : "", order[size_t(i)], shown[order[size_t(i)]]);
  return s;
}

void print(const nas::RunResult& r, const Options& o) {
  if (o.json) {
    nlohmann::ordered_json j;
    j["float_model"] = r.float_model;
    j["int8_model"] = r.int8_model;
    if (!r.emulator_board.empty()) j["emulator"] = {{"board", r.emulator_board}, {"bit_identical", r.firmware_bit_identical}};
    j["outputs"] = nlohmann::json::array();
    for (const auto& run : r.runs) {
      nlohmann::ordered_json e;
      e["input"] = run.source;
      e["float"] = run.float_output;
      if (!run.int8_output.empty()) {
        e["int8"] = run.int8_output;
        e["int8_dequantized"] = run.int8_dequantized;
      }
      if (!run.firmware_output.empty()) e["firmware"] = run.firmware_output;
      j["outputs"].push_back(e);
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  int agree = 0;
  for (const auto& run : r.runs) {
    std::cout << run.source << "\n  float: " << top_k(run.float_output, o.top, run.float_output) << "\n";
    if (!run.int8_output.empty()) {
      std::cout << "  int8:  " << top_k(run.int8_output, o.top, run.int8_dequantized) << "\n";
      agree += std::max_element(run.float_output.begin(), run.float_output.end()) - run.float_output.begin() ==
               std::max_element(run.int8_output.begin(), run.int8_output.end()) - run.int8_output.begin();
    }
  }
  if (!r.int8_model.empty())
    std::cout << fmt::format("float and int8 top-1 agree on {} of {} inputs\n", agree, r.runs.size());
  else
    std::cout << "no int8 model: '" << r.float_model << "' states no quantization (export it to get a bundle)\n";
  if (!r.emulator_board.empty())
    std::cout << fmt::format("{}: the firmware's outputs of {} inputs are bit-identical to the host int8 run\n",
                             r.emulator_board, r.runs.size());
}

}  // namespace

Runner add_run(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run inputs through a bundle (its float and int8 models) or an ONNX file and print the outputs; "
             "--qemu also runs the firmware on the emulated Cortex-M and checks it against the host bit for bit.");
  cmd->add_option("model", o->request.model, "a bundle directory (tinynas export --out) or an ONNX file")->required();
  cmd->add_option("--input", o->request.inputs,
                  "input files: images (JPEG, PNG; resized to the input) or .npy arrays of float32 inputs "
                  "[N,C,H,W] (ONNX's layout); for a bundle with the MFCC front-end, WAV clips (16 kHz mono, up to "
                  "1 s), whose features the firmware's own front-end computes")
      ->required();
  cmd->add_option("--input-mean", o->request.preprocessing.mean,
                  "images: x = (pixel / 255 - mean) / std per channel (default: the model's own map)")
      ->delimiter(',');
  cmd->add_option("--input-std", o->request.preprocessing.std, "images: std of that map")->delimiter(',');
  cmd->add_flag("--qemu", o->qemu, "also build the firmware and run the inputs on the emulated core");
  cmd->add_option("--mcu", o->mcu, "with --qemu: the QEMU board (mps2-an386 = Cortex-M4, mps2-an500 = Cortex-M7)")
      ->capture_default_str();
  cmd->add_option("--top", o->top, "classes shown per input")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "print every output value as JSON (float in ONNX's layout, int8, dequantized)");
  return [o]() {
    nas::RunRequest q = o->request;
    if (o->qemu) q.emulator = o->mcu;
    print(nas::run_model(q), *o);
    return 0;
  };
}

}  // namespace tinynas::cli
