// `tinynas train`, `eval` and `extract` end to end on a tiny Fashion-MNIST experiment, and their errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "run_tinynas.h"
#include "test_helpers.h"

namespace fs = std::filesystem;
using tinynas_test::TempDir;
using tinynas_test::run_tinynas;

namespace {

bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

// A tiny supernet of the Fashion-MNIST space: w 0.2, one resolution, a few steps per epoch.
std::string tiny_experiment(const TempDir& dir, const std::string& train_section) {
  return dir.write("tiny.yaml", "name: tiny\nspace: " + std::string(TINYNAS_SOURCE_DIR) +
                                    "/configs/spaces/fashion-mnist.yaml\nmcu: stm32f746\n"
                                    "data: {kind: fashion-mnist, holdout: 300, seed: 1}\n"
                                    "supernet: {width: 0.2, resolutions: [24]}\n" +
                                    train_section);
}

const char* kSandwich =
    "train: {method: sandwich, epochs: 1, subnets_per_step: 3, batch_size: 32, threads: 1, "
    "recalibration_images: 64, max_steps_per_epoch: 3}\n";

}  // namespace

TEST(CliSupernet, TrainEvalExtract) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDir dir;
  const std::string cfg = tiny_experiment(dir, kSandwich);
  const std::string out = (dir.path / "run").string();
  auto r = run_tinynas("train --config " + cfg + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"supernet.pt", "checkpoint.pt", "metrics.csv", "train.log", "experiment.yaml"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  // --resume of a finished run is a no-op that keeps the result.
  r = run_tinynas("train --config " + cfg + " --out " + out + " --resume");
  EXPECT_EQ(r.code, 0) << r.out;

  const std::string supernet = out + "/supernet.pt";
  r = run_tinynas("eval --config " + cfg + " --supernet " + supernet + " --arch smallest --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["images"], 300);
  EXPECT_GE(j["top1"].get<double>(), 0.0);
  EXPECT_EQ(j["arch"]["r"], 24);
  r = run_tinynas("eval --config " + cfg + " --supernet " + supernet + " --arch largest --split test");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("/10000, test split"), std::string::npos) << r.out;

  const std::string arch = dir.write("a.json", R"({"r": 24, "w": 0.2, "ks": [3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7],
      "e": [3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6], "d": [2,3,4,2,3]})");
  const std::string sub = (dir.path / "sub.pt").string();
  r = run_tinynas("extract --config " + cfg + " --supernet " + supernet + " --arch " + arch + " --out " + sub +
          " --finetune 1 --max-steps-per-epoch 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(sub));
  EXPECT_NE(r.out.find("fine-tune epoch 1/1"), std::string::npos) << r.out;

  // The accuracy predictor of this supernet: measured subnets are cached, so a second build measures
  // nothing.
  const std::string predictor = (dir.path / "predictor" / "p.pt").string();
  const std::string build = "predictor build --config " + cfg + " --supernet " + supernet +
                            " --samples 10 --epochs 5 --out " + predictor;
  r = run_tinynas(build);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(predictor));
  EXPECT_TRUE(fs::exists(dir.path / "predictor" / "accuracy_cache.json"));
  EXPECT_NE(r.out.find("10 subnets measured, 0 from the cache"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on 2 held-out subnets"), std::string::npos) << r.out;
  r = run_tinynas(build);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("0 subnets measured, 10 from the cache"), std::string::npos) << r.out;
}

TEST(CliSupernet, ClearErrors) {
  TempDir dir;
  // No supernet anywhere: exit 2 with a message saying what to pass.
  const std::string cfg = tiny_experiment(dir, kSandwich);
  auto r = run_tinynas("eval --config " + cfg + " --arch largest");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--supernet"), std::string::npos) << r.out;
  // A corrupt supernet file is named.
  const std::string bad = dir.write("bad.pt", "garbage");
  r = run_tinynas("eval --config " + cfg + " --supernet " + bad + " --arch largest");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("bad.pt"), std::string::npos) << r.out;
  // A missing data folder is named.
  const std::string folder_cfg = dir.write(
      "folder.yaml", "name: f\nspace: " + std::string(TINYNAS_SOURCE_DIR) +
                         "/configs/spaces/fashion-mnist.yaml\ndata: {kind: folder, path: /nonexistent/images}\n"
                         "supernet: {width: 0.2, resolutions: [24]}\n" + kSandwich);
  r = run_tinynas("train --config " + folder_cfg + " --out " + (dir.path / "o").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("/nonexistent/images"), std::string::npos) << r.out;
  // Config mistakes: unknown method, a width outside the space, unknown keys.
  for (const std::string& section :
       {std::string("train: {method: magic}\n"), std::string("train: {method: sandwich, phases: []}\n"),
        std::string("train: {method: sandwich, learning_rate: 1}\n")}) {
    const std::string c = dir.write("c.yaml", "name: c\nspace: " + std::string(TINYNAS_SOURCE_DIR) +
                                                  "/configs/spaces/fashion-mnist.yaml\n" + section);
    r = run_tinynas("train --config " + c + " --out " + (dir.path / "o2").string());
    EXPECT_EQ(r.code, 2) << section << r.out;
  }
  const std::string w = dir.write("w.yaml", "name: w\nspace: " + std::string(TINYNAS_SOURCE_DIR) +
                                                "/configs/spaces/fashion-mnist.yaml\nsupernet: {width: 0.35}\n");
  r = run_tinynas("train --config " + w + " --out " + (dir.path / "o3").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("width"), std::string::npos) << r.out;
}
