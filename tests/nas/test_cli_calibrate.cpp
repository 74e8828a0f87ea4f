// tinynas calibrate end to end: in QEMU it writes a latency model that loads and was validated; bad
// combinations exit 2. (The real-board path is tested on the library: test_latency_model.cpp.)
#include <gtest/gtest.h>

#include <filesystem>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/latency_model.h"

using namespace tinynas;
using tinynas_test::run_tinynas;
namespace fs = std::filesystem;

namespace {
bool tools() { return engine::arm_toolchain_available() && engine::qemu_available(); }
}  // namespace

TEST(CliCalibrate, QemuWritesAValidatedModel) {
  if (!tools()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  tinynas_test::TempDir tmp;
  const std::string out = (tmp.path / "qemu-m4.yaml").string();
  const auto r = run_tinynas("calibrate --mcu qemu-m4 --subnets 2 --validate 1 --seed 3 --work " +
                             (tmp.path / "work").string() + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const evaluator::LatencyModel m = evaluator::load_latency_model(out);
  EXPECT_EQ(m.mcu, "qemu-m4");
  EXPECT_EQ(m.unit, "instructions");
  EXPECT_EQ(m.clock_hz, 100e6);
  EXPECT_EQ(m.validation_subnets, 1);
  EXPECT_LT(m.validation_mape_percent, 10.0);
  EXPECT_TRUE(m.kinds.count("pointwise"));
  EXPECT_NE(r.out.find("validation"), std::string::npos) << r.out;
}

TEST(CliCalibrate, BadCombinationsExitTwo) {
  tinynas_test::TempDir tmp;
  const std::string log = tmp.write("serial.log", "nothing\n");
  auto r = run_tinynas("calibrate --mcu qemu-m4 --measurements " + log);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--bundles"), std::string::npos) << r.out;
  r = run_tinynas("calibrate --mcu stm32f746 --subnets 1 --validate 0 --work " + (tmp.path / "w").string() +
                  " --out " + (tmp.path / "m.yaml").string());
  EXPECT_EQ(r.code, 2) << r.out;  // a real board is not emulated: --generate / --measurements
  EXPECT_NE(r.out.find("--generate"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(tmp.path / "m.yaml"));
  r = run_tinynas("calibrate --mcu nosuchboard");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(CliCalibrate, GenerateWritesARealBoardsBundlesAndTellsHowToFitThem) {
  tinynas_test::TempDir tmp;
  const std::string bundles = (tmp.path / "bundles").string();
  const auto r = run_tinynas("calibrate --mcu stm32f746 --subnets 1 --validate 1 --generate " + bundles);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(bundles) / "calibration.json"));
  EXPECT_TRUE(fs::exists(fs::path(bundles) / "subnet-001"));
  EXPECT_NE(r.out.find("--bundles " + bundles + " --measurements LOG"), std::string::npos) << r.out;
}
