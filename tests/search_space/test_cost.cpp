// The analytic cost model: golden figures of the published MCUNet model zoo and hand-computed
// tiny networks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "tinynas/search_space/cost.h"
#include "tinynas/search_space/zoo_json.h"
#include "small_network.h"
#include "test_helpers.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::search_space;
using tinynas_test::small_network;
using tinynas_test::zoo_files;
using tinynas_test::zoo_path;

namespace {

// Rounded as published: MACs to 0.1M, params to 0.001M.
double round_to(double v, double unit) { return std::round(v / unit) * unit; }

struct Golden {
  const char* file;
  double macs_m;
  double params_m;
  int64_t peak;
};

void expect_golden(const Golden& g) {
  SCOPED_TRACE(g.file);
  const Cost c = compute_cost(load_zoo_json(zoo_path(g.file)));
  EXPECT_NEAR(round_to(c.macs / 1e6, 0.1), g.macs_m, 1e-9) << "MACs " << c.macs;
  EXPECT_NEAR(round_to(c.params / 1e6, 0.001), g.params_m, 1e-9) << "params " << c.params;
  EXPECT_EQ(c.analytic_peak, g.peak);
}

// Kind, role, output channels and figures: all that is checked of the pool and classifier layers.
void expect_layer_figures(const LayerCost& l, LayerKind kind, const char* role, int out_c, int64_t macs, int64_t params,
                          int64_t live) {
  EXPECT_EQ(l.kind, kind);
  EXPECT_STREQ(l.role, role);
  EXPECT_EQ(l.out_c, out_c);
  EXPECT_EQ(l.macs, macs);
  EXPECT_EQ(l.params, params);
  EXPECT_EQ(l.analytic_live, live);
}

void expect_layer(const LayerCost& l, LayerKind kind, const char* role, int block, int in_hw, int in_c, int out_hw,
                  int out_c, int kernel, int stride, int64_t macs, int64_t params, int64_t live) {
  SCOPED_TRACE(std::string(role) + " of block " + std::to_string(block));
  expect_layer_figures(l, kind, role, out_c, macs, params, live);
  EXPECT_EQ(l.block, block);
  EXPECT_EQ(l.in_h, in_hw);
  EXPECT_EQ(l.in_w, in_hw);
  EXPECT_EQ(l.in_c, in_c);
  EXPECT_EQ(l.out_h, out_hw);
  EXPECT_EQ(l.out_w, out_hw);
  EXPECT_EQ(l.kernel, kernel);
  EXPECT_EQ(l.stride, stride);
}

}  // namespace

TEST(CostGolden, Mcunet320kb1mbMatchesPublishedFigures) {
  expect_golden({"mcunet-320kb-1mb_imagenet.json", 81.8, 0.737, 340736});
}

TEST(CostGolden, Mcunet5fpsMatchesPublishedFigures) { expect_golden({"mcunet-5fps_imagenet.json", 12.8, 0.636, 92160}); }

TEST(CostGolden, Mbv2W035R144MatchesPublishedFigures) {
  expect_golden({"mbv2-w0.35-r144_imagenet.json", 23.5, 0.750, 311040});
}

TEST(CostGolden, ProxylessW03R176MatchesPublishedFigures) {
  expect_golden({"proxyless-w0.3-r176_imagenet.json", 38.3, 0.754, 247808});
}

