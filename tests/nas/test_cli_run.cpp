// `tinynas run`: given inputs through a bundle and an ONNX file. PyTorch's own outputs are the reference
// for the float run; the firmware on the emulated Cortex-M4 must equal the host int8 run bit for bit.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/core/files.h"
#include "tinynas/engine/toolchain.h"

namespace fs = std::filesystem;
using tinynas_test::run_tinynas;
using tinynas_test::TempDir;

namespace {

// A small network exported by torch.onnx.export, two inputs in a .npy file and PyTorch's outputs.
void make_torch_model(const TempDir& dir) {
  ASSERT_EQ(tinynas_test::run_python(dir,
      "import json, numpy as np, torch\n"
      "torch.manual_seed(0)\n"
      "net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8),\n"
      "                          torch.nn.ReLU6(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),\n"
      "                          torch.nn.Linear(8, 5))\n"
      "for p in net.parameters(): torch.nn.init.uniform_(p, -1, 1)\n"
      "net.eval()\n"
      "torch.onnx.export(net, torch.zeros(1, 3, 12, 10), 'm.onnx', dynamic_axes={'input': {0: 'n'}},\n"
      "                  input_names=['input'])\n"
      "x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 12, 10)).astype(np.float32)\n"
      "np.save('in.npy', x)\n"
      "json.dump(net(torch.from_numpy(x)).tolist(), open('torch.json', 'w'))\n"),
            "");
}

TEST(CliRun, AnOnnxFileRunsToPyTorchsOutputs) {
  TempDir dir;
  make_torch_model(dir);
  const std::string model = (dir.path / "m.onnx").string(), inputs = (dir.path / "in.npy").string();
  auto r = run_tinynas("run " + model + " --input " + inputs + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  const auto torch = nlohmann::json::parse(tinynas::core::read_text_file((dir.path / "torch.json").string()));
  ASSERT_EQ(j["outputs"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(j["outputs"][i]["input"], inputs + "[" + std::to_string(i) + "]");
    ASSERT_EQ(j["outputs"][i]["float"].size(), 5u);
    for (size_t c = 0; c < 5; ++c)
      EXPECT_NEAR(j["outputs"][i]["float"][c].get<double>(), torch[i][c].get<double>(), 1e-4) << i << " " << c;
    EXPECT_FALSE(j["outputs"][i].contains("int8"));
  }
  r = run_tinynas("run " + model + " --input " + inputs);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no int8 model"), std::string::npos) << r.out;

  // Errors: exit 2 naming what is wrong.
  r = run_tinynas("run " + model + " --input " + inputs + " --qemu");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("has none"), std::string::npos) << r.out;
  r = run_tinynas("run " + model + " --input " + (dir.path / "missing.npy").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("missing.npy"), std::string::npos) << r.out;
  r = run_tinynas("run " + (dir.path / "nothing").string() + " --input " + inputs);
  EXPECT_EQ(r.code, 2) << r.out;
}

// A bundle exported from the ONNX file (calibrated on the inputs): run prints float, int8 and, on the
// emulated M4, firmware outputs equal to the host's int8 outputs; the int8 outputs dequantized stay
// near the float ones.
TEST(CliRun, ABundleRunsFloatInt8AndTheFirmwareBitIdentical) {
  if (!tinynas::engine::arm_toolchain_available() || !tinynas::engine::qemu_available())
    GTEST_SKIP() << "needs arm-none-eabi-gcc and qemu-system-arm";
  TempDir dir;
  make_torch_model(dir);
  const std::string inputs = (dir.path / "in.npy").string(), bundle = (dir.path / "bundle").string();
  auto r = run_tinynas("export --onnx " + (dir.path / "m.onnx").string() + " --calibration " + inputs +
                       " --mcu qemu-m4 --out " + bundle);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_tinynas("run " + bundle + " --input " + inputs + " --qemu --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["emulator"]["board"], "mps2-an386");
  EXPECT_EQ(j["emulator"]["bit_identical"], true);
  ASSERT_EQ(j["outputs"].size(), 2u);
  for (const auto& o : j["outputs"]) {
    EXPECT_EQ(o["firmware"], o["int8"]);
    ASSERT_EQ(o["int8_dequantized"].size(), o["float"].size());
    double range = 0;
    for (const auto& v : o["float"]) range = std::max(range, std::abs(v.get<double>()));
    for (size_t c = 0; c < o["float"].size(); ++c)
      EXPECT_NEAR(o["int8_dequantized"][c].get<double>(), o["float"][c].get<double>(), 0.1 * range + 0.05) << c;
  }
  r = run_tinynas("run " + bundle + " --input " + inputs);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("float and int8 top-1 agree on"), std::string::npos) << r.out;
  // A clip for a bundle without the audio front-end.
  const std::string clip = dir.write("clip.wav", "not read");
  r = run_tinynas("run " + bundle + " --input " + clip);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("clip.wav': '" + bundle + "' has no audio front-end"), std::string::npos) << r.out;
}

}  // namespace
