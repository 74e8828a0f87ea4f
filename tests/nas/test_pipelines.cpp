// The pipelines as library calls: export_network and search return typed results that agree with the
// engine's planner and the cost model, without running the tinynas binary.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_helpers.h"
#include "tinynas/engine/planner.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/nas/export.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/nas/search.h"
#include "tinynas/search_space/cost.h"

using namespace tinynas;
namespace fs = std::filesystem;

namespace {

bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

Experiment embedded_default() { return load_experiment(default_experiment_path()); }

}  // namespace

TEST(ExportNetwork, RandomWeightsForTheHostGiveTheEnginesFigures) {
  tinynas_test::TempDir dir;
  ExportRequest q;
  q.experiment = embedded_default();
  const SearchSpace& space = q.experiment.space;
  q.arch_spec = space.smallest(space.width_choices.front(), space.resolution_choices.front());
  q.random_weights = true;
  q.target = "host";
  q.out = (dir.path / "bundle").string();
  q.calibration_images = 4;
  q.test_inputs = 2;
  const ExportResult r = export_network(q);
  const engine::Graph g = engine::build_graph(space.describe(*q.arch_spec));
  EXPECT_EQ(r.board, "host");
  EXPECT_EQ(r.layers, int64_t(g.ops.size()));
  EXPECT_EQ(r.deployment.bundle.arena_bytes, engine::plan_arena_bytes(g));
  EXPECT_EQ(r.deployment.bundle.macs, compute_macs(space.describe(*q.arch_spec)));
  EXPECT_TRUE(r.deployment.built);
  EXPECT_FALSE(r.deployment.run.has_value());
  EXPECT_FALSE(r.accuracy.has_value());
  for (const std::string& f : {r.float_onnx, r.int8_onnx, r.deployment.report_path}) EXPECT_TRUE(fs::is_regular_file(f)) << f;
}

TEST(ExportNetwork, RefusesNoNetworkOrTwo) {
  tinynas_test::TempDir dir;
  ExportRequest q;
  q.experiment = embedded_default();
  q.out = (dir.path / "bundle").string();
  EXPECT_NE(tinynas_test::input_error_message([&] { export_network(q); }).find("choose the network"), std::string::npos);
  q.arch = "largest";
  q.onnx = "model.onnx";
  EXPECT_NE(tinynas_test::input_error_message([&] { export_network(q); }).find("exclude each other"), std::string::npos);
  EXPECT_FALSE(fs::exists(q.out));
}

TEST(Search, ATinySearchReturnsAWinnerWithinTheBudget) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  SearchRequest q;
  q.experiment = embedded_default();
  q.budget.sram_bytes = 12 * 1024;
  q.budget.flash_bytes = 1024 * 1024;
  q.out = (dir.path / "search").string();
  q.evolution.population = 6;
  q.evolution.parents = 3;
  q.evolution.mutations = 2;
  q.evolution.crossovers = 2;
  q.evolution.generations = 2;
  q.top_k = 2;
  q.export_firmware = false;
  const SearchResult r = search(q);
  ASSERT_TRUE(r.root);
  ASSERT_FALSE(r.report.networks.empty());
  const ReportedNetwork& winner = r.report.networks.front();
  EXPECT_EQ(winner.name, "searched (tinynas)");
  EXPECT_TRUE(q.budget.admits(winner.candidate.costs));
  // The costs the search reports are the cost model's, SRAM counted with the stack bound.
  const engine::Graph g = engine::build_graph(q.experiment.space.describe(winner.candidate.arch));
  EXPECT_EQ(winner.candidate.costs.sram_bytes, engine::peak_sram_bytes(g));
  EXPECT_GT(winner.holdout_top1, 50.0);
  EXPECT_FALSE(r.firmware.has_value());
  EXPECT_EQ(r.report.latency_model, shipped_latency_model(q.experiment.mcu));
  EXPECT_TRUE(r.stage1.any_fits());
  for (const std::string& f : {r.winner_path, r.report_path}) EXPECT_TRUE(fs::is_regular_file(f)) << f;
}

TEST(Search, AnImpossibleBudgetWritesNothing) {
  tinynas_test::TempDir dir;
  SearchRequest q;
  q.experiment = embedded_default();
  q.budget.sram_bytes = 2 * 1024;
  q.budget.flash_bytes = 1024 * 1024;
  q.out = (dir.path / "search").string();
  EXPECT_NE(tinynas_test::input_error_message([&] { search(q); }).find("smallest"), std::string::npos);
  EXPECT_FALSE(fs::exists(q.out));
}
