// Supernet training: resume equality, checkpoint errors, supernet and subnet files, fine-tuning.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>

#include "synthetic_dataset.h"
#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/finetune.h"
#include "tinynas/supernet/train.h"

using namespace tinynas;
using namespace tinynas::supernet;
using tinynas_test::SyntheticImages;
using tinynas_test::TempDir;

namespace {

TrainOptions tiny_options() {
  TrainOptions o;
  o.space.name = "tiny";
  o.space.in_channels = 1;
  o.space.num_classes = 4;
  o.space.width_choices = {0.25};
  o.space.resolution_choices = {16, 24};
  o.space.depth_choices = {1, 2};
  o.width = 0.25;
  o.resolutions = {16, 24};
  o.batch_size = 8;
  o.max_steps_per_epoch = 3;
  o.recalibration_images = 16;
  o.eval_batch_size = 16;
  o.seed = 5;
  return o;
}

struct Interrupt : std::runtime_error {
  Interrupt() : std::runtime_error("interrupted") {}
};

// Every parameter and buffer of the final supernet file, flattened.
torch::Tensor final_state(const std::string& dir) {
  auto f = load_supernet(TrainPaths{dir}.supernet());
  std::vector<torch::Tensor> all;
  for (const auto& p : f.net->parameters()) all.push_back(p.detach().flatten());
  for (const auto& b : f.net->buffers()) all.push_back(b.flatten());
  return torch::cat(all);
}

// Trains once without interruption and once interrupted at (global epoch, step) then resumed; the
// final weights must be identical.
void expect_resume_equal(const TrainOptions& o, int stop_epoch, int stop_step) {
  torch::set_num_threads(1);
  SyntheticImages train(64, 4, 1), holdout(16, 4, 1, 99);
  TempDir a, b;
  const auto full = train_supernet(o, train, holdout, TrainPaths{a.path.string()}, false);
  int epoch = 0;
  auto stop = [&](const StepProgress& p) {
    if (p.epoch_start) ++epoch;
    if (epoch == stop_epoch && p.step == stop_step) throw Interrupt();
  };
  EXPECT_THROW(train_supernet(o, train, holdout, TrainPaths{b.path.string()}, false, stop), Interrupt);
  EXPECT_FALSE(std::filesystem::exists(TrainPaths{b.path.string()}.supernet()));
  const auto resumed = train_supernet(o, train, holdout, TrainPaths{b.path.string()}, true);
  ASSERT_EQ(resumed.size(), full.size());
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(resumed[i].train_loss, full[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(resumed[i].holdout_largest, full[i].holdout_largest);
  }
  const auto wa = final_state(a.path.string()), wb = final_state(b.path.string());
  ASSERT_EQ(wa.numel(), wb.numel());
  EXPECT_TRUE(torch::equal(wa, wb)) << "max diff " << (wa - wb).abs().max().item<double>();
  // The metrics CSV has one row per epoch, whether or not the run was interrupted.
  std::ifstream csv(TrainPaths{b.path.string()}.metrics());
  int lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, int(full.size()) + 1);
}

}  // namespace

TEST(Train, SandwichResumeEqualsUninterruptedRun) {
  auto o = tiny_options();
  o.phases = {PhaseOptions{"sandwich", 3, 0.05, {3, 5, 7}, {3, 4, 6}, {1, 2}, 4, true, false}};
  expect_resume_equal(o, 2, 2);  // stopped in the middle of epoch 2: epoch 1's checkpoint is resumed
}

TEST(Train, ProgressiveShrinkingResumeAcrossPhasesWithTeacherAndReorder) {
  auto o = tiny_options();
  o.phases = {PhaseOptions{"largest", 1, 0.05, {}, {}, {}, 1, false, false},
              PhaseOptions{"kernel", 1, 0.03, {3, 5, 7}, {}, {}, 1, false, false},
              PhaseOptions{"expand", 2, 0.02, {3, 5, 7}, {3, 6}, {1, 2}, 2, false, true}};
  expect_resume_equal(o, 4, 1);  // stopped in the expand phase, after the teacher and the re-ordering
}

