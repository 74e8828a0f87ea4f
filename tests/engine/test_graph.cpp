// The int8 inference graph: op sequence and shapes of a small network, MACs against the cost model,
// validation, SAME padding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "tinynas/engine/graph.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/core/errors.h"
#include "tinynas/search_space/zoo_json.h"
#include "small_network.h"
#include "test_helpers.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::small_network;
using tinynas_test::zoo_files;

namespace {

void expect_tensor(const Graph& g, int t, int h, int w, int c) {
  ASSERT_GE(t, 0);
  ASSERT_LT(t, int(g.tensors.size()));
  EXPECT_EQ(g.tensors[size_t(t)].h, h) << "tensor " << t;
  EXPECT_EQ(g.tensors[size_t(t)].w, w) << "tensor " << t;
  EXPECT_EQ(g.tensors[size_t(t)].c, c) << "tensor " << t;
}

}  // namespace

TEST(GraphBuild, SmallNetworkOpSequenceAndShapes) {
  const Graph g = build_graph(small_network());
  EXPECT_EQ(g.name, "small");
  ASSERT_EQ(g.ops.size(), 10u);
  ASSERT_EQ(g.tensors.size(), 11u);
  EXPECT_EQ(g.input, 0);
  expect_tensor(g, g.input, 9, 9, 1);

  struct Expect {
    OpKind kind;
    const char* role;
    int block, kernel, stride, pad;
    bool relu6;
    int out_h, out_c;
  };
  const Expect expected[] = {
      {OpKind::Conv2D, "stem", -1, 3, 2, 1, true, 5, 8},                 // 9 -> 5; pad (4*2+3-9)/2 = 1
      {OpKind::PointwiseConv2D, "expand", 0, 1, 1, 0, true, 5, 16},      //
      {OpKind::DepthwiseConv2D, "depthwise", 0, 3, 1, 1, true, 5, 16},  // pad (4+3-5)/2 = 1
      {OpKind::PointwiseConv2D, "project", 0, 1, 1, 0, false, 5, 8},    // linear bottleneck
      {OpKind::Add, "residual_add", 0, 1, 1, 0, false, 5, 8},           //
      {OpKind::DepthwiseConv2D, "depthwise", 1, 3, 2, 1, true, 3, 8},   // 5 -> 3; pad (2*2+3-5)/2 = 1
      {OpKind::PointwiseConv2D, "project", 1, 1, 1, 0, false, 3, 16},   //
      {OpKind::PointwiseConv2D, "feature_mix", -1, 1, 1, 0, true, 3, 32},
      {OpKind::GlobalAvgPool, "pool", -1, 3, 1, 0, false, 1, 32},  // kernel = input height
      {OpKind::FullyConnected, "classifier", -1, 1, 1, 0, false, 1, 10},
  };
  for (size_t i = 0; i < g.ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i));
    const Op& op = g.ops[i];
    const Expect& e = expected[i];
    EXPECT_EQ(op.kind, e.kind) << to_string(op.kind);
    EXPECT_STREQ(op.role, e.role);
    EXPECT_EQ(op.block, e.block);
    EXPECT_EQ(op.kernel_h, e.kernel);
    EXPECT_EQ(op.kernel_w, e.kernel);
    EXPECT_EQ(op.stride_h, e.stride);
    EXPECT_EQ(op.stride_w, e.stride);
    EXPECT_EQ(op.pad_h, e.pad);
    EXPECT_EQ(op.pad_w, e.pad);
    EXPECT_EQ(op.activation, e.relu6 ? Activation::Relu6 : Activation::None);
    expect_tensor(g, op.output, e.out_h, e.out_h, e.out_c);
    // Ops run in order and each writes a fresh tensor.
    EXPECT_EQ(op.output, int(i) + 1);
    if (op.kind != OpKind::Add) {
      EXPECT_EQ(op.input2, -1);
      EXPECT_EQ(op.num_inputs(), 1);
    }
  }
  // Chaining: stem reads the input, every op reads the previous output...
  EXPECT_EQ(g.ops[0].input, g.input);
  for (size_t i = 1; i < g.ops.size(); ++i) EXPECT_EQ(g.ops[i].input, g.ops[i - 1].output) << "op " << i;
  // ...and the add also reads the block input (the stem output), projection first.
  EXPECT_EQ(g.ops[4].input, g.ops[3].output);
  EXPECT_EQ(g.ops[4].input2, g.ops[0].output);
  EXPECT_EQ(g.ops[4].num_inputs(), 2);
  EXPECT_EQ(g.output, g.ops.back().output);
  EXPECT_NO_THROW(g.validate());
}

