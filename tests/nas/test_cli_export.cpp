// `tinynas export` end to end: the shipped Fashion-MNIST network as a firmware bundle run in QEMU
// (bit-identical to the host), an MCUNet zoo network with random weights linked for the STM32H743
// (arena within TinyEngine's measured 260 kB), ONNX in, and its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "run_tinynas.h"
#include "test_helpers.h"
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
