// The pipelines as library calls: train_experiment, export_network and search return typed results that
// agree with the engine's planner and the cost model, without running the tinynas binary.
#include <gtest/gtest.h>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>

#include "test_helpers.h"
#include "tinynas/core/files.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/cost_model.h"
#include "tinynas/nas/export.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/nas/search.h"
#include "tinynas/nas/subnet.h"
#include "tinynas/nas/train.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/supernet/checkpoint.h"

using namespace tinynas;
using namespace tinynas::nas;
namespace fs = std::filesystem;

namespace {

bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

Experiment embedded_default() { return load_experiment(default_experiment_path()); }

// An export of the embedded default's space with random weights, built for the host into DIR/bundle.
ExportRequest random_weights_for_the_host(const tinynas_test::TempDir& dir) {
  ExportRequest q;
  q.experiment = embedded_default();
  q.random_weights = true;
  q.target = "host";
  q.out = (dir.path / "bundle").string();
  q.calibration_images = 2;
  q.test_inputs = 1;
  return q;
}

// A tiny Fashion-MNIST experiment: a few training steps only.
Experiment tiny_experiment(const tinynas_test::TempDir& dir, const std::string& sections) {
  return load_experiment(dir.write("tiny.yaml", "name: tiny\nspace: " + std::string(TINYNAS_SOURCE_DIR) +
                                                    "/configs/spaces/fashion-mnist.yaml\nmcu: stm32f746\n"
                                                    "data: {kind: fashion-mnist, holdout: 300, seed: 1}\n" +
                                                    sections));
}

// A tiny search of `experiment` under SRAM 12 KiB and Flash 1 MiB into DIR/search, without firmware.
SearchRequest tiny_search(const tinynas_test::TempDir& dir, Experiment experiment) {
  SearchRequest q;
  q.experiment = std::move(experiment);
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
  return q;
}

// A tiny search with --train: a sandwich supernet of 3 steps (plus `sections`), a predictor of 10 subnets.
SearchRequest search_training_first(const tinynas_test::TempDir& dir, const std::string& sections) {
  SearchRequest q = tiny_search(dir, tiny_experiment(dir, sections +
                                                              "train: {method: sandwich, epochs: 1, subnets_per_step: 3, "
                                                              "batch_size: 32, threads: 1, recalibration_images: 64, "
                                                              "max_steps_per_epoch: 3}\n"));
  q.train = true;
  q.predictor_samples = 10;
  return q;
}

// The messages logged while it is alive.
struct LogCapture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  LogCapture() { spdlog::default_logger()->sinks().push_back(sink); }
  ~LogCapture() { spdlog::default_logger()->sinks().pop_back(); }
  std::string text() const {
    std::string all;
    for (const std::string& line : sink->last_formatted()) all += line;
    return all;
  }
};

int64_t line_count(const std::string& path) {
  std::ifstream in(path);
  int64_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

}  // namespace

