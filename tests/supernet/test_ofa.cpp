// The elastic supernet: elastic ops against hand-computed cases, extraction equality, channel
// re-ordering, BN recalibration against statistics computed directly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <set>

#include "synthetic_dataset.h"
#include "tinynas/core/errors.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/ofa.h"

using namespace tinynas;
using namespace tinynas::supernet;

namespace {

// A small grayscale space: 10 classes, kernels 3/5/7, expand 3/4/6, depth 2..4.
search_space::SearchSpace test_space() {
  search_space::SearchSpace s;
  s.name = "test";
  s.in_channels = 1;
  s.num_classes = 10;
  s.width_choices = {0.25, 0.5};
  s.resolution_choices = {16, 24, 32};
  return s;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Gives every BN non-trivial affine parameters and running statistics, so that eval-mode outputs
// depend on every one of them.
void randomize_bn(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(int64_t(seed));
  torch::NoGradGuard no_grad;
  for (auto& sub : m.modules(false))
    if (auto* bn = sub->as<DynamicBatchNormImpl>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
      bn->running_mean.uniform_(-0.1, 0.1);
      bn->running_var.uniform_(0.5, 2.0);
    }
}

}  // namespace

TEST(ElasticKernel, CentreCropsThroughTransformMatrices) {
  ElasticBlock b(8, 8, 1, std::vector<int>{3, 5, 7}, std::vector<int>{3}, true);
  torch::NoGradGuard no_grad;
  b->depthwise_weight.copy_(torch::arange(24 * 49, torch::kFloat32).view({24, 1, 7, 7}));
  // Identity transforms (their initial value): plain centre crops.
  auto f5 = b->depthwise_filter(24, 5);
  auto f3 = b->depthwise_filter(24, 3);
  ASSERT_EQ(f5.sizes(), (std::vector<int64_t>{24, 1, 5, 5}));
  for (int c : {0, 23})
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 5; ++x) EXPECT_EQ(f5[c][0][y][x].item<float>(), float(c * 49 + (y + 1) * 7 + (x + 1)));
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) EXPECT_EQ(f3[5][0][y][x].item<float>(), float(5 * 49 + (y + 2) * 7 + (x + 2)));
  // 7to5 = 2 I, 5to3 = a permutation that reverses the 9 taps: the 3x3 filter is twice the centre of
  // the 7x7, flattened and reversed.
  ASSERT_EQ(b->kernel_transforms.size(), 2u);
  b->kernel_transforms[0].copy_(2 * torch::eye(25));
  b->kernel_transforms[1].copy_(torch::eye(9).flip({1}));
  f3 = b->depthwise_filter(24, 3);
  for (int c : {0, 7})
    for (int t = 0; t < 9; ++t) {
      const int src = 8 - t;  // reversed tap
      EXPECT_EQ(f3[c][0][t / 3][t % 3].item<float>(), 2.0f * float(c * 49 + (src / 3 + 2) * 7 + (src % 3 + 2)));
    }
  // The largest kernel is the stored weight itself, and only the first mid channels are taken.
  EXPECT_EQ(max_abs_diff(b->depthwise_filter(16, 7), b->depthwise_weight.narrow(0, 0, 16)), 0.0);
}

// The cropped depthwise convolution is the full 'same' convolution, values and gradients, on maps
// smaller than, equal to and larger than the kernel, square or not, stride 1 and 2.
TEST(DepthwiseConv, CroppingTheKernelToTheMapChangesNothing) {
  torch::manual_seed(11);
  for (int64_t k : {3, 5, 7})
    for (int64_t stride : {1, 2})
      for (std::pair<int64_t, int64_t> hw : {std::pair<int64_t, int64_t>{1, 1}, {2, 2}, {3, 3}, {4, 4}, {2, 5}, {9, 9}}) {
        const auto x0 = torch::randn({3, 6, hw.first, hw.second}).contiguous(torch::MemoryFormat::ChannelsLast);
        const auto w0 = torch::randn({6, 1, k, k});
        auto x1 = x0.clone().requires_grad_(true), w1 = w0.clone().requires_grad_(true);
        auto x2 = x0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(true);
        const auto got = depthwise_conv(x1, w1, stride);
        const auto expected = torch::conv2d(x2, w2, {}, stride, k / 2, 1, 6);
        const std::string at = "k " + std::to_string(k) + " stride " + std::to_string(stride) + " map " +
                               std::to_string(hw.first) + "x" + std::to_string(hw.second);
        ASSERT_EQ(got.sizes(), expected.sizes()) << at;
        EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5)) << at;
        const auto g = torch::randn_like(expected);
        (got * g).sum().backward();
        (expected * g).sum().backward();
        EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad(), 1e-5, 1e-5)) << at;
        EXPECT_TRUE(torch::allclose(w1.grad(), w2.grad(), 1e-5, 1e-5)) << at;  // zero for taps that only meet padding
      }
}