// A stop signal in the middle of an epoch: the run finishes that step, writes a checkpoint of it and
// throws Interrupted; the resumed run continues from the next step to the same final weights.
void expect_signal_resume_equal(const TrainOptions& o, int stop_epoch, int stop_step) {
  torch::set_num_threads(1);
  SyntheticImages train(64, 4, 1), holdout(16, 4, 1, 99);
  TempDir a, b;
  const auto full = train_supernet(o, train, holdout, TrainPaths{a.path.string()}, false);
  int epoch = 0;
  int64_t steps_seen = 0;
  auto signal = [&](const StepProgress& p) {
    if (p.epoch_start) ++epoch;
    if (!p.epoch_start) ++steps_seen;
    if (epoch == stop_epoch && p.step == stop_step) core::request_stop(SIGUSR1);
  };
  EXPECT_THROW(train_supernet(o, train, holdout, TrainPaths{b.path.string()}, false, signal), core::Interrupted);
  core::request_stop(0);
  // The signal came after step stop_step had checked for one: the next step is the last.
  EXPECT_EQ(steps_seen, int64_t(stop_epoch - 1) * o.max_steps_per_epoch + stop_step + 1);
  EXPECT_FALSE(std::filesystem::exists(TrainPaths{b.path.string()}.supernet()));
  int64_t resumed_steps = 0;
  const auto resumed = train_supernet(o, train, holdout, TrainPaths{b.path.string()}, true,
                                      [&](const StepProgress& p) {
                                        // A resumed epoch starts where the checkpoint stands, and its
                                        // rate counts this run's steps only.
                                        if (p.epoch_start && resumed_steps == 0) {
                                          EXPECT_EQ(p.step, stop_step + 1);
                                        }
                                        resumed_steps += !p.epoch_start;
                                      });
  EXPECT_EQ(steps_seen + resumed_steps, int64_t(full.size()) * o.max_steps_per_epoch);  // none run twice
  ASSERT_EQ(resumed.size(), full.size());
  for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(resumed[i].train_loss, full[i].train_loss) << "epoch " << i + 1;
  const auto wa = final_state(a.path.string()), wb = final_state(b.path.string());
  EXPECT_TRUE(torch::equal(wa, wb)) << "max diff " << (wa - wb).abs().max().item<double>();
}

TEST(Train, SignalMidEpochCheckpointsThatStepAndResumesEqual) {
  auto o = tiny_options();
  o.phases = {PhaseOptions{"sandwich", 2, 0.05, {3, 5, 7}, {3, 4, 6}, {1, 2}, 3, true, false}};
  expect_signal_resume_equal(o, 2, 1);
  // The same with the batch in two parts (the data-parallel step).
  o.batch_parts = 2;
  expect_signal_resume_equal(o, 1, 1);
}

