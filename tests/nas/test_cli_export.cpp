// `tinynas export` end to end: the shipped Fashion-MNIST network as a firmware bundle run in QEMU
// (bit-identical to the host), an MCUNet zoo network with random weights linked for the STM32H743
// (arena within TinyEngine's measured 260 kB), ONNX in, and its errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <regex>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/core/files.h"
#include "tinynas/engine/toolchain.h"

namespace fs = std::filesystem;
using tinynas_test::run_tinynas;
using tinynas_test::TempDir;

namespace {

bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }
bool have_arm_tools() { return tinynas::engine::arm_toolchain_available() && tinynas::engine::qemu_available(); }

int64_t number_after(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern + " ([0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

}  // namespace

TEST(CliExport, ShippedNetworkRunsInQemuBitIdenticalToTheHost) {
  if (!have_fashion_mnist() || !have_arm_tools()) GTEST_SKIP() << "needs dataset-fashion-mnist, arm-none-eabi-gcc, qemu";
  TempDir dir;
  const std::string out = (dir.path / "bundle").string();
  const auto r = run_tinynas("--threads 2 export --arch smallest --mcu qemu-m4 --run-qemu --calibration-images 32 "
                             "--eval-images 300 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("bit-identical to the host build"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("instructions/MAC"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-1 on 300 test images"), std::string::npos) << r.out;
  for (const char* f : {"model.c", "model.h", "main.c", "Makefile", "report.md", "model_float.onnx", "model_int8.onnx"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  // The arena in the ELF is the planner's.
  EXPECT_EQ(number_after(r.out, "arena"), number_after(r.out, "arena in the ELF")) << r.out;
}

TEST(CliExport, OnnxModelExportsAndErrorsAreClear) {
  TempDir dir;
  // The float ONNX file of one export is the input of the next.
  const std::string zoo = std::string(TINYNAS_ZOO_DIR) + "/mcunet-10fps_imagenet.json";
  auto r = run_tinynas("export --arch " + zoo + " --random-weights --mcu host --calibration-images 2 --test-inputs 1 "
                       "--out " + (dir.path / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_tinynas("export --onnx " + (dir.path / "a" / "model_float.onnx").string() +
                  " --mcu host --calibration-images 2 --test-inputs 1 --out " + (dir.path / "b").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir.path / "b" / "model.c"));

  r = run_tinynas("export --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--arch, --subnet or --onnx"), std::string::npos) << r.out;
  r = run_tinynas("export --arch " + zoo + " --random-weights --mcu nosuchboard --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("nosuchboard"), std::string::npos) << r.out;
  r = run_tinynas("export --onnx " + (dir.path / "missing.onnx").string() + " --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("missing.onnx"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path / "c"));
}

namespace {

// A model from elsewhere (torch.onnx.export, no tinynas metadata) calibrated on the user's .npy inputs:
// the int8 input spans their range [-2, 6]: scale 8/255, zero point round(-128 + 2 * 255 / 8) = -64
// (hand-computed). Without --calibration it is calibrated on random inputs, with a warning, and never on
// the experiment's Fashion-MNIST although it takes 1-channel square images.
TEST(CliExport, AnOnnxModelIsCalibratedOnTheUsersInputsOrWarnsOfRandomOnes) {
  TempDir dir;
  const std::string script = dir.write("make.py",
      "import numpy as np, torch\n"
      "torch.manual_seed(0)\n"
      "net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),\n"
      "                          torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()\n"
      "torch.onnx.export(net, torch.zeros(1, 1, 8, 8), 'm.onnx')\n"
      "x = np.random.default_rng(1).uniform(-2, 6, (8, 1, 8, 8)).astype(np.float32)\n"
      "x[0, 0, 0, 0], x[1, 0, 2, 3] = -2, 6\n"
      "np.save('cal.npy', x)\n");
  const std::string command = "cd " + dir.path.string() + " && /usr/bin/python3 " + script + " > make.log 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << tinynas::core::read_text_file((dir.path / "make.log").string());
  const std::string model = (dir.path / "m.onnx").string();

  auto r = run_tinynas("export --onnx " + model + " --mcu host --calibration " + (dir.path / "cal.npy").string() +
                       " --test-inputs 2 --out " + (dir.path / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("calibrated on 8 inputs of '" + (dir.path / "cal.npy").string() + "'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("int8 input scale 0.0313725, zero point -64"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("random inputs"), std::string::npos) << r.out;

  r = run_tinynas("export --onnx " + model + " --mcu host --test-inputs 2 --out " + (dir.path / "b").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("calibrating on random inputs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("calibrated on 128 random inputs"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("fashion"), std::string::npos) << r.out;

  r = run_tinynas("export --onnx " + model + " --mcu host --eval-images 10 --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--eval-images needs a network trained on the experiment's images"), std::string::npos) << r.out;
  r = run_tinynas("export --onnx " + model + " --mcu host --calibration " + (dir.path / "m.onnx").string() +
                  " --out " + (dir.path / "d").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not a NumPy .npy file"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path / "c"));
  EXPECT_FALSE(fs::exists(dir.path / "d"));
}

}  // namespace
