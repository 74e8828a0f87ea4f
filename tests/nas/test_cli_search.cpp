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
  r = run_tinynas("search --predictor " + (tmp.path / "missing.pt").string() + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("predictor build"), std::string::npos) << r.out;
}