TEST(Train, BatchPartsAverageGradientsAndStatistics) {
  // With one subnet and the largest choices only, a step over 2 parts of 4 images must equal two
  // independent single-part steps' mean: the same start, each part's gradient computed alone.
  torch::set_num_threads(1);
  auto o = tiny_options();
  o.phases = {PhaseOptions{"largest", 1, 0.05, {}, {}, {}, 1, false, false}};
  o.resolutions = {16};
  o.max_steps_per_epoch = 1;
  o.momentum = 0;
  o.nesterov = false;
  o.weight_decay = 0;
  o.kd_weight = 0;
  o.batch_parts = 2;
  SyntheticImages train(64, 4, 1), holdout(16, 4, 1, 99);
  TempDir dir;
  train_supernet(o, train, holdout, TrainPaths{dir.path.string()}, false);
  const auto trained = load_supernet(TrainPaths{dir.path.string()}.supernet());

  // By hand: the initial supernet, the step's 8 images in the same order, two halves.
  torch::manual_seed(int64_t(o.seed));
  OFASupernet net(o.space, o.width);
  net->train();
  std::vector<int> order(64);
  std::iota(order.begin(), order.end(), 0);
  core::Rng order_rng(core::derive_seed(o.seed, 1, 0));  // the epoch's data order (stream 1, phase 0, epoch 0)
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.below(uint32_t(i))]);
  const uint64_t aug = core::derive_seed(o.seed, 2, 0);
  const search_space::ArchSpec largest = net->largest(16);
  net->set_active(largest);
  std::vector<torch::Tensor> params, grad_sum, buffer_sum;
  for (auto& p : net->parameters()) params.push_back(p);
  std::vector<torch::Tensor> start;
  for (auto& b : net->buffers()) start.push_back(b.clone());
  for (int part = 0; part < 2; ++part) {
    const std::vector<int> idx(order.begin() + part * 4, order.begin() + part * 4 + 4);
    {
      torch::NoGradGuard no_grad;
      size_t i = 0;
      for (auto& b : net->buffers()) b.copy_(start[i++]);
    }
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const auto logits = net->forward(load_input(train, idx, 16, true, aug));
    torch::nn::functional::cross_entropy(
        logits, labels_of(train, idx), torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing))
        .backward();
    for (size_t i = 0; i < params.size(); ++i) {
      const torch::Tensor g = params[i].grad().defined() ? params[i].grad() : torch::zeros_like(params[i]);
      if (part == 0) grad_sum.push_back(g.clone());
      else grad_sum[i] += g;
    }
    size_t i = 0;
    for (auto& b : net->buffers()) {
      if (part == 0) buffer_sum.push_back(b.clone().to(torch::kDouble));
      else buffer_sum[i] += b.to(torch::kDouble);
      ++i;
    }
  }
  // Plain SGD (no momentum, no decay) at the cosine schedule's first step of a one-step phase: lr * 1.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> expected, got;
  for (size_t i = 0; i < params.size(); ++i) expected.push_back((params[i] - o.phases[0].lr * grad_sum[i] / 2).flatten());
  for (auto& p : trained.net->parameters()) got.push_back(p.flatten());
  const auto e = torch::cat(expected), g = torch::cat(got);
  ASSERT_EQ(e.numel(), g.numel());
  std::vector<torch::Tensor> initial;
  for (auto& p : params) initial.push_back(p.flatten());
  const auto moved = (e - torch::cat(initial)).abs().max().item<double>();
  // Float rounding only: relative to the step's largest update (a random network takes large ones).
  EXPECT_LT((e - g).abs().max().item<double>(), 1e-6 * std::max(1.0, moved)) << "largest update " << moved;
  // Running statistics: the mean of the two parts' (integer counters are the same in both).
  size_t i = 0;
  for (auto& b : trained.net->buffers()) {
    if (b.is_floating_point()) {
      EXPECT_LT((b.to(torch::kDouble) - buffer_sum[i] / 2).abs().max().item<double>(), 1e-6) << "buffer " << i;
    }
    ++i;
  }
}

// --resume with more epochs: the run continues its checkpoint for the added epochs, each step at the
// rate the longer cosine schedule gives it (a function of the step alone, so the added epoch ends at the
// rate of a run configured that long from the start); fewer epochs are refused.
TEST(Train, ResumeWithMoreEpochsContinuesTheLongerCosineSchedule) {
  torch::set_num_threads(1);
  auto o = tiny_options();
  o.phases = {PhaseOptions{"sandwich", 1, 0.05, {3, 5, 7}, {3, 4, 6}, {1, 2}, 2, true, false}};
  SyntheticImages train(32, 4, 1), holdout(8, 4, 1, 99);
  TempDir short_run, long_run;
  const auto one = train_supernet(o, train, holdout, TrainPaths{short_run.path.string()}, false);
  ASSERT_EQ(one.size(), 1u);
  auto longer = o;
  longer.phases[0].epochs = 2;
  const auto from_start = train_supernet(longer, train, holdout, TrainPaths{long_run.path.string()}, false);
  int64_t steps_run = 0;
  const auto extended = train_supernet(longer, train, holdout, TrainPaths{short_run.path.string()}, true,
                                       [&](const StepProgress& p) { steps_run += !p.epoch_start; });
  ASSERT_EQ(extended.size(), 2u);
  EXPECT_EQ(steps_run, o.max_steps_per_epoch);  // only the added epoch ran
  EXPECT_EQ(extended[0].train_loss, one[0].train_loss);
  EXPECT_EQ(extended[0].lr, one[0].lr);
  const double base = o.phases[0].lr, total = 2.0 * double(o.max_steps_per_epoch);
  EXPECT_DOUBLE_EQ(extended[1].lr, 0.5 * base * (1 + std::cos(M_PI * (total - 1) / total)));
  EXPECT_DOUBLE_EQ(extended[1].lr, from_start[1].lr);
  EXPECT_TRUE(std::filesystem::exists(TrainPaths{short_run.path.string()}.supernet()));
  // The checkpoint now records 2 epochs: 1 is refused, 3 extends again.
  EXPECT_NE(tinynas_test::input_error_message([&] { train_supernet(o, train, holdout, TrainPaths{short_run.path.string()}, true); })
                .find("may add epochs, not remove them"),
            std::string::npos);
  auto other = longer;
  other.phases[0].epochs = 3;
  other.phases[0].lr = 0.1;
  EXPECT_NE(tinynas_test::input_error_message([&] { train_supernet(other, train, holdout, TrainPaths{short_run.path.string()}, true); })
                .find("different training options"),
            std::string::npos);
}