TEST(GraphBuild, SmallNetworkPerOpFigures) {
  const Graph g = build_graph(small_network());
  // MACs: stem 25*8*9, expand 25*16*8, dw 25*16*9, project 25*8*16, add 0, dw 9*8*9, project 9*16*8,
  // feature mix 9*32*16, pool 0, fc 32*10.
  const int64_t macs[] = {1800, 3200, 3600, 3200, 0, 648, 1152, 4608, 0, 320};
  const int64_t weights[] = {72, 128, 144, 128, 0, 72, 128, 512, 0, 320};
  const int64_t channels[] = {8, 16, 16, 8, 0, 8, 16, 32, 0, 10};
  // Scratch (tn_scratch.h): conv and pointwise 8 pixels of an int16 column of k*k*cin values rounded
  // up to a multiple of 4; depthwise rows of out_w int32 sums plus a plane of
  // max((out-1)*s+k, in+pad)^2 int16 (small maps: no width rounding); fc in (rounded up to 4) * 2; add
  // and pool none. Depthwise sums rows: as many as 1600 bytes hold (at least 4), at most out_h.
  //   stem 8*12*2 + 12 (the int8 staging row) = 204; expand 8*8*2=128; dw0 5*5*4 + max(7,6)^2*2=198; project 8*16*2=256;
  //   dw1 3*3*4 + max((3-1)*2+3=7, 5+1=6)^2*2=134; project 8*8*2=128; feature mix 8*16*2=256; fc 32*2=64.
  const int64_t scratch[] = {204, 128, 198, 256, 0, 134, 128, 256, 0, 64};
  int64_t total = 0;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i));
    EXPECT_EQ(op_macs(g, g.ops[i]), macs[i]);
    EXPECT_EQ(op_weight_count(g, g.ops[i]), weights[i]);
    EXPECT_EQ(op_out_channels_with_params(g, g.ops[i]), channels[i]);
    EXPECT_EQ(op_scratch_bytes(g, g.ops[i]), scratch[i]);
    total += op_macs(g, g.ops[i]);
  }
  EXPECT_EQ(total, 18528);
  EXPECT_EQ(total, search_space::compute_cost(small_network()).macs);
}