TEST(CostTiny, EveryLayerMatchesHandComputation) {
  const Cost c = compute_cost(small_network());
  ASSERT_EQ(c.layers.size(), 9u);
  // stem: 9x9x1 -> ceil(9/2)=5 -> 5x5x8; MACs 25*8*1*9=1800; params 72+2*8=88; live 81+200=281
  expect_layer(c.layers[0], LayerKind::Conv, "stem", -1, 9, 1, 5, 8, 3, 2, 1800, 88, 281);
  // b0 expand: 5x5x8 -> 5x5x16; MACs 25*16*8=3200; params 128+32=160; live 200+400=600
  expect_layer(c.layers[1], LayerKind::Pointwise, "expand", 0, 5, 8, 5, 16, 1, 1, 3200, 160, 600);
  // b0 depthwise: 5x5x16 -> 5x5x16; MACs 25*16*9=3600; params 144+32=176; live 400+400+200(block in)=1000
  expect_layer(c.layers[2], LayerKind::Depthwise, "depthwise", 0, 5, 16, 5, 16, 3, 1, 3600, 176, 1000);
  // b0 project: 5x5x16 -> 5x5x8; MACs 25*8*16=3200; params 128+16=144; live 400+200+200=800
  expect_layer(c.layers[3], LayerKind::Pointwise, "project", 0, 5, 16, 5, 8, 1, 1, 3200, 144, 800);
  // b1 depthwise (no expand): 5x5x8 -> 3x3x8; MACs 9*8*9=648; params 72+16=88; live 200+72=272
  expect_layer(c.layers[4], LayerKind::Depthwise, "depthwise", 1, 5, 8, 3, 8, 3, 2, 648, 88, 272);
  // b1 project: 3x3x8 -> 3x3x16; MACs 9*16*8=1152; params 128+32=160; live 72+144=216
  expect_layer(c.layers[5], LayerKind::Pointwise, "project", 1, 3, 8, 3, 16, 1, 1, 1152, 160, 216);
  // feature mix: 3x3x16 -> 3x3x32; MACs 9*32*16=4608; params 512+64=576; live 144+288=432
  expect_layer(c.layers[6], LayerKind::Pointwise, "feature_mix", -1, 3, 16, 3, 32, 1, 1, 4608, 576, 432);
  // pool: 3x3x32 -> 1x1x32; no MACs/params; live 288+32=320
  expect_layer_figures(c.layers[7], LayerKind::GlobalAvgPool, "pool", 32, 0, 0, 320);
  // classifier: 32 -> 10; MACs 320; params 320+10 bias (no BN); live 32+10=42
  expect_layer_figures(c.layers[8], LayerKind::FullyConnected, "classifier", 10, 320, 330, 42);
  EXPECT_EQ(c.layers[8].in_c, 32);
}

// The same network on a 9 x 4 input (height x width, as audio features are frames x coefficients):
// every map keeps its own height and width, ceil(h / s) x ceil(w / s).
TEST(CostTiny, ANonSquareInputKeepsHeightAndWidthApart) {
  NetworkDesc net = small_network();
  net.input_width = 4;
  EXPECT_EQ(net.width(), 4);
  const Cost c = compute_cost(net);
  ASSERT_EQ(c.layers.size(), 9u);
  const auto hw = [](const LayerCost& l) { return std::vector<int>{l.in_h, l.in_w, l.out_h, l.out_w}; };
  // stem: 9x4x1 -> 5x2x8; MACs 10*8*9=720; live 36+80=116
  EXPECT_EQ(hw(c.layers[0]), (std::vector<int>{9, 4, 5, 2}));
  expect_layer_figures(c.layers[0], LayerKind::Conv, "stem", 8, 720, 88, 116);
  // b0 expand 5x2x8 -> 5x2x16: 10*16*8=1280; live 80+160
  expect_layer_figures(c.layers[1], LayerKind::Pointwise, "expand", 16, 1280, 160, 240);
  // b0 depthwise: 10*16*9=1440; live 160+160+80 (block input)
  expect_layer_figures(c.layers[2], LayerKind::Depthwise, "depthwise", 16, 1440, 176, 400);
  // b0 project: 10*8*16=1280; live 160+80+80
  expect_layer_figures(c.layers[3], LayerKind::Pointwise, "project", 8, 1280, 144, 320);
  // b1 depthwise s2: 5x2 -> 3x1; 3*8*9=216; live 80+24
  EXPECT_EQ(hw(c.layers[4]), (std::vector<int>{5, 2, 3, 1}));
  expect_layer_figures(c.layers[4], LayerKind::Depthwise, "depthwise", 8, 216, 88, 104);
  // b1 project 3x1x8 -> 3x1x16: 3*16*8=384; live 24+48
  expect_layer_figures(c.layers[5], LayerKind::Pointwise, "project", 16, 384, 160, 72);
  // feature mix 3x1x16 -> 3x1x32: 3*32*16=1536; live 48+96
  expect_layer_figures(c.layers[6], LayerKind::Pointwise, "feature_mix", 32, 1536, 576, 144);
  // pool over 3x1x32: live 96+32
  EXPECT_EQ(hw(c.layers[7]), (std::vector<int>{3, 1, 1, 1}));
  expect_layer_figures(c.layers[7], LayerKind::GlobalAvgPool, "pool", 32, 0, 0, 128);
  expect_layer_figures(c.layers[8], LayerKind::FullyConnected, "classifier", 10, 320, 330, 42);
  EXPECT_EQ(c.macs, 720 + 1280 + 1440 + 1280 + 216 + 384 + 1536 + 320);
  EXPECT_EQ(compute_macs(net), c.macs);
  // Not the square network's layers, and the zoo JSON keeps the width.
  EXPECT_FALSE(net.same_layers(small_network()));
  EXPECT_TRUE(network_from_zoo_json(network_to_zoo_json(net)).same_layers(net));
  net.input_width = -1;
  EXPECT_THROW(net.validate(), core::InputError);
}

