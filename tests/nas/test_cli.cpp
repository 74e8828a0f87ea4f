// The tinynas binary end to end: exit codes, messages and outputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/nas/config.h"
#include "tinynas/core/process.h"

namespace fs = std::filesystem;
using tinynas_test::TempDir;
using tinynas_test::run_tinynas;

namespace {

const std::string kZoo = TINYNAS_ZOO_DIR;

}  // namespace

TEST(Cli, HelpAndVersion) {
  auto r = run_tinynas("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("optimize-space"), std::string::npos);
  r = run_tinynas("optimize-space --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("K = 1024"), std::string::npos);
  EXPECT_EQ(run_tinynas("--version").code, 0);
}

TEST(Cli, OptimizeSpaceWritesEveryOutput) {
  TempDir dir;
  const fs::path out = dir.path / "stage1";
  const auto r = run_tinynas("optimize-space --sram 128K --flash 1M --samples 50 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Chosen space"), std::string::npos);
  for (const char* f : {"ranking.md", "ranking.csv", "cdf.csv", "cdf.dat", "cdf.gp", "summary.json", "space.yaml"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  if (tinynas::core::program_available("gnuplot")) {
    EXPECT_TRUE(fs::exists(out / "cdf.svg"));
  }
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left over: " << e.path();
  // The chosen space is a space file later stages can read, with its w and r fixed.
  const auto chosen = tinynas::search_space::load_space((out / "space.yaml").string());
  ASSERT_EQ(chosen.width_choices.size(), 1u);
  ASSERT_EQ(chosen.resolution_choices.size(), 1u);
  std::ifstream in(out / "summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["best"]["w"].get<double>(), chosen.width_choices[0]);
  EXPECT_EQ(summary["best"]["r"].get<int>(), chosen.resolution_choices[0]);
  EXPECT_EQ(summary["sram_bytes"].get<int64_t>(), 128 * 1024);
}

TEST(Cli, BadInputsExitTwoAndLeaveNoOutput) {
  TempDir dir;
  const std::string out = (dir.path / "never").string();
  struct Case {
    std::string args, needle;
  };
  const Case cases[] = {
      {"optimize-space --sram 320Q --flash 1M", "--sram"},
      {"optimize-space --sram 320K --flash lots", "--flash"},
      {"optimize-space --sram 320K --flash 1M --mcu stm32f999", "unknown MCU"},
      {"optimize-space --sram 1K --flash 1M --samples 20", "impossible budget"},
      {"optimize-space --sram 320K --flash 16K --samples 20", "impossible budget"},
      {"optimize-space --config /nonexistent.yaml", "nonexistent.yaml"},
      {"optimize-space --samples 0", "samples"},
      {"optimize-space --no-such-flag", "no-such-flag"},
      {"--log-level chatty optimize-space", "log-level"},
      {"", "subcommand"},
  };
  for (const Case& c : cases) {
    const auto r = run_tinynas(c.args + " --out " + out);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
}

TEST(Cli, ProfileOfAZooModelShowsThePlanAndTheReference) {
  const auto r = run_tinynas("profile " + kZoo + "/mcunet-320kb-1mb_imagenet.json --mcu stm32h743");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("in-place"), std::string::npos);
  EXPECT_NE(r.out.find("TinyEngine"), std::string::npos);
  EXPECT_NE(r.out.find("340736"), std::string::npos);  // the analytic peak
}

TEST(Cli, ProfileJsonAgreesWithTheLibraries) {
  const auto r = run_tinynas("profile --json " + kZoo + "/mcunet-5fps_imagenet.json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["totals"]["analytic_peak_bytes"].get<int64_t>(), 92160);
  int64_t macs = 0, params = 0;
  for (const auto& l : j["layers"]) {
    macs += l["macs"].get<int64_t>();
    params += l["params"].get<int64_t>();
  }
  EXPECT_EQ(macs, j["totals"]["macs"].get<int64_t>());
  EXPECT_EQ(params, j["totals"]["params"].get<int64_t>());
  EXPECT_LE(j["totals"]["arena_bytes"].get<int64_t>(), j["totals"]["layerwise_arena_bytes"].get<int64_t>());
  EXPECT_LE(j["totals"]["arena_bytes"].get<int64_t>(), j["reference"]["peak_sram_bytes"].get<int64_t>());
}

TEST(Cli, ProfileOfAnArchUsesTheConfigSpace) {
  TempDir dir;
  const fs::path arch = dir.path / "arch.json";
  std::ofstream(arch) << R"({"r": 32, "w": 0.5, "ks": [3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7],
    "e": [3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6], "d": [2,3,4,2,3]})";
  const auto r = run_tinynas("profile " + arch.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("32x32x1"), std::string::npos) << r.out;
}

TEST(Cli, ProfileErrors) {
  TempDir dir;
  EXPECT_EQ(run_tinynas("profile /nonexistent/arch.json").code, 2);
  const fs::path bad = dir.path / "bad.json";
  std::ofstream(bad) << R"({"r": 31, "w": 0.5, "ks": [3], "e": [3], "d": [2]})";
  const auto r = run_tinynas("profile " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("bad.json"), std::string::npos) << r.out;
}