TEST(Train, RefusesResumeWithOtherOptionsOrCorruptCheckpoint) {
  torch::set_num_threads(1);
  auto o = tiny_options();
  o.phases = {PhaseOptions{"sandwich", 1, 0.05, {3, 5, 7}, {3, 4, 6}, {1, 2}, 2, true, false}};
  SyntheticImages train(32, 4, 1), holdout(8, 4, 1, 99);
  TempDir dir;
  const TrainPaths paths{dir.path.string()};
  train_supernet(o, train, holdout, paths, false);
  auto other = o;
  other.phases[0].lr = 0.1;
  EXPECT_NE(tinynas_test::input_error_message([&] { train_supernet(other, train, holdout, paths, true); })
                .find("different training options"),
            std::string::npos);
  std::ofstream(paths.checkpoint()) << "not a checkpoint";
  const auto msg = tinynas_test::input_error_message([&] { train_supernet(o, train, holdout, paths, true); });
  EXPECT_NE(msg.find(paths.checkpoint()), std::string::npos) << msg;
}

TEST(Train, RejectsBadOptions) {
  auto o = tiny_options();
  SyntheticImages train(32, 4, 1), holdout(8, 4, 1);
  TempDir dir;
  EXPECT_THROW(train_supernet(o, train, holdout, TrainPaths{dir.path.string()}, false), core::InputError);  // no phases
  o.phases = {PhaseOptions{"p", 1, 0.05, {4}, {}, {}, 1, false, false}};
  EXPECT_THROW(train_supernet(o, train, holdout, TrainPaths{dir.path.string()}, false), core::InputError);  // kernel 4
  o.phases = {PhaseOptions{"p", 1, 0.05, {}, {}, {}, 1, false, false}};
  o.resolutions = {20};
  EXPECT_THROW(train_supernet(o, train, holdout, TrainPaths{dir.path.string()}, false), core::InputError);
  o.resolutions = {16};
  SyntheticImages rgb(32, 4, 3);
  EXPECT_THROW(train_supernet(o, rgb, holdout, TrainPaths{dir.path.string()}, false), core::InputError);  // channels
}

TEST(SupernetFile, RoundTripAndErrors) {
  TempDir dir;
  auto o = tiny_options();
  OFASupernet net(o.space, 0.25);
  net->eval();
  const std::string path = (dir.path / "s.pt").string();
  save_supernet(path, net, {16, 24}, nullptr);
  auto f = load_supernet(path);
  EXPECT_EQ(f.resolutions, (std::vector<int>{16, 24}));
  EXPECT_FALSE(f.train_options.has_value());
  EXPECT_EQ(f.net->space.num_classes, 4);
  const auto x = torch::randn({2, 1, 24, 24});
  core::Rng rng(3);
  const auto a = o.space.sample(rng, 0.25, 24);
  net->set_active(a);
  f.net->set_active(a);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(net->forward(x), f.net->forward(x)));

  EXPECT_NE(tinynas_test::input_error_message([&] { load_supernet((dir.path / "missing.pt").string()); }).find("missing.pt"),
            std::string::npos);
  const auto garbage = dir.write("garbage.pt", "PK\x03\x04 this is not a torch archive");
  EXPECT_NE(tinynas_test::input_error_message([&] { load_supernet(garbage); }).find("garbage.pt"), std::string::npos);
  // A subnet file is not a supernet file.
  auto sub = net->extract(a);
  const std::string sub_path = (dir.path / "sub.pt").string();
  save_subnet(sub_path, sub, a);
  EXPECT_NE(tinynas_test::input_error_message([&] { load_supernet(sub_path); }).find("sub.pt"), std::string::npos);
}