// ResNet-8: conv1, the shortcut conv (on the block input), conv2, and the add that takes conv2's output
// first and applies the ReLU; an identity block adds its input.
TEST(GraphBuild, ResNet8BasicBlocksRunConv1ShortcutConv2AndAReluAdd) {
  const search_space::NetworkDesc net = search_space::load_zoo_json(tinynas_test::resnet8_path());
  const Graph g = build_graph(net);
  struct Expected {
    OpKind kind;
    const char* role;
    int kernel, stride;
    Activation act;
  };
  const Expected expected[] = {
      {OpKind::Conv2D, "stem", 3, 1, Activation::Relu},          {OpKind::Conv2D, "conv1", 3, 1, Activation::Relu},
      {OpKind::Conv2D, "conv2", 3, 1, Activation::None},         {OpKind::Add, "residual_add", 1, 1, Activation::Relu},
      {OpKind::Conv2D, "conv1", 3, 2, Activation::Relu},         {OpKind::Conv2D, "shortcut", 1, 2, Activation::None},
      {OpKind::Conv2D, "conv2", 3, 1, Activation::None},         {OpKind::Add, "residual_add", 1, 1, Activation::Relu},
      {OpKind::Conv2D, "conv1", 3, 2, Activation::Relu},         {OpKind::Conv2D, "shortcut", 1, 2, Activation::None},
      {OpKind::Conv2D, "conv2", 3, 1, Activation::None},         {OpKind::Add, "residual_add", 1, 1, Activation::Relu},
      {OpKind::GlobalAvgPool, "pool", 8, 1, Activation::None},   {OpKind::FullyConnected, "classifier", 1, 1, Activation::None}};
  ASSERT_EQ(g.ops.size(), std::size(expected));
  for (size_t i = 0; i < g.ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i));
    EXPECT_EQ(g.ops[i].kind, expected[i].kind);
    EXPECT_STREQ(g.ops[i].role, expected[i].role);
    EXPECT_EQ(g.ops[i].kernel_h, expected[i].kernel);
    EXPECT_EQ(g.ops[i].kernel_w, expected[i].kernel);
    EXPECT_EQ(g.ops[i].stride_h, expected[i].stride);
    EXPECT_EQ(g.ops[i].stride_w, expected[i].stride);
    EXPECT_EQ(g.ops[i].activation, expected[i].act);
  }
  // Block 0 adds its input (the stem's output); blocks 1 and 2 add their shortcut conv's output.
  EXPECT_EQ(g.ops[3].input, g.ops[2].output);
  EXPECT_EQ(g.ops[3].input2, g.ops[0].output);
  EXPECT_EQ(g.ops[5].input, g.ops[3].output);
  EXPECT_EQ(g.ops[7].input, g.ops[6].output);
  EXPECT_EQ(g.ops[7].input2, g.ops[5].output);
  expect_tensor(g, g.ops[7].output, 16, 16, 32);
  expect_tensor(g, g.ops[11].output, 8, 8, 64);
  int64_t macs = 0;
  for (const Op& op : g.ops) macs += op_macs(g, op);
  EXPECT_EQ(macs, search_space::compute_macs(net));
  EXPECT_EQ(op_weight_count(g, g.ops[5]), 16 * 32);  // the 1x1 shortcut
}

// A 9 x 4 input (audio features are frames x coefficients): every op's output is the cost model's
// layer shape, and the MACs agree.
TEST(GraphBuild, NonSquareInputFollowsTheCostModel) {
  search_space::NetworkDesc net = small_network();
  net.input_width = 4;
  const Graph g = build_graph(net);
  g.validate();
  expect_tensor(g, g.input, 9, 4, 1);
  const search_space::Cost cost = search_space::compute_cost(net);
  int64_t macs = 0;
  for (const Op& op : g.ops) macs += op_macs(g, op);
  EXPECT_EQ(macs, cost.macs);
  // The stem's output: ceil(9 / 2) x ceil(4 / 2).
  expect_tensor(g, g.ops[0].output, cost.layers[0].out_h, cost.layers[0].out_w, 8);
  expect_tensor(g, g.ops[0].output, 5, 2, 8);
}

TEST(GraphBuild, BuildGraphIntoReusesTheGraph) {
  Graph g = build_graph(search_space::load_zoo_json(zoo_files().front()));
  build_graph_into(small_network(), g);
  EXPECT_EQ(g.ops.size(), 10u);
  EXPECT_EQ(g.tensors.size(), 11u);
  EXPECT_NO_THROW(g.validate());
}

TEST(GraphBuild, InvalidNetworkThrowsInputError) {
  search_space::NetworkDesc n = small_network();
  n.blocks[1].in_ch = 16;
  EXPECT_THROW(build_graph(n), core::InputError);
}