TEST(ElasticExpand, OnlyTheFirstMidChannelsMatter) {
  // in 8: e 3 -> 24 middle channels, e 6 -> 48. Poisoning channels 24.. must not change e = 3.
  ElasticBlock b(8, 8, 1, std::vector<int>{3, 5, 7}, std::vector<int>{3, 6}, true);
  EXPECT_EQ(b->max_mid, 48);
  EXPECT_EQ(b->mid_channels(3), 24);
  b->eval();
  b->set_active(5, 3);
  const auto x = torch::randn({2, 8, 6, 6});
  torch::NoGradGuard no_grad;
  const auto before = b->forward(x);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  b->expand_weight.narrow(0, 24, 24).fill_(nan);
  b->depthwise_weight.narrow(0, 24, 24).fill_(nan);
  b->project_weight.narrow(1, 24, 24).fill_(nan);
  b->depthwise_bn->running_var.narrow(0, 24, 24).fill_(nan);
  const auto after = b->forward(x);
  EXPECT_TRUE(torch::isfinite(after).all().item<bool>());
  EXPECT_EQ(max_abs_diff(before, after), 0.0);
  b->set_active(5, 6);
  EXPECT_FALSE(torch::isfinite(b->forward(x)).all().item<bool>());
  EXPECT_THROW(b->set_active(4, 3), core::InputError);
  EXPECT_THROW(b->set_active(3, 4), core::InputError);
}

TEST(ElasticDepth, SkippedBlocksAreNotRun) {
  const auto space = test_space();
  OFASupernet net(space, 0.5);
  net->eval();
  auto arch = net->largest(24);
  arch.d = {2, 4, 3, 2, 4};
  net->set_active(arch);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 1, 24, 24});
  const auto before = net->forward(x);
  // Poison every inactive block of every stage.
  for (size_t s = 0; s < net->stages.size(); ++s)
    for (int j = arch.d[s]; j < space.max_depth(); ++j) net->stages[s][size_t(j)]->project_weight.fill_(NAN);
  const auto after = net->forward(x);
  EXPECT_EQ(max_abs_diff(before, after), 0.0);
  net->set_active(net->largest(24));
  EXPECT_FALSE(torch::isfinite(net->forward(x)).all().item<bool>());
}

TEST(Supernet, RejectsArchsOutsideItsSpace) {
  OFASupernet net(test_space(), 0.5);
  auto a = net->largest(24);
  a.w = 0.25;
  EXPECT_THROW(net->set_active(a), core::InputError);
  a = net->largest(24);
  a.ks[0] = 4;
  EXPECT_THROW(net->set_active(a), core::InputError);
  EXPECT_THROW(OFASupernet(test_space(), 0.3), core::InputError);
}

TEST(Supernet, ExtractedSubnetsEqualTheSupernet) {
  const auto space = test_space();
  OFASupernet net(space, 0.5);
  randomize_bn(*net, 3);
  {
    torch::NoGradGuard no_grad;  // non-identity kernel transforms, so that extraction must apply them
    for (auto& b : net->stages[1]) {
      b->kernel_transforms[0].add_(0.05 * torch::randn_like(b->kernel_transforms[0]));
      b->kernel_transforms[1].add_(0.05 * torch::randn_like(b->kernel_transforms[1]));
    }
  }
  net->eval();
  core::Rng rng(11);
  std::vector<search_space::ArchSpec> archs{net->largest(32), net->smallest(16)};
  for (int i = 0; i < 5; ++i) archs.push_back(space.sample(rng, 0.5, space.resolution_choices[size_t(i % 3)]));
  torch::NoGradGuard no_grad;
  for (const auto& a : archs) {
    const auto x = torch::randn({3, 1, a.r, a.r});
    net->set_active(a);
    const auto expected = net->forward(x);
    auto sub = net->extract(a);
    sub->eval();
    EXPECT_TRUE(sub->desc.same_layers(space.describe(a)));
    const auto got = sub->forward(x);
    EXPECT_LT(max_abs_diff(got, expected), 1e-5) << to_json(a);
    // The supernet's active subnet is unchanged by extraction.
    EXPECT_EQ(net->active(), a);
  }
}

