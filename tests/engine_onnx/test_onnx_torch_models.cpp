// Networks as users export them: torchvision's mobile networks and MLPerf Tiny's ResNet-8 and DS-CNN,
// written by python3-torch's torch.onnx.export (default opset, a dynamic batch axis) with PyTorch's own
// outputs for a batch of two random inputs (torch_models.py). Each either imports and matches PyTorch
// item by item, or is refused with an InputError that names what the engine lacks.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "onnx_test_util.h"
#include "test_helpers.h"
#include "tinynas/engine/deploy.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/engine/quantize.h"

using namespace tinynas::engine;
using tinynas_test::chw_to_hwc;
using tinynas_test::hwc_to_chw;
using tinynas_test::input_error_message;
using tinynas_test::read_bytes;
using tinynas_test::TempDir;

namespace {

struct TorchNetwork {
  std::string name;
  std::string refusal;  // "" when it imports; else a part of the InputError's message
};

// What the engine takes today; a refusal names the first op or attribute it lacks.
const std::vector<TorchNetwork> kNetworks = {
    {"mobilenet_v2_w035", ""},
    {"mnasnet0_5", ""},
    {"resnet8", ""},
    {"mobilenet_v3_small", ""},
    {"shufflenet_v2_x0_5", ""},
    {"ds_cnn", ""},
    {"conv_windows", ""},
    {"upsample_fpn", ""},
};

std::vector<float> read_floats(const std::string& path) {
  const std::string bytes = read_bytes(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

class TorchExport : public ::testing::TestWithParam<TorchNetwork> {};

TEST_P(TorchExport, ImportsAndMatchesPyTorchOrIsRefusedByName) {
  const TorchNetwork& net = GetParam();
  TempDir dir;
  const std::string script = std::string(TINYNAS_SOURCE_DIR) + "/tests/engine_onnx/torch_models.py";
  const std::string command = "/usr/bin/python3 " + script + " " + net.name + " " + dir.path.string() +
                              " > " + (dir.path / "log").string() + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0)
      << "torch_models.py failed (apt-get install python3-torch python3-torchvision):\n"
      << read_bytes((dir.path / "log").string());
  const std::string base = (dir.path / net.name).string();

  if (!net.refusal.empty()) {
    const std::string message = input_error_message([&] { import_onnx(base + ".onnx"); });
    EXPECT_NE(message.find(net.refusal), std::string::npos) << message;
    return;
  }
  const FloatModel m = import_onnx(base + ".onnx");
  const auto shapes = nlohmann::json::parse(read_bytes(base + ".json"));
  const int batch = shapes["batch"];
  const Tensor& tin = m.graph.tensors[size_t(m.graph.input)];
  const Tensor& tout = m.graph.tensors[size_t(m.graph.output)];
  const std::vector<float> x = read_floats(base + ".input.f32"), y = read_floats(base + ".output.f32");
  ASSERT_EQ(x.size(), size_t(batch * tin.elements()));
  ASSERT_EQ(y.size(), size_t(batch * tout.elements()));
  for (int b = 0; b < batch; ++b) {
    const std::vector<float> item(x.begin() + b * tin.elements(), x.begin() + (b + 1) * tin.elements());
    const std::vector<float> got = hwc_to_chw(run_float(m, chw_to_hwc(item, tin)), tout);
    float max_error = 0.0f;
    for (size_t i = 0; i < got.size(); ++i) max_error = std::max(max_error, std::abs(got[i] - y[size_t(b) * got.size() + i]));
    EXPECT_LE(max_error, 1e-4f) << "item " << b;
    std::printf("%s item %d: float max |engine - PyTorch| = %.3g over %zu outputs\n", net.name.c_str(), b,
                double(max_error), got.size());
  }

  // int8 against float on inputs distributed as PyTorch's (standard normal): the input's and every
  // activation's range from 16 inputs; on 32 others, the largest error of the dequantized int8 outputs as
  // a fraction of the float outputs' range. (Top-1 agreement says nothing here: with random weights the
  // float network answers the same class to every input.)
  {
    FloatModel calibrated = m;
    std::mt19937 gen(3);
    std::normal_distribution<float> normal;
    auto draw = [&](int n) {
      std::vector<std::vector<float>> xs(size_t(n), std::vector<float>(size_t(tin.elements())));
      for (auto& x : xs)
        for (float& v : x) v = normal(gen);
      return xs;
    };
    const auto calibration = draw(16), evaluation = draw(32);
    fit_input_quantization(calibrated, calibration);
    const QuantizedModel qm = quantize(calibrated, calibration);
    Int8Interpreter interpreter(qm);
    float lo = INFINITY, hi = -INFINITY, error = 0.0f;
    for (const auto& x : evaluation) {
      const auto f = run_float(calibrated, x);
      const auto q = dequantize_output(qm, interpreter.run(quantize_input(qm, x)));
      for (size_t i = 0; i < f.size(); ++i) {
        lo = std::min(lo, f[i]);
        hi = std::max(hi, f[i]);
        error = std::max(error, std::abs(q[i] - f[i]));
      }
    }
    std::printf("%s: int8 max error %.3f of the float outputs' range\n", net.name.c_str(), double(error / (hi - lo)));
    EXPECT_LE(error, 0.05f * (hi - lo));
  }

  // On the emulated Cortex-M4: the firmware's outputs equal the host build's bit for bit (deploy
  // throws otherwise) and the integer reference's.
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  DeployOptions d;
  d.out = (dir.path / "bundle").string();
  d.calibration_inputs = random_image_inputs(m.graph, 16, 1);
  std::mt19937 rng(2);
  for (int i = 0; i < 2; ++i) {
    std::vector<uint8_t> pixels(size_t(tin.elements()));
    for (uint8_t& p : pixels) p = uint8_t(rng() & 0xff);
    d.bundle.test_inputs.push_back(quantize_pixels(pixels));
  }
  d.board = d.emulator = &board_by_name("mps2-an386");
  const Deployment deployed = deploy(m, d);
  ASSERT_TRUE(deployed.run.has_value());
  Int8Interpreter reference(deployed.model);
  for (size_t i = 0; i < d.bundle.test_inputs.size(); ++i)
    EXPECT_EQ(deployed.run->output.inferences[i].output, reference.run(d.bundle.test_inputs[i]));
  std::printf("%s on mps2-an386: bit-identical, %.2f instructions/MAC, arena %lld B\n", net.name.c_str(),
              double(deployed.run->instructions) / double(deployed.bundle.macs), (long long)deployed.bundle.arena_bytes);
}

INSTANTIATE_TEST_SUITE_P(Networks, TorchExport, ::testing::ValuesIn(kNetworks),
                         [](const ::testing::TestParamInfo<TorchNetwork>& info) { return info.param.name; });

}  // namespace