TEST(GraphZoo, OpMacsSumToCostModelMacsOnEveryZooFile) {
  const auto files = zoo_files();
  ASSERT_EQ(files.size(), 13u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const search_space::NetworkDesc net = search_space::load_zoo_json(f);
    const Graph g = build_graph(net);
    int64_t macs = 0;
    for (const Op& op : g.ops) macs += op_macs(g, op);
    EXPECT_EQ(macs, search_space::compute_cost(net).macs);
    // Weight counts plus BN and classifier bias give the cost model's parameters.
    int64_t params = 0;
    for (const Op& op : g.ops) {
      params += op_weight_count(g, op);
      if (op.kind == OpKind::FullyConnected)
        params += op_out_channels_with_params(g, op);  // bias
      else
        params += 2 * op_out_channels_with_params(g, op);  // BN
    }
    EXPECT_EQ(params, search_space::compute_cost(net).params);
  }
}

TEST(GraphZoo, ValidatePassesOnEveryZooGraph) {
  for (const auto& f : zoo_files()) {
    SCOPED_TRACE(f);
    const search_space::NetworkDesc net = search_space::load_zoo_json(f);
    const Graph g = build_graph(net);
    EXPECT_NO_THROW(g.validate());
    size_t residuals = 0;
    for (const search_space::BlockDesc& b : net.blocks) residuals += b.residual;
    size_t adds = 0;
    for (const Op& op : g.ops) adds += op.kind == OpKind::Add;
    EXPECT_EQ(adds, residuals);
    const Tensor& out = g.tensors[size_t(g.output)];
    EXPECT_EQ(out.elements(), net.num_classes);
  }
}

TEST(GraphValidate, WrongOutputShapeThrowsInputErrorNamingTheOp) {
  Graph g = build_graph(small_network());
  g.tensors[size_t(g.ops[0].output)].h = 3;  // stem: 9 -> 5 (4 with no padding after), never 3
  try {
    g.validate();
    FAIL() << "no exception";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("op 0"), std::string::npos) << e.what();
  }
}

TEST(GraphValidate, OtherCorruptionsThrowInputError) {
  const Graph good = build_graph(small_network());
  {
    Graph g = good;
    g.tensors[size_t(g.ops[2].output)].c = 12;  // depthwise changes channels
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.tensors[size_t(g.ops[4].output)].c = 16;  // add output shape differs
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.ops[4].input2 = -1;  // add with one operand
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.ops[3].input = 99;  // index out of range
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    std::swap(g.ops[1], g.ops[2]);  // reads a tensor before it is written
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.ops[5].output = g.ops[4].output;  // writes a tensor twice
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.ops[1].kernel_h = g.ops[1].kernel_w = 3;  // a pointwise conv with a 3x3 kernel
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.tensors[size_t(g.ops[8].output)].h = 2;  // global pooling gives 1x1
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.output = 42;
    EXPECT_THROW(g.validate(), core::InputError);
  }
  {
    Graph g = good;
    g.ops.pop_back();  // nobody writes the output
    EXPECT_THROW(g.validate(), core::InputError);
  }
}

TEST(GraphPadding, SamePadBefore) {
  // PyTorch's padding = k / 2 whatever the input size; TF would put the odd row after for even inputs.
  EXPECT_EQ(same_pad_before(7, 3, 2), 1);
  EXPECT_EQ(same_pad_before(8, 3, 2), 1);  // TF SAME would give 0 here
  EXPECT_EQ(same_pad_before(5, 5, 1), 2);
  EXPECT_EQ(same_pad_before(5, 3, 1), 1);
  EXPECT_EQ(same_pad_before(4, 1, 1), 0);
  EXPECT_EQ(same_pad_before(8, 7, 2), 3);
  EXPECT_EQ(same_pad_before(1, 1, 2), 0);
  // The output size stays ceil(in / stride): the last window starts inside the padded input.
  for (int in = 1; in <= 20; ++in)
    for (int k : {1, 3, 5, 7})
      for (int s : {1, 2}) {
        const int p = same_pad_before(in, k, s);
        EXPECT_EQ((in + 2 * p - k) / s + 1, search_space::conv_out_size(in, s)) << in << " " << k << " " << s;
      }
}