TEST(ExportNetwork, RandomWeightsForTheHostGiveTheEnginesFigures) {
  tinynas_test::TempDir dir;
  ExportRequest q = random_weights_for_the_host(dir);
  const search_space::SearchSpace& space = q.experiment.space;
  q.arch_spec = space.smallest(space.width_choices.front(), space.resolution_choices.front());
  const ExportResult r = export_network(q);
  const engine::Graph g = engine::build_graph(space.describe(*q.arch_spec));
  EXPECT_EQ(r.board, "host");
  EXPECT_EQ(r.layers, int64_t(g.ops.size()));
  EXPECT_EQ(r.deployment.bundle.arena_bytes, engine::plan_arena_bytes(g));
  EXPECT_EQ(r.deployment.bundle.macs, search_space::compute_macs(space.describe(*q.arch_spec)));
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
  SearchRequest q = tiny_search(dir, embedded_default());
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

// An experiment whose space restricts the first stages (receptive-field redistribution) searches the
// shipped supernet, trained without the restriction, within it: every candidate has 3x3 kernels and two
// blocks in stage 0 and 3x3 kernels in stage 1.
TEST(Search, TheExperimentsStageChoicesRestrictTheSupernetsCandidates) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  std::ifstream shipped(std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml");
  const std::string space_text((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
  dir.write("space.yaml", space_text + "stage_choices:\n  - {kernels: [3], depths: [2]}\n  - {kernels: [3]}\n");
  const Experiment x = load_experiment(dir.write(
      "restricted.yaml", "name: restricted\nspace: space.yaml\nmcu: stm32f746\n"
                         "data: {kind: fashion-mnist, holdout: 300, seed: 1}\ntrain: {recalibration_images: 64}\n"
                         "supernet: {width: 0.5, resolutions: [24, 32, 40], checkpoint: " +
                             std::string(TINYNAS_SOURCE_DIR) + "/supernet/pretrained/fashion-mnist/supernet.pt}\n"));
  SearchRequest q = tiny_search(dir, x);
  q.budget.sram_bytes = 32 * 1024;
  const SearchResult r = search(q);
  ASSERT_TRUE(r.root);
  ASSERT_FALSE(r.report.top_k.empty());
  const int md = x.space.max_depth();
  for (const ReportedNetwork& n : r.report.top_k) {
    const search_space::ArchSpec& a = n.candidate.arch;
    EXPECT_NO_THROW(x.space.validate(a)) << n.name;
    EXPECT_EQ(a.d[0], 2) << n.name;
    for (int j = 0; j < a.d[0]; ++j) EXPECT_EQ(a.ks[size_t(j)], 3) << n.name;
    for (int j = 0; j < a.d[1]; ++j) EXPECT_EQ(a.ks[size_t(md + j)], 3) << n.name;
  }
}

TEST(ExportNetwork, ZooNetworkWithRandomWeightsLinksForStm32WithinTinyEnginesPeak) {
  if (!engine::arm_toolchain_available()) GTEST_SKIP() << "needs arm-none-eabi-gcc";
  tinynas_test::TempDir dir;
  ExportRequest q;
  q.experiment = embedded_default();
  q.arch = std::string(TINYNAS_ZOO_DIR) + "/mcunet-320kb-1mb_imagenet.json";
  q.random_weights = true;
  q.target = "stm32h743";
  q.out = (dir.path / "bundle").string();
  q.calibration_images = 2;
  q.test_inputs = 1;
  const ExportResult r = export_network(q);
  const engine::Deployment& d = r.deployment;
  EXPECT_EQ(r.board, "stm32h743");
  EXPECT_GT(d.bundle.arena_bytes, 0);
  EXPECT_LE(d.bundle.arena_bytes, 260 * 1024) << "TinyEngine's measured peak for this model on the STM32H743";
  ASSERT_TRUE(d.built);
  EXPECT_EQ(d.arena_symbol_bytes, d.bundle.arena_bytes);  // the arena in the ELF is the planner's
  EXPECT_GT(d.build.flash_bytes(), d.flash_model.total());
}

// A network given layer by layer (basic blocks) trains on the experiment's data from random weights,
// writes a network file without an arch, and exports; a network that does not fit the data is refused.
TEST(Subnet, ANetworkFileTrainsFromRandomWeightsAndExports) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  search_space::NetworkDesc net;
  net.name = "tiny-resnet";
  net.resolution = 28;
  net.in_channels = 1;
  net.stem_out = 8;
  net.stem_stride = 2;
  net.blocks = {search_space::BlockDesc::basic(8, 8, 3, 1), search_space::BlockDesc::basic(8, 16, 3, 2)};
  net.num_classes = 10;
  net.activation = search_space::Activation::Relu;
  const std::string network = (dir.path / "tiny-resnet.json").string();
  search_space::save_zoo_json(network, net);
  ExtractRequest x;
  x.experiment = tiny_experiment(dir, "train: {batch_size: 32, threads: 1}\n");
  x.network = network;
  x.out = (dir.path / "tiny-resnet.pt").string();
  EXPECT_NE(tinynas_test::input_error_message([&] { extract_subnet(x); }).find("--finetune"), std::string::npos);
  x.finetune.epochs = 1;
  x.finetune.lr = 0.05;
  x.finetune.max_steps_per_epoch = 3;
  x.arch = "smallest";
  EXPECT_NE(tinynas_test::input_error_message([&] { extract_subnet(x); }).find("--arch or --network"), std::string::npos);
  x.arch.clear();
  const ExtractResult r = extract_subnet(x);
  EXPECT_FALSE(r.arch.has_value());
  EXPECT_EQ(r.resolution, 28);
  EXPECT_EQ(r.blocks, 2);
  EXPECT_GT(r.holdout_top1, 0.0);
  const supernet::SubnetFile f = supernet::load_subnet(x.out);
  EXPECT_FALSE(f.arch.has_value());
  EXPECT_TRUE(f.net->desc.same_layers(net));
  EXPECT_FALSE(std::filesystem::exists(finetune_checkpoint_path(x.out)));  // removed once the network is written
  ExportRequest e;
  e.experiment = x.experiment;
  e.subnet = x.out;
  e.target = "host";
  e.out = (dir.path / "bundle").string();
  e.calibration_images = 8;
  e.test_inputs = 2;
  const ExportResult exported = export_network(e);
  EXPECT_TRUE(exported.deployment.built);
  EXPECT_EQ(exported.deployment.bundle.macs, search_space::compute_macs(net));
  // Three input channels for a grayscale data set.
  net.in_channels = 3;
  search_space::save_zoo_json(network, net);
  const std::string msg = tinynas_test::input_error_message([&] { extract_subnet(x); });
  EXPECT_NE(msg.find("3 channel(s)"), std::string::npos) << msg;
}

TEST(TrainExperiment, ProgressiveShrinkingFromConfig) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  TrainRequest q;
  q.experiment = tiny_experiment(
      dir,
      "supernet: {width: 0.2, resolutions: [24]}\n"
      "train:\n  method: progressive_shrinking\n  batch_size: 32\n  threads: 1\n  recalibration_images: 64\n"
      "  max_steps_per_epoch: 2\n  phases:\n    - {name: largest, epochs: 1, lr: 0.05}\n"
      "    - {name: kernel, epochs: 1, lr: 0.02, kernels: [3, 5, 7]}\n"
      "    - {name: expand, epochs: 1, lr: 0.02, kernels: [3, 5, 7], expands: [3, 4, 6], depths: [2, 3, 4], "
      "subnets_per_step: 2, reorder_channels: true}\n");
  q.out = (dir.path / "ps").string();
  LogCapture log;
  const TrainResult r = train_experiment(q);
  EXPECT_EQ(r.epochs, 3);
  EXPECT_TRUE(fs::is_regular_file(r.supernet_path));
  EXPECT_EQ(line_count(q.out + "/metrics.csv"), 4);  // the header and one row per epoch
  EXPECT_NE(log.text().find("re-ordered by importance"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("distilling from the largest subnet"), std::string::npos) << log.text();
}

namespace {

// Every file under `dir` with its bytes.
std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = core::read_text_file(e.path().string());
  return files;
}

}  // namespace

// A refused train request (other options with --resume, a bad option value) once truncated train.log and
// replaced experiment.yaml of the run it was pointed at; now it changes nothing there.
TEST(TrainExperiment, ARefusedRequestLeavesTheRunAsItWas) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  const std::string sections =
      "supernet: {width: 0.2, resolutions: [24]}\n"
      "train:\n  method: sandwich\n  batch_size: 16\n  threads: 1\n  recalibration_images: 32\n"
      "  max_steps_per_epoch: 1\n  epochs: 1\n  lr: 0.05\n";
  TrainRequest q;
  q.experiment = tiny_experiment(dir, sections);
  q.out = (dir.path / "run").string();
  train_experiment(q);
  const auto before = files_under(q.out);
  ASSERT_TRUE(before.count("train.log") && before.count("experiment.yaml") && before.count("checkpoint.pt"));

  TrainRequest other = q;  // --resume with options the checkpoint was not written with (more epochs would extend it)
  other.resume = true;
  other.max_steps_per_epoch = 2;
  EXPECT_NE(tinynas_test::input_error_message([&] { train_experiment(other); }).find("different training options"),
            std::string::npos);
  EXPECT_EQ(files_under(q.out), before);

  for (const char* bad : {"label_smoothing: 5", "momentum: .nan", "warmup_epochs: -1"}) {
    TrainRequest invalid = q;
    invalid.experiment = tiny_experiment(dir, sections + "  " + bad + "\n");
    EXPECT_NE(tinynas_test::input_error_message([&] { train_experiment(invalid); }), "<no exception>") << bad;
    EXPECT_EQ(files_under(q.out), before) << bad;
  }
  TrainRequest nan_lr = q;
  nan_lr.experiment = tiny_experiment(dir, "supernet: {width: 0.2, resolutions: [24]}\n"
                                           "train:\n  method: sandwich\n  lr: .nan\n");
  EXPECT_NE(tinynas_test::input_error_message([&] { train_experiment(nan_lr); }).find("lr"), std::string::npos);
  EXPECT_EQ(files_under(q.out), before);
}

