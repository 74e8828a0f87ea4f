// The Flash model: int8 weights, 4 B bias and 8 B requantization parameters per output channel of
// every layer with weights, plus the runtime code.
#include <gtest/gtest.h>

#include "tinynas/engine/flash.h"
#include "tinynas/engine/graph.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/search_space/zoo_json.h"
#include "small_network.h"
#include "test_helpers.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::small_network;
using tinynas_test::zoo_files;

TEST(FlashHand, HandBuiltGraphWithEveryOpKind) {
  Graph g;
  const int t0 = g.add_tensor(8, 8, 3);
  const int t1 = g.add_tensor(4, 4, 8);
  const int t2 = g.add_tensor(4, 4, 8);
  const int t3 = g.add_tensor(4, 4, 16);
  const int t4 = g.add_tensor(4, 4, 16);
  const int t5 = g.add_tensor(2, 2, 16);
  const int t6 = g.add_tensor(1, 1, 16);
  const int t7 = g.add_tensor(1, 1, 5);
  const int t8 = g.add_tensor(1, 1, 5);
  g.input = t0;
  g.output = t8;
  g.add_op(OpKind::Conv2D, t0, t1, 3, 2);           // 8*3*9 = 216 weights, 8 channels
  g.add_op(OpKind::DepthwiseConv2D, t1, t2, 5, 1);  // 8*25 = 200 weights, 8 channels
  g.add_op(OpKind::PointwiseConv2D, t2, t3, 1, 1);  // 16*8 = 128 weights, 16 channels
  g.add_op(OpKind::Add, t3, t4, 1, 1, t3);          // no weights
  g.add_op(OpKind::AvgPool2D, t4, t5, 2, 2);        // no weights
  g.add_op(OpKind::GlobalAvgPool, t5, t6, 2, 1);    // no weights
  g.add_op(OpKind::FullyConnected, t6, t7, 1, 1);   // 16*5 = 80 weights, 5 channels
  g.add_op(OpKind::Softmax, t7, t8, 1, 1);          // no weights
  ASSERT_NO_THROW(g.validate());

  const FlashEstimate f = estimate_flash(g, 0);
  EXPECT_EQ(f.weight_bytes, 216 + 200 + 128 + 80);  // 624
  EXPECT_EQ(f.bias_bytes, 4 * (8 + 8 + 16 + 5));    // 148
  EXPECT_EQ(f.quant_param_bytes, 8 * 37);           // 296
  EXPECT_EQ(f.code_bytes, 0);
  EXPECT_EQ(f.total(), 1068);
  const FlashEstimate h = estimate_flash(g, 50000);
  EXPECT_EQ(h.code_bytes, 50000);
  EXPECT_EQ(h.total(), 51068);
}

TEST(FlashHand, TinyNetworkDescription) {
  // 9x9x1, stem 8; block 8->16->8 residual; block 8->16 no expand s2; feature mix 32; 10 classes.
  const FlashEstimate f = estimate_flash(build_graph(small_network()), 12345);
  // Weights: stem 72, expand 128, dw 144, project 128, dw 72, project 128, mix 512, fc 320.
  EXPECT_EQ(f.weight_bytes, 1504);
  // Channels with params: 8+16+16+8 + 8+16 + 32 + 10 = 114 (the add and the pool have none).
  EXPECT_EQ(f.bias_bytes, 4 * 114);
  EXPECT_EQ(f.quant_param_bytes, 8 * 114);
  EXPECT_EQ(f.code_bytes, 12345);
  EXPECT_EQ(f.total(), 1504 + 456 + 912 + 12345);
}

TEST(FlashZoo, WeightsMatchCostModelParameters) {
  // params = weights + 2 per BN channel + classifier bias = weights + 2 * channels - classes.
  for (const auto& file : zoo_files()) {
    SCOPED_TRACE(file);
    const search_space::NetworkDesc net = search_space::load_zoo_json(file);
    const FlashEstimate f = estimate_flash(build_graph(net), 0);
    const int64_t channels = f.bias_bytes / 4;
    EXPECT_EQ(f.bias_bytes % 4, 0);
    EXPECT_EQ(f.quant_param_bytes, 2 * f.bias_bytes);
    EXPECT_EQ(f.weight_bytes + 2 * channels - net.num_classes, search_space::compute_cost(net).params);
  }
}