TEST(GraphPadding, EvenKernelsPadAsTfSame) {
  // TF's SAME: total = (ceil(in / s) - 1) * s + k - in, half of it before (rounded down).
  EXPECT_EQ(same_pad_before(49, 10, 2), 4);  // DS-CNN's stem: 9 rows in all, 4 above, 5 below
  EXPECT_EQ(same_pad_before(10, 4, 2), 1);   // 2 columns in all
  EXPECT_EQ(same_pad_before(8, 2, 2), 0);    // the windows tile the input
  EXPECT_EQ(same_pad_before(5, 4, 1), 1);    // 3 in all: 1 before, 2 after
  EXPECT_EQ(same_pad_before(1, 10, 2), 4);
  for (int in = 1; in <= 20; ++in)
    for (int k : {2, 4, 6, 10})
      for (int s : {1, 2}) {
        const int out = search_space::conv_out_size(in, s);
        const int total = std::max((out - 1) * s + k - in, 0);
        const int p = same_pad_before(in, k, s);
        EXPECT_EQ(p, total / 2) << in << " " << k << " " << s;
        EXPECT_LE(p, total - p) << in << " " << k << " " << s;  // the odd pixel goes after
      }
}

TEST(GraphBuild, DsCnnHasANonSquareStemAndActivatedSeparableBlocks) {
  const Graph g = build_graph(search_space::load_zoo_json(tinynas_test::dscnn_path()));
  ASSERT_EQ(g.ops.size(), 11u);
  EXPECT_EQ(g.frontend, Frontend::Mfcc);
  const Op& stem = g.ops[0];
  EXPECT_EQ(stem.kernel_h, 10);
  EXPECT_EQ(stem.kernel_w, 4);
  EXPECT_EQ(stem.stride_h, 2);
  EXPECT_EQ(stem.stride_w, 2);
  EXPECT_EQ(stem.pad_h, 4);
  EXPECT_EQ(stem.pad_w, 1);
  EXPECT_EQ(g.tensors[size_t(stem.output)].h, 25);
  EXPECT_EQ(g.tensors[size_t(stem.output)].w, 5);
  for (int b = 0; b < 4; ++b) {
    const Op& dw = g.ops[size_t(1 + 2 * b)];
    const Op& pw = g.ops[size_t(2 + 2 * b)];
    EXPECT_EQ(dw.kind, OpKind::DepthwiseConv2D);
    EXPECT_EQ(pw.kind, OpKind::PointwiseConv2D);
    EXPECT_EQ(dw.activation, Activation::Relu);
    EXPECT_EQ(pw.activation, Activation::Relu);
    EXPECT_STREQ(pw.role, "pointwise");
  }
  // The graph's MACs are the cost model's.
  int64_t macs = 0;
  for (const Op& op : g.ops) macs += op_macs(g, op);
  EXPECT_EQ(macs, search_space::compute_macs(search_space::load_zoo_json(tinynas_test::dscnn_path())));
}

TEST(GraphNames, OpKindToString) {
  EXPECT_STREQ(to_string(OpKind::Conv2D), "conv2d");
  EXPECT_STREQ(to_string(OpKind::DepthwiseConv2D), "depthwise_conv2d");
  EXPECT_STREQ(to_string(OpKind::PointwiseConv2D), "pointwise_conv2d");
  EXPECT_STREQ(to_string(OpKind::Add), "add");
  EXPECT_STREQ(to_string(OpKind::GlobalAvgPool), "global_avg_pool");
  EXPECT_STREQ(to_string(OpKind::FullyConnected), "fully_connected");
}