// export --out once deleted whatever it named; a file or a directory of other files is now refused first.
TEST(ExportNetwork, NeverReplacesAFileOrADirectoryOfOtherFiles) {
  tinynas_test::TempDir dir;
  ExportRequest q = random_weights_for_the_host(dir);
  q.arch = "smallest";
  q.out = dir.write("notes.txt", "keep me");
  EXPECT_NE(tinynas_test::input_error_message([&] { export_network(q); }).find("not a directory"), std::string::npos);
  EXPECT_EQ(core::read_text_file(q.out), "keep me");
  fs::create_directory(dir.path / "work");
  dir.write("work/main.cpp", "int main() {}");
  q.out = (dir.path / "work").string();
  EXPECT_NE(tinynas_test::input_error_message([&] { export_network(q); }).find("--force"), std::string::npos);
  EXPECT_EQ(files_under(q.out).size(), 1u);
}

TEST(Search, TrainFirstLetsStageOneChooseTheSpaceAndReusesWhatItTrained) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  // No supernet section: stage 1 chooses (w, r) under the limits.
  SearchRequest q = search_training_first(dir, "stage1: {samples: 200}\n");
  LogCapture log;
  const SearchResult r = search(q);
  EXPECT_NE(log.text().find("stage 1 chose w "), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("phase 1/1 'sandwich'"), std::string::npos) << log.text();
  for (const char* f : {"supernet/supernet.pt", "supernet/predictor.pt", "supernet/accuracy_cache.json",
                        "supernet/metrics.csv", "report.md", "winner.json"})
    EXPECT_TRUE(fs::exists(fs::path(q.out) / f)) << f;
  EXPECT_EQ(r.report.supernet, (fs::path(q.out) / "supernet" / "supernet.pt").string());
  for (const ReportedNetwork& n : r.report.networks) EXPECT_TRUE(q.budget.admits_sram(n.candidate.costs.sram_bytes)) << n.name;
  // Again: the training resumes its finished checkpoint (no step runs) and the predictor's subnets come
  // from the cache.
  LogCapture again;
  search(q);
  EXPECT_NE(again.text().find("(done), 0 epochs done"), std::string::npos) << again.text();
  EXPECT_EQ(again.text().find("phase 1/1 'sandwich'"), std::string::npos) << again.text();
  EXPECT_NE(again.text().find("0 subnets measured, 10 from the cache"), std::string::npos) << again.text();
}