TEST(CostTiny, TotalsMatchHandComputation) {
  const Cost c = compute_cost(small_network());
  // 1800+3200+3600+3200+648+1152+4608+320
  EXPECT_EQ(c.macs, 18528);
  // 88+160+176+144+88+160+576+330
  EXPECT_EQ(c.params, 1722);
  EXPECT_EQ(c.analytic_peak, 1000);  // the residual block's depthwise
  EXPECT_EQ(compute_macs(small_network()), 18528);
}

// MLPerf Tiny's ResNet-8 counted by hand: a conv's MACs are k*k*cin*cout*ho*wo, its params the weights
// plus 2 per output channel (bias and requantization); MLPerf Tiny states 12.5 M MACs and 78 k params.
TEST(CostResNet8, EveryLayerMatchesHandComputation) {
  const NetworkDesc net = load_zoo_json(tinynas_test::resnet8_path());
  EXPECT_EQ(net.activation, Activation::Relu);
  const Cost c = compute_cost(net);
  ASSERT_EQ(c.layers.size(), 11u);
  // stem 32x32x3 -> 32x32x16: 9*3*16*1024 MACs, 432 + 32 params, live 3072 + 16384
  expect_layer(c.layers[0], LayerKind::Conv, "stem", -1, 32, 3, 32, 16, 3, 1, 442368, 464, 19456);
  // block 0 (identity shortcut): conv1 16->16 (live in + out); conv2 with the block input alive too
  expect_layer(c.layers[1], LayerKind::Conv, "conv1", 0, 32, 16, 32, 16, 3, 1, 2359296, 2336, 32768);
  expect_layer(c.layers[2], LayerKind::Conv, "conv2", 0, 32, 16, 32, 16, 3, 1, 2359296, 2336, 49152);
  // block 1: conv1 16->32 stride 2 (16x16 out), the 1x1 shortcut beside conv1's output, conv2 beside the
  // shortcut's output
  expect_layer(c.layers[3], LayerKind::Conv, "conv1", 1, 32, 16, 16, 32, 3, 2, 1179648, 4672, 16384 + 8192);
  expect_layer(c.layers[4], LayerKind::Pointwise, "shortcut", 1, 32, 16, 16, 32, 1, 2, 131072, 576, 16384 + 8192 + 8192);
  expect_layer(c.layers[5], LayerKind::Conv, "conv2", 1, 16, 32, 16, 32, 3, 1, 2359296, 9280, 3 * 8192);
  // block 2: 32->64 at 8x8
  expect_layer(c.layers[6], LayerKind::Conv, "conv1", 2, 16, 32, 8, 64, 3, 2, 1179648, 18560, 8192 + 4096);
  expect_layer(c.layers[7], LayerKind::Pointwise, "shortcut", 2, 16, 32, 8, 64, 1, 2, 131072, 2176, 8192 + 2 * 4096);
  expect_layer(c.layers[8], LayerKind::Conv, "conv2", 2, 8, 64, 8, 64, 3, 1, 2359296, 36992, 3 * 4096);
  expect_layer_figures(c.layers[9], LayerKind::GlobalAvgPool, "pool", 64, 0, 0, 4096 + 64);
  expect_layer_figures(c.layers[10], LayerKind::FullyConnected, "classifier", 10, 640, 650, 74);
  EXPECT_EQ(c.macs, 12501632);
  EXPECT_EQ(c.params, 78042);
  EXPECT_EQ(c.analytic_peak, 49152);  // block 0's conv2: three 32x32x16 maps
  EXPECT_EQ(compute_macs(net), c.macs);
}

