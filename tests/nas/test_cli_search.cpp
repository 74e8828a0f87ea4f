// tinynas search end to end on the embedded default (Fashion-MNIST, the shipped supernet): a tiny
// search under a small SRAM budget measures its candidates, writes the report, the plots and a
// firmware bundle that builds and runs; an impossible budget exits 2 and writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/engine/toolchain.h"

namespace fs = std::filesystem;
using tinynas_test::run_tinynas;

namespace {
bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }
}  // namespace

TEST(CliSearch, ATinySearchWritesTheReportAndARunningBundle) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir tmp;
  const std::string out = (tmp.path / "search").string();
  // Every candidate measured with the supernet (no predictor): 6 + 2 x 4 candidates at most.
  const auto r = run_tinynas("search --sram 12K --flash 1M --predictor none --population 6 --parents 3 "
                             "--mutations 2 --crossovers 2 --generations 2 --top-k 2 --seed 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"report.md", "summary.json", "winner.json", "evolution.json", "accuracy_cache.json",
                        "pareto.dat", "memory.dat", "stage1/cdf.csv", "stage1/ranking.md"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  const auto summary = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
  ASSERT_GE(summary["networks"].size(), 1u);
  const auto& searched = summary["networks"][0];
  EXPECT_LE(searched["sram_bytes"].get<int64_t>(), 12 * 1024);
  EXPECT_GT(searched["holdout_top1"].get<double>(), 50.0);  // a real measurement of a trained subnet
  for (const auto& n : summary["networks"]) EXPECT_LE(n["sram_bytes"].get<int64_t>(), 12 * 1024) << n["name"];
  std::ifstream md(fs::path(out) / "report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("MobileNetV2"), std::string::npos);
  EXPECT_NE(report.find("ProxylessNAS"), std::string::npos);
  if (tinynas::engine::arm_toolchain_available() && tinynas::engine::qemu_available()) {
    EXPECT_TRUE(fs::exists(fs::path(out) / "firmware" / "model.c"));
    EXPECT_NE(report.find("bit-identical"), std::string::npos) << report;
  }
  // Resuming the finished run gives the same winner.
  const auto again = run_tinynas("search --sram 12K --flash 1M --predictor none --population 6 --parents 3 "
                                 "--mutations 2 --crossovers 2 --generations 2 --top-k 2 --seed 1 --no-firmware "
                                 "--resume --out " + out);
  ASSERT_EQ(again.code, 0) << again.out;
  const auto summary2 = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
  EXPECT_EQ(summary2["networks"][0]["arch"], searched["arch"]);
}

// --energy joins the budget: every network of the report meets it, and the report shows each one's
// energy with the MCU's datasheet figures. 8 mJ binds on the STM32F746 at 12 KB (the winner of the
// memory budgets alone takes about 15 mJ).
TEST(CliSearch, AnEnergyLimitBindsAndIsReported) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir tmp;
  const std::string out = (tmp.path / "search").string();
  const auto r = run_tinynas("search --sram 12K --flash 1M --energy 8mJ --population 12 --parents 4 --generations 3 "
                             "--top-k 2 --seed 1 --no-firmware --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("mJ"), std::string::npos) << r.out;
  const auto summary = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
  EXPECT_EQ(summary["limits"]["energy_uj"].get<double>(), 8000.0);
  EXPECT_NE(summary["power"].get<std::string>().find("90 mA"), std::string::npos);
  ASSERT_GE(summary["networks"].size(), 1u);
  for (const auto& n : summary["networks"]) {
    EXPECT_GT(n["energy_uj"].get<double>(), 0.0) << n["name"];
    EXPECT_LE(n["energy_uj"].get<double>(), 8000.0) << n["name"];
    // energy = latency x 3.3 V x 90 mA
    EXPECT_NEAR(n["energy_uj"].get<double>(), n["latency_ms"].get<double>() * 3.3 * 90, 1e-6 * n["energy_uj"].get<double>());
  }
  std::ifstream md(fs::path(out) / "report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("| energy |"), std::string::npos) << report;
  EXPECT_NE(report.find("Table 26"), std::string::npos) << report;
}

// --patch: at 6 KB none of this small search's candidates fits layer by layer (the smallest needs 6.1
// KiB), so the search without it exits 2; with it, candidates may run their first blocks patch by patch, and the
// winner's schedule fits, its latency counts the recomputation, and its firmware runs that schedule
// bit-identical to the layer-wise reference.
TEST(CliSearch, PatchSchedulesMeetABudgetNoLayerWiseSubnetMeets) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir tmp;
  const std::string out = (tmp.path / "search").string();
  const std::string args = "search --sram 6K --flash 1M --predictor none --population 6 --parents 3 --mutations 2 "
                           "--crossovers 2 --generations 1 --top-k 1 --seed 1 --out " + out;
  auto r = run_tinynas(args + " --no-firmware");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_tinynas(args + " --patch");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto summary = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
  const auto& searched = summary["networks"][0];
  EXPECT_NE(searched["patch"].get<std::string>(), "layer-wise");
  EXPECT_LE(searched["sram_bytes"].get<int64_t>(), 6 * 1024);
  EXPECT_GT(searched["holdout_top1"].get<double>(), 50.0);
  for (const auto& n : summary["networks"]) EXPECT_LE(n["sram_bytes"].get<int64_t>(), 6 * 1024) << n["name"];
  std::ifstream md(fs::path(out) / "report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("| " + searched["patch"].get<std::string>() + " |"), std::string::npos) << report;
  if (tinynas::engine::arm_toolchain_available() && tinynas::engine::qemu_available()) {
    std::ifstream header(fs::path(out) / "firmware" / "model.h");
    const std::string text((std::istreambuf_iterator<char>(header)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("MODEL_PATCHES"), std::string::npos);
    EXPECT_NE(report.find("bit-identical"), std::string::npos) << report;
  }
}

TEST(CliSearch, ABudgetNothingMeetsExitsTwoAndWritesNothing) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir tmp;
  const std::string out = (tmp.path / "search").string();
  auto r = run_tinynas("search --sram 2K --flash 1M --predictor none --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("smallest"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  r = run_tinynas("search --latency 10us --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_tinynas("search --energy 1uJ --out " + out);  // below the smallest subnet's
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("energy"), std::string::npos) << r.out;
  // An MCU profile without its run-mode supply cannot count energy.
  const std::string unpowered =
      tmp.write("unpowered.yaml", "name: unpowered\ncore: cortex-m7\nsram: 320K\nflash: 1M\nruntime_code: 48K\n"
                                  "clock_mhz: 216\nlatency_model: qemu-m7\n");
  r = run_tinynas("search --energy 2mJ --mcu " + unpowered + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("power"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  r = run_tinynas("search --predictor " + (tmp.path / "missing.pt").string() + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("predictor build"), std::string::npos) << r.out;
}