// A file whose tensor bytes were altered loaded silently before (LibTorch does not check the zip's
// CRC-32s) and scored like an untrained network; now it is refused, naming the file and the record.
TEST(SupernetFile, AlteredBytesAreRefusedNotLoaded) {
  TempDir dir;
  auto o = tiny_options();
  OFASupernet net(o.space, 0.25);
  const std::string path = (dir.path / "s.pt").string();
  save_supernet(path, net, {16, 24}, nullptr);
  std::string bytes = core::read_text_file(path);
  // The largest record is a weight tensor: flip one byte in its middle.
  const size_t at = bytes.size() / 2;
  bytes[at] = char(bytes[at] ^ 0x40);
  const std::string altered = dir.write("altered.pt", bytes);
  const std::string msg = tinynas_test::input_error_message([&] { load_supernet(altered); });
  EXPECT_NE(msg.find("altered.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
  // A file cut short is refused too.
  const std::string cut = dir.write("cut.pt", core::read_text_file(path).substr(0, bytes.size() - 100));
  EXPECT_NE(tinynas_test::input_error_message([&] { load_supernet(cut); }).find("cut.pt"), std::string::npos);
  // Found by fuzzing: names in the zip's central directory carry no checksum. With the module's code
  // records renamed there, LibTorch's reader threw torch::jit::ErrorReport, which escaped as a crash.
  std::string renamed = core::read_text_file(path);
  int code_records = 0;
  for (size_t at = renamed.find("PK\x01\x02"); at != std::string::npos; at = renamed.find("PK\x01\x02", at + 4)) {
    const size_t name_length = uint8_t(renamed[at + 28]) | size_t(uint8_t(renamed[at + 29])) << 8;
    const std::string name = renamed.substr(at + 46, name_length);
    const size_t code = name.find("/code/");
    if (code == std::string::npos || name.size() < 3 || name.substr(name.size() - 3) != ".py") continue;
    renamed.replace(at + 46 + code, 6, "/cod_/");
    ++code_records;
  }
  ASSERT_GT(code_records, 0);
  const std::string lost_code = dir.write("lost-code.pt", renamed);
  const std::string lost_msg = tinynas_test::input_error_message([&] { load_supernet(lost_code); });
  EXPECT_NE(lost_msg.find("lost-code.pt' is not a readable tinynas file"), std::string::npos) << lost_msg;
}

// A checkpoint written to a full disk once aborted the process (SIGABRT from LibTorch's writer) and left
// its temporary file. Now it is an error the caller sees, the previous file stays, and nothing is left.
// The full disk is a file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, as ENOSPC would).
TEST(SupernetFile, AFullDiskKeepsThePreviousFileAndLeavesNoTemporary) {
  TempDir dir;
  auto o = tiny_options();
  OFASupernet net(o.space, 0.25);
  const std::string path = (dir.path / "s.pt").string();
  save_supernet(path, net, {16, 24}, nullptr);
  const std::string before = core::read_text_file(path);
  OFASupernet other(o.space, 0.25);
  std::string error;
  tinynas_test::with_file_size_limit(4096, [&] {
    try {
      save_supernet(path, other, {16, 24}, nullptr);
    } catch (const core::RuntimeFailure& e) {
      error = e.what();
    }
  });
  EXPECT_NE(error.find("s.pt"), std::string::npos) << error;
  EXPECT_EQ(core::read_text_file(path), before);
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    EXPECT_EQ(e.path().filename().string(), "s.pt");
  EXPECT_NO_THROW(load_supernet(path));
}

namespace {

// Every field differs from its default.
TrainOptions options_with_every_field_set() {
  auto o = tiny_options();
  o.space.name = "tiny-mix";
  o.space.base_widths = {24, 16, 24, 32, 48, 64, 96, 160};
  o.space.stage_strides = {2, 2, 1, 2, 1, 1};
  o.space.kernel_choices = {3, 5};
  o.space.expand_choices = {2, 4};
  o.space.width_choices = {0.25, 0.5};
  o.space.feature_mix_channels = 64;
  o.data_description = "synthetic, 64 train / 16 holdout (seed 99)";
  o.width = 0.5;
  o.resolutions = {24};
  o.batch_size = 16;
  o.seed = 12345678901234567ull;
  o.momentum = 0.8;
  o.nesterov = false;
  o.weight_decay = 4e-5;
  o.label_smoothing = 0.05;
  o.kd_weight = 0.7;
  o.warmup_epochs = 2;
  o.recalibration_images = 32;
  o.eval_batch_size = 12;
  o.max_steps_per_epoch = 7;
  o.batch_parts = 4;
  o.phases = {PhaseOptions{"largest", 2, 0.1, {}, {}, {}, 1, false, false},
              PhaseOptions{"elastic", 3, 0.03, {3, 5}, {2}, {1, 2}, 4, true, true}};
  return o;
}

void expect_same_options(const TrainOptions& a, const TrainOptions& b) {
  EXPECT_EQ(a.space.name, b.space.name);
  EXPECT_EQ(a.space.base_widths, b.space.base_widths);
  EXPECT_EQ(a.space.stage_strides, b.space.stage_strides);
  EXPECT_EQ(a.space.kernel_choices, b.space.kernel_choices);
  EXPECT_EQ(a.space.expand_choices, b.space.expand_choices);
  EXPECT_EQ(a.space.depth_choices, b.space.depth_choices);
  EXPECT_EQ(a.space.width_choices, b.space.width_choices);
  EXPECT_EQ(a.space.resolution_choices, b.space.resolution_choices);
  EXPECT_EQ(a.space.in_channels, b.space.in_channels);
  EXPECT_EQ(a.space.num_classes, b.space.num_classes);
  EXPECT_EQ(a.space.feature_mix_channels, b.space.feature_mix_channels);
  EXPECT_EQ(a.data_description, b.data_description);
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.resolutions, b.resolutions);
  EXPECT_EQ(a.batch_size, b.batch_size);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.momentum, b.momentum);
  EXPECT_EQ(a.nesterov, b.nesterov);
  EXPECT_EQ(a.weight_decay, b.weight_decay);
  EXPECT_EQ(a.label_smoothing, b.label_smoothing);
  EXPECT_EQ(a.kd_weight, b.kd_weight);
  EXPECT_EQ(a.warmup_epochs, b.warmup_epochs);
  EXPECT_EQ(a.recalibration_images, b.recalibration_images);
  EXPECT_EQ(a.eval_batch_size, b.eval_batch_size);
  EXPECT_EQ(a.max_steps_per_epoch, b.max_steps_per_epoch);
  EXPECT_EQ(a.batch_parts, b.batch_parts);
  ASSERT_EQ(a.phases.size(), b.phases.size());
  for (size_t i = 0; i < a.phases.size(); ++i) {
    const auto &p = a.phases[i], &q = b.phases[i];
    EXPECT_EQ(p.name, q.name) << "phase " << i;
    EXPECT_EQ(p.epochs, q.epochs) << "phase " << i;
    EXPECT_EQ(p.lr, q.lr) << "phase " << i;
    EXPECT_EQ(p.kernels, q.kernels) << "phase " << i;
    EXPECT_EQ(p.expands, q.expands) << "phase " << i;
    EXPECT_EQ(p.depths, q.depths) << "phase " << i;
    EXPECT_EQ(p.subnets_per_step, q.subnets_per_step) << "phase " << i;
    EXPECT_EQ(p.sandwich, q.sandwich) << "phase " << i;
    EXPECT_EQ(p.reorder_channels, q.reorder_channels) << "phase " << i;
  }
}

}  // namespace