// MLPerf Tiny's DS-CNN counted by hand on 49 x 10 x 1 MFCCs: the 10x4 stride-2 stem gives 25 x 5 x 64,
// then four depthwise-separable blocks of 64 channels.
TEST(CostDsCnn, EveryLayerMatchesHandComputation) {
  const NetworkDesc net = load_zoo_json(tinynas_test::dscnn_path());
  const Cost c = compute_cost(net);
  ASSERT_EQ(c.layers.size(), 11u);
  auto shape = [](const LayerCost& l, int in_h, int in_w, int in_c, int out_h, int out_w, int out_c, int kernel, int kernel_w) {
    SCOPED_TRACE(std::string(l.role) + " of block " + std::to_string(l.block));
    EXPECT_EQ(l.in_h, in_h);
    EXPECT_EQ(l.in_w, in_w);
    EXPECT_EQ(l.in_c, in_c);
    EXPECT_EQ(l.out_h, out_h);
    EXPECT_EQ(l.out_w, out_w);
    EXPECT_EQ(l.out_c, out_c);
    EXPECT_EQ(l.kernel, kernel);
    EXPECT_EQ(l.kernel_w, kernel_w);
  };
  // stem: 10*4*1*64 weights at 25*5 pixels; 2560 + 128 params; live 490 + 8000
  expect_layer_figures(c.layers[0], LayerKind::Conv, "stem", 64, 320000, 2688, 8490);
  shape(c.layers[0], 49, 10, 1, 25, 5, 64, 10, 4);
  EXPECT_EQ(c.layers[0].stride, 2);
  for (int b = 0; b < 4; ++b) {
    const LayerCost& dw = c.layers[size_t(1 + 2 * b)];
    const LayerCost& pw = c.layers[size_t(2 + 2 * b)];
    EXPECT_EQ(dw.block, b);
    EXPECT_EQ(pw.block, b);
    // 3x3 depthwise: 9*64 weights at 125 pixels; 1x1: 64*64 at 125; live in + out = 2 * 8000
    expect_layer_figures(dw, LayerKind::Depthwise, "depthwise", 64, 72000, 704, 16000);
    expect_layer_figures(pw, LayerKind::Pointwise, "pointwise", 64, 512000, 4224, 16000);
    shape(dw, 25, 5, 64, 25, 5, 64, 3, 0);
    shape(pw, 25, 5, 64, 25, 5, 64, 1, 0);
  }
  expect_layer_figures(c.layers[9], LayerKind::GlobalAvgPool, "pool", 64, 0, 0, 8000 + 64);
  EXPECT_EQ(c.layers[9].kernel, 25);
  EXPECT_EQ(c.layers[9].kernel_w, 5);
  expect_layer_figures(c.layers[10], LayerKind::FullyConnected, "classifier", 12, 768, 780, 76);
  EXPECT_EQ(c.macs, 320000 + 4 * (72000 + 512000) + 768);
  EXPECT_EQ(c.params, 2688 + 4 * (704 + 4224) + 780);
  EXPECT_EQ(c.analytic_peak, 16000);
  EXPECT_EQ(compute_macs(net), c.macs);
}