TEST(Supernet, ReorderingMiddleChannelsKeepsTheFullNetwork) {
  OFASupernet net(test_space(), 0.5);
  randomize_bn(*net, 5);
  net->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({4, 1, 32, 32});
  const auto before = net->forward(x);
  net->reorder_middle_channels();
  const auto after = net->forward(x);
  EXPECT_LT(max_abs_diff(before, after) / before.abs().max().item<double>(), 1e-5);
  // Importance is now non-increasing in every block with an expand conv.
  for (auto& stage : net->stages)
    for (auto& b : stage) {
      const auto imp = b->project_weight.abs().sum({0, 2, 3});
      EXPECT_TRUE((imp.slice(0, 0, -1) >= imp.slice(0, 1)).all().item<bool>());
    }
}

TEST(Supernet, DynamicBatchNormUpdatesOnlyActiveRunningStats) {
  DynamicBatchNorm bn(16);
  bn->train();
  const auto x = torch::randn({8, 6, 4, 4}) + 3.0;
  bn->forward(x);
  // Momentum 0.1 update of the first 6 channels only.
  const auto mean = x.mean({0, 2, 3});
  EXPECT_LT(max_abs_diff(bn->running_mean.narrow(0, 0, 6), 0.1 * mean), 1e-6);
  EXPECT_EQ(bn->running_mean.narrow(0, 6, 10).abs().max().item<float>(), 0.0f);
}

// Image folders list their images class by class: a part of a split (export --eval-images N, the BN
// calibration subset) must be a sample of all of it, not its first classes.
TEST(CalibrationIndices, APartOfAClassOrderedSetCoversEveryClass) {
  struct ClassOrdered : tinynas_test::SyntheticImages {
    ClassOrdered() : SyntheticImages(1000, 10, 1) {}
    int64_t label(int i) const override { return i / 100; }
  } data;
  std::set<int64_t> classes;
  for (const int i : calibration_indices(data, 60, 3)) classes.insert(data.label(i));
  EXPECT_EQ(classes.size(), 10u);
}

TEST(BnRecalibration, EqualsStatisticsComputedDirectly) {
  const auto space = test_space();
  OFASupernet net(space, 0.5);
  tinynas_test::SyntheticImages data(300, 10, 1);
  const auto arch = net->smallest(24);
  net->set_active(arch);
  const auto idx = calibration_indices(data, 100, 7);
  ASSERT_EQ(idx.size(), 100u);
  EXPECT_EQ(idx, calibration_indices(data, 100, 7));
  recalibrate_bn(net, data, idx, 24, 32);  // 4 batches: 32, 32, 32, 4

  // Directly: the stem conv's output over all 100 images, and the first block's depthwise output with
  // the stem normalized by each batch's own statistics (as during calibration).
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> stem_out, dw_out;
  for (size_t i = 0; i < idx.size(); i += 32) {
    std::vector<int> b(idx.begin() + long(i), idx.begin() + long(std::min(idx.size(), i + 32)));
    const auto x = load_input(data, b, 24);
    const auto s = torch::conv2d(x, net->stem_weight, {}, 2, 1);
    stem_out.push_back(s);
    const auto mean = s.mean({0, 2, 3}, true);
    const auto var = s.var({0, 2, 3}, false, true);
    const auto h = clipped_relu6((s - mean) / torch::sqrt(var + 1e-5) * net->stem_bn->weight.view({1, -1, 1, 1}) +
                                 net->stem_bn->bias.view({1, -1, 1, 1}));
    dw_out.push_back(torch::conv2d(h, net->first_block->depthwise_filter(net->first_block->max_mid, 3), {}, 1, 1, 1,
                                   net->first_block->max_mid));
  }
  const auto all_stem = torch::cat(stem_out).to(torch::kFloat64);
  const auto all_dw = torch::cat(dw_out).to(torch::kFloat64);
  auto check = [](const DynamicBatchNormImpl& bn, const torch::Tensor& t) {
    const auto c = t.size(1);
    const auto flat = t.transpose(0, 1).reshape({c, -1});
    EXPECT_LT(max_abs_diff(bn.running_mean.narrow(0, 0, c).to(torch::kFloat64), flat.mean(1)), 1e-5);
    const auto var = flat.var(1, /*unbiased=*/true);
    EXPECT_LT((bn.running_var.narrow(0, 0, c).to(torch::kFloat64) - var).abs().max().item<double>() /
                  var.abs().max().item<double>(),
              1e-5);
  };
  check(*net->stem_bn, all_stem);
  check(*net->first_block->depthwise_bn, all_dw);
  EXPECT_FALSE(net->is_training());
}