TEST(TrainOptions, JsonRoundTripKeepsEveryField) {
  const auto o = options_with_every_field_set();
  expect_same_options(options_from_json(options_to_json(o)), o);
  EXPECT_EQ(options_to_json(options_from_json(options_to_json(o))), options_to_json(o));

  // Written before eval_batch_size, data and batch_parts were recorded.
  auto old = options_to_json(o);
  old.erase("eval_batch_size");
  old.erase("data");
  old.erase("batch_parts");
  TrainOptions absent;
  absent.eval_batch_size = 64;
  absent.data_description = "the experiment's data";
  const auto read = options_from_json(old, absent);
  EXPECT_EQ(read.eval_batch_size, 64);
  EXPECT_EQ(read.data_description, "the experiment's data");
  EXPECT_EQ(read.batch_parts, 1);
  EXPECT_EQ(read.seed, o.seed);

  EXPECT_THROW(options_from_json(nlohmann::json{{"width", 0.5}}), core::InputError);
  EXPECT_THROW(options_from_json(nlohmann::json::array()), core::InputError);
}

TEST(SupernetFile, ReturnsTheTrainingOptions) {
  TempDir dir;
  const auto o = options_with_every_field_set();
  OFASupernet net(o.space, o.width);
  const std::string path = (dir.path / "s.pt").string();
  save_supernet(path, net, o.resolutions, &o);
  const auto f = load_supernet(path);
  ASSERT_TRUE(f.train_options.has_value());
  expect_same_options(*f.train_options, o);
}

