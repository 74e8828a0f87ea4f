// tinynas calibrate: in QEMU it writes a latency model that loads and was validated; for a real board
// it writes bundles and a manifest, then fits the captured serial output of their runs (QEMU stands
// in for the board here); bad combinations exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/engine/codegen.h"
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
  const LatencyModel m = load_latency_model(out);
  EXPECT_EQ(m.mcu, "qemu-m4");
  EXPECT_EQ(m.unit, "instructions");
  EXPECT_EQ(m.clock_hz, 100e6);
  EXPECT_EQ(m.validation_subnets, 1);
  EXPECT_LT(m.validation_mape_percent, 10.0);
  EXPECT_TRUE(m.kinds.count("pointwise"));
  EXPECT_NE(r.out.find("validation"), std::string::npos) << r.out;
}

TEST(CliCalibrate, ABoardsSerialOutputIsFitToo) {
  if (!tools()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  tinynas_test::TempDir tmp;
  const std::string bundles = (tmp.path / "bundles").string();
  // The qemu-m4 profile's bundles, run here in QEMU as a user would on the board.
  auto r = run_tinynas("calibrate --mcu qemu-m4 --subnets 2 --validate 1 --seed 4 --generate " + bundles);
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::exists(fs::path(bundles) / "calibration.json"));
  std::string log = "boot\r\n";
  for (const char* name : {"subnet-000", "subnet-001", "subnet-002"}) {
    const engine::Board& board = engine::board_by_name("mps2-an386");
    const auto build = engine::build_bundle((fs::path(bundles) / name).string(), board);
    ASSERT_TRUE(build.ok) << build.error_summary();
    const auto run = engine::run_in_qemu(build.elf, board, 300);
    ASSERT_TRUE(run.ok) << run.output;
    log += run.output;
  }
  const std::string log_path = tmp.write("serial.log", log);
  const std::string out = (tmp.path / "board.yaml").string();
  r = run_tinynas("calibrate --mcu qemu-m4 --bundles " + bundles + " --measurements " + log_path + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const LatencyModel m = load_latency_model(out);
  EXPECT_EQ(m.unit, "cycles");
  EXPECT_EQ(m.validation_subnets, 1);
  EXPECT_LT(m.validation_mape_percent, 10.0);
  // A log with a run the manifest does not list is refused, naming it.
  std::string other = log;
  other.replace(other.find("model=subnet-001"), 16, "model=subnet-999");
  const std::string bad = tmp.write("bad.log", other);
  r = run_tinynas("calibrate --mcu qemu-m4 --bundles " + bundles + " --measurements " + bad + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("subnet-999"), std::string::npos) << r.out;
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