// search --train in one process: a stop signal during the training writes its checkpoint and ends the
// search with Interrupted (exit 3 in the CLI); the same request resumes the training and searches.
TEST(Search, TrainFirstStopsOnASignalWithACheckpointAndResumes) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  SearchRequest q = search_training_first(dir, "supernet: {width: 0.3, resolutions: [24]}\n");
  core::request_stop(SIGTERM);
  EXPECT_THROW(search(q), core::Interrupted);
  core::request_stop(0);
  EXPECT_TRUE(fs::exists(fs::path(q.out) / "supernet/checkpoint.pt"));
  EXPECT_FALSE(fs::exists(fs::path(q.out) / "supernet/supernet.pt"));
  EXPECT_FALSE(fs::exists(fs::path(q.out) / "report.md"));
  LogCapture log;
  search(q);
  EXPECT_NE(log.text().find("resuming from"), std::string::npos) << log.text();
  EXPECT_TRUE(fs::exists(fs::path(q.out) / "report.md"));
}

TEST(ExportNetwork, RandomWeightsLargestAndSmallestAreTheSpacesExtremes) {
  for (const std::string which : {"largest", "smallest"}) {
    tinynas_test::TempDir dir;
    ExportRequest q = random_weights_for_the_host(dir);
    const search_space::SearchSpace& space = q.experiment.space;
    q.arch = which;
    const ExportResult r = export_network(q);
    const auto [w_min, w_max] = std::minmax_element(space.width_choices.begin(), space.width_choices.end());
    const auto [r_min, r_max] = std::minmax_element(space.resolution_choices.begin(), space.resolution_choices.end());
    const search_space::ArchSpec expected =
        which == "largest" ? space.largest(*w_max, *r_max) : space.smallest(*w_min, *r_min);
    EXPECT_EQ(r.deployment.bundle.macs, search_space::compute_macs(space.describe(expected))) << which;
  }
}

TEST(Subnet, TheExtractedSubnetScoresWhatTheSupernetScoresForIt) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tinynas_test::TempDir dir;
  EvalRequest e;
  e.experiment = embedded_default();
  e.arch = "smallest";
  const EvalResult scored = evaluate_subnet(e);
  EXPECT_EQ(scored.total, e.experiment.data.holdout);
  EXPECT_EQ(scored.calibration_images, e.experiment.train.options.recalibration_images);
  EXPECT_GT(scored.top1, 50.0);
  ExtractRequest x;
  x.experiment = e.experiment;
  x.arch = "smallest";
  x.out = (dir.path / "smallest.pt").string();
  const ExtractResult extracted = extract_subnet(x);
  EXPECT_EQ(extracted.arch, scored.arch);
  EXPECT_TRUE(fs::is_regular_file(x.out));
  // The same recalibrated weights in a static network: the same holdout top-1, before and after saving.
  // (Outputs agree to float rounding, so allow one image of the holdout to flip.)
  const double one_image = 100.0 / double(scored.total);
  EXPECT_NEAR(extracted.extracted_holdout_top1, scored.top1, one_image);
  EXPECT_NEAR(extracted.holdout_top1, scored.top1, one_image);
  EXPECT_FALSE(extracted.test_top1.has_value());
  x.from_scratch = true;  // without fine-tuning epochs
  EXPECT_NE(tinynas_test::input_error_message([&] { extract_subnet(x); }).find("--finetune"), std::string::npos);
}