TEST(SubnetFile, RoundTripKeepsOutputs) {
  TempDir dir;
  auto o = tiny_options();
  OFASupernet net(o.space, 0.25);
  net->eval();
  core::Rng rng(8);
  const auto a = o.space.sample(rng, 0.25, 16);
  auto sub = net->extract(a);
  sub->eval();
  const std::string path = (dir.path / "sub.pt").string();
  save_subnet(path, sub, a);
  auto f = load_subnet(path);
  EXPECT_EQ(f.arch, a);
  EXPECT_TRUE(f.net->desc.same_layers(sub->desc));
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 1, 16, 16});
  EXPECT_TRUE(torch::equal(sub->forward(x), f.net->forward(x)));
}

TEST(Finetune, TrainsTheStaticSubnet) {
  torch::set_num_threads(1);
  torch::manual_seed(0);
  auto o = tiny_options();
  OFASupernet net(o.space, 0.25);
  SyntheticImages train(256, 4, 1), holdout(64, 4, 1, 99);
  auto sub = net->extract(net->largest(16));
  FinetuneOptions fo;
  fo.epochs = 3;
  fo.lr = 0.05;
  fo.batch_size = 16;
  const auto top1 = finetune(sub, train, holdout, 16, fo);
  ASSERT_EQ(top1.size(), 3u);
  // The synthetic classes differ in brightness pattern: a few epochs are far above chance (25 %).
  EXPECT_GT(top1.back(), 60.0);
}

// Fine-tuning stopped when its second epoch starts (the progress callback throws) and run again goes on
// from the checkpoint of the first to the same weights, BN statistics and holdout figures as a run that
// was never stopped; a checkpoint of other options is refused, naming the file.
TEST(Finetune, ResumesFromItsCheckpointToTheSameWeights) {
  torch::set_num_threads(1);
  const auto o = tiny_options();
  SyntheticImages train(128, 4, 1), holdout(32, 4, 1, 99);
  TempDir dir;
  const auto fresh = [&] {
    torch::manual_seed(0);
    OFASupernet net(o.space, 0.25);
    return net->extract(net->largest(16));
  };
  FinetuneOptions fo;
  fo.epochs = 2;
  fo.lr = 0.05;
  fo.batch_size = 16;
  auto whole = fresh();
  const auto whole_top1 = finetune(whole, train, holdout, 16, fo);

  fo.checkpoint = (dir.path / "net.finetune-checkpoint").string();
  struct Stopped {};
  int starts = 0;
  auto stopped = fresh();
  EXPECT_THROW(finetune(stopped, train, holdout, 16, fo,
                        [&](const StepProgress& p) {
                          if (p.epoch_start && ++starts == 2) throw Stopped{};
                        }),
               Stopped);
  ASSERT_TRUE(core::is_file(fo.checkpoint));
  auto resumed = fresh();
  starts = 0;
  const auto resumed_top1 = finetune(resumed, train, holdout, 16, fo, [&](const StepProgress& p) { starts += p.epoch_start; });
  EXPECT_EQ(starts, 1);  // only the second epoch ran
  EXPECT_EQ(resumed_top1, whole_top1);
  const auto a = whole->named_parameters(), b = resumed->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].value(), b[i].value())) << a[i].key();
  const auto abuf = whole->named_buffers(), bbuf = resumed->named_buffers();
  ASSERT_EQ(abuf.size(), bbuf.size());
  for (size_t i = 0; i < abuf.size(); ++i) EXPECT_TRUE(torch::equal(abuf[i].value(), bbuf[i].value())) << abuf[i].key();

  FinetuneOptions other = fo;
  other.lr = 0.1;
  auto another = fresh();
  const std::string msg = tinynas_test::input_error_message([&] { finetune(another, train, holdout, 16, other); });
  EXPECT_NE(msg.find("net.finetune-checkpoint"), std::string::npos) << msg;
  EXPECT_NE(msg.find("another fine-tuning run"), std::string::npos) << msg;
}