TEST(CostTiny, ResidualBlockWithoutExpandCountsBlockInputOnlyAtProject) {
  // 4x4x3 input, stem 8 ch 3x3 s1, one residual block 8->8 without expand, classifier to 2.
  NetworkDesc n;
  n.resolution = 4;
  n.in_channels = 3;
  n.stem_out = 8;
  n.stem_kernel = 3;
  n.stem_stride = 1;
  BlockDesc b;
  b.in_ch = b.mid_ch = b.out_ch = 8;
  b.kernel = 3;
  b.stride = 1;
  b.has_expand = false;
  b.residual = true;
  n.blocks = {b};
  n.num_classes = 2;
  const Cost c = compute_cost(n);
  ASSERT_EQ(c.layers.size(), 5u);
  // stem: 16*8*3*9=3456 MACs; 216+16=232 params; live 48+128=176
  expect_layer(c.layers[0], LayerKind::Conv, "stem", -1, 4, 3, 4, 8, 3, 1, 3456, 232, 176);
  // depthwise: its input is the block input itself: live 128+128, nothing extra
  expect_layer(c.layers[1], LayerKind::Depthwise, "depthwise", 0, 4, 8, 4, 8, 3, 1, 1152, 88, 256);
  // project: 16*8*8=1024 MACs; 64+16 params; live 128+128+128 (block input kept for the add)
  expect_layer(c.layers[2], LayerKind::Pointwise, "project", 0, 4, 8, 4, 8, 1, 1, 1024, 80, 384);
  EXPECT_EQ(c.layers[3].analytic_live, 128 + 8);
  EXPECT_EQ(c.layers[4].macs, 16);
  EXPECT_EQ(c.layers[4].params, 18);
  EXPECT_EQ(c.macs, 3456 + 1152 + 1024 + 16);
  EXPECT_EQ(c.params, 232 + 88 + 80 + 18);
  EXPECT_EQ(c.analytic_peak, 384);
}

TEST(CostZoo, ComputeMacsEqualsComputeCostOnEveryZooFile) {
  const auto files = zoo_files();
  ASSERT_EQ(files.size(), 13u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const NetworkDesc net = load_zoo_json(f);
    const Cost c = compute_cost(net);
    EXPECT_EQ(compute_macs(net), c.macs);
    int64_t macs = 0, params = 0, peak = 0;
    for (const LayerCost& l : c.layers) {
      macs += l.macs;
      params += l.params;
      peak = std::max(peak, l.analytic_live);
    }
    EXPECT_EQ(macs, c.macs);
    EXPECT_EQ(params, c.params);
    EXPECT_EQ(peak, c.analytic_peak);
  }
}

TEST(CostZoo, LayerTableHasOneRowPerLayer) {
  for (const auto& f : zoo_files()) {
    SCOPED_TRACE(f);
    const NetworkDesc net = load_zoo_json(f);
    size_t expected = 1 + 2;  // stem, pool, classifier
    for (const BlockDesc& b : net.blocks) expected += b.has_expand ? 3 : 2;
    if (net.feature_mix_out > 0) ++expected;
    const Cost c = compute_cost(net);
    ASSERT_EQ(c.layers.size(), expected);
    // Shapes chain: each layer's input is the previous layer's output.
    for (size_t i = 1; i < c.layers.size(); ++i) {
      if (c.layers[i].kind == LayerKind::FullyConnected) continue;
      EXPECT_EQ(c.layers[i].in_h, c.layers[i - 1].out_h) << "layer " << i;
      EXPECT_EQ(c.layers[i].in_c, c.layers[i - 1].out_c) << "layer " << i;
    }
  }
}

TEST(CostNames, LayerKindToString) {
  EXPECT_STREQ(to_string(LayerKind::Conv), "conv");
  EXPECT_STREQ(to_string(LayerKind::Depthwise), "depthwise");
  EXPECT_STREQ(to_string(LayerKind::Pointwise), "pointwise");
  EXPECT_STREQ(to_string(LayerKind::GlobalAvgPool), "global_avg_pool");
  EXPECT_STREQ(to_string(LayerKind::FullyConnected), "fully_connected");
}