// A phase samples from each stage's own sets: the phase's choices the stage has, else the stage's
// largest, in the supernet's arch layout (a phase without the deepest depth still fills 4 slots per
// stage, which the supernet takes).
TEST(PhaseSpace, CutsEachStagesSetsToThePhaseAndKeepsTheArchLayout) {
  TrainOptions o = tiny_options();
  o.space.depth_choices = {1, 2, 3, 4};
  o.space.stage_choices = {{{3}, {1}}, {{3, 5}, {}}};
  PhaseOptions p{"depth", 1, 0.1, {5, 7}, {}, {1, 2}, 2, false, false};
  const search_space::SearchSpace ps = phase_space(o, p);
  EXPECT_EQ(ps.max_depth(), 4);
  EXPECT_EQ(ps.kernels_of(0), std::vector<int>({3}));  // the phase lists none of stage 0's: its largest
  EXPECT_EQ(ps.kernels_of(1), std::vector<int>({5}));
  EXPECT_EQ(ps.kernels_of(2), std::vector<int>({5, 7}));
  EXPECT_EQ(ps.kernels_of(ps.num_stages()), std::vector<int>({5, 7}));  // the last block
  EXPECT_EQ(ps.depths_of(0), std::vector<int>({1}));
  EXPECT_EQ(ps.depths_of(1), std::vector<int>({1, 2}));
  EXPECT_EQ(ps.expand_choices, std::vector<int>({6}));  // none listed: the largest
  OFASupernet net(o.space, o.width);
  core::Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    const search_space::ArchSpec a = ps.sample(rng);
    ASSERT_NO_THROW(net->set_active(a));
    EXPECT_EQ(a.ks[0], 3);
    EXPECT_EQ(a.d[0], 1);
    EXPECT_LE(a.d[3], 2);
  }
  ASSERT_NO_THROW(net->set_active(ps.largest(o.width, 24)));
  EXPECT_EQ(ps.largest(o.width, 24).d, (std::vector<int>{1, 2, 2, 2, 2}));
}

// A supernet trained on a restricted space records the restriction and extracts subnets of it.
TEST(PhaseSpace, ARestrictedSpaceTrainsAndItsFileKeepsTheRestriction) {
  torch::set_num_threads(1);
  TrainOptions o = tiny_options();
  o.space.stage_choices = {{{3}, {1}}};
  o.phases = {PhaseOptions{"sandwich", 1, 0.05, {3, 5, 7}, {3, 4, 6}, {1, 2}, 3, true, false}};
  SyntheticImages train(32, 4, 1), holdout(16, 4, 1, 99);
  TempDir dir;
  train_supernet(o, train, holdout, TrainPaths{dir.path.string()}, false);
  auto f = load_supernet(TrainPaths{dir.path.string()}.supernet());
  EXPECT_EQ(f.net->space.stage_choices, o.space.stage_choices);
  const search_space::ArchSpec big = f.net->largest(24);
  EXPECT_EQ(big.d[0], 1);
  EXPECT_EQ(big.ks[0], 3);
  EXPECT_EQ(f.net->extract(big)->desc.blocks[1].kernel, 3);
}
