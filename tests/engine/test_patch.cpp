// Patch-based inference (patch.h): regions, call geometry and MACs against hand computation, the
// planner's patch mode checked by check_plan, and the int8 patch run bit-identical to the layer-wise
// run on every zoo network and on random subnets of the shipped spaces.
#include <gtest/gtest.h>

#include "zoo_files.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/search_space/space_yaml.h"
#include "tinynas/search_space/zoo_json.h"

using namespace tinynas;
using namespace tinynas::engine;

namespace {

// 8x8x1 -> block 0: conv 3x3 s1 (8x8x2), conv 3x3 s2 (4x4x2) -> block 1: 1x1 (4x4x4) -> pool, fc.
Graph two_block_graph() {
  Graph g;
  g.name = "two-block";
  g.input = g.add_tensor(8, 8, 1);
  const int a = g.add_tensor(8, 8, 2);
  g.ops[size_t(g.add_op(OpKind::Conv2D, g.input, a, 3, 1))].block = 0;
  const int b = g.add_tensor(4, 4, 2);
  g.ops[size_t(g.add_op(OpKind::Conv2D, a, b, 3, 2))].block = 0;
  const int c = g.add_tensor(4, 4, 4);
  g.ops[size_t(g.add_op(OpKind::PointwiseConv2D, b, c, 1, 1))].block = 1;
  const int p = g.add_tensor(1, 1, 4);
  g.add_op(OpKind::GlobalAvgPool, c, p, 4, 1);
  const int f = g.add_tensor(1, 1, 3);
  g.add_op(OpKind::FullyConnected, p, f);
  g.output = f;
  g.validate();
  return g;
}

int64_t total_macs(const Graph& g) {
  int64_t m = 0;
  for (const Op& op : g.ops) m += op_macs(g, op);
  return m;
}

// The patch run of each schedule gives the layer-wise run's output, byte for byte.
void expect_bit_identical(const Graph& g, const std::vector<PatchSchedule>& schedules, uint64_t seed) {
  const QuantizedModel qm = quantize(random_float_model(g, seed), random_image_inputs(g, 1, seed + 1));
  Int8Interpreter layer_wise(qm);
  std::vector<std::vector<int8_t>> inputs;
  for (const auto& x : random_image_inputs(g, 1, seed + 2)) inputs.push_back(quantize_input(qm, x));
  std::vector<std::vector<int8_t>> expected;
  for (const auto& x : inputs) expected.push_back(layer_wise.run(x));
  for (const PatchSchedule& s : schedules) {
    Int8Interpreter patched(qm, s);
    ASSERT_TRUE(patched.patch_stage().has_value());
    EXPECT_EQ(patched.plan().arena_bytes, plan_arena_bytes(g, *patched.patch_stage()));
    for (size_t k = 0; k < inputs.size(); ++k)
      EXPECT_EQ(patched.run(inputs[k]), expected[k]) << g.name << " " << to_string(s) << " input " << k;
  }
}

// Two schedules of a graph: 2x2 patches before the middle block, and the schedule of lowest peak at
// under 15 % extra MACs.
std::vector<PatchSchedule> some_schedules(const Graph& g) {
  const std::vector<PatchSchedule> all = candidate_patch_schedules(g);
  if (all.empty()) return all;
  std::vector<PatchSchedule> out{PatchSchedule{graph_blocks(g) / 2, 2}};
  const int64_t macs = total_macs(g);
  int64_t best = plan_arena_bytes(g);
  PatchSchedule best_schedule;
  for (const PatchSchedule& s : all) {
    const PatchStage st = plan_patch_stage(g, s);
    const int64_t arena = plan_arena_bytes(g, st);
    if (st.extra_macs() * 100 < macs * 15 && arena < best) best = arena, best_schedule = s;
  }
  if (!best_schedule.layer_wise()) out.push_back(best_schedule);
  return out;
}

}  // namespace

TEST(PatchSchedule, ParsesAndPrintsNAtS) {
  EXPECT_EQ(parse_patch_schedule("4@3"), (PatchSchedule{3, 4}));
  EXPECT_EQ(to_string(PatchSchedule{3, 4}), "4@3");
  EXPECT_TRUE(parse_patch_schedule("layer-wise").layer_wise());
  EXPECT_EQ(to_string(PatchSchedule{}), "layer-wise");
  for (const char* bad : {"", "4", "@3", "4@", "0@3", "4@0", "x@3", "4@3x", "-1@2", "99999@1"})
    EXPECT_THROW(parse_patch_schedule(bad), core::InputError) << bad;
}

// Hand-computed: 2x2 patches of the 4x4 stage output. Op 1 (3x3 s2, pad 1) needs rows [0, 4) of its
// input for output rows [0, 2) (from -1, so 1 row of padding) and [3, 8) for [2, 4) (3..7, no padding);
// op 0 (3x3 s1, pad 1) then needs [0, 5) with padding 1 and [2, 8) with none.
TEST(PatchStage, RegionsAndGeometryAreTheHandComputedOnes) {
  const Graph g = two_block_graph();
  const PatchStage st = plan_patch_stage(g, PatchSchedule{1, 2});
  EXPECT_EQ(st.ops, 2);
  EXPECT_EQ(st.output, 2);
  EXPECT_EQ(st.output_producer, 1);
  EXPECT_TRUE(st.staged_output);  // a 3x3 window cannot write into part of the output's rows
  auto expect = [](Interval iv, int begin, int size) {
    EXPECT_EQ(iv.begin, begin);
    EXPECT_EQ(iv.size, size);
  };
  for (const auto* axis : {&st.rows, &st.cols}) {
    expect((*axis)[0][2], 0, 2);
    expect((*axis)[1][2], 2, 2);
    expect((*axis)[0][1], 0, 4);
    expect((*axis)[1][1], 3, 5);
    expect((*axis)[0][0], 0, 5);
    expect((*axis)[1][0], 2, 6);
  }
  const PatchAxis& first = st.row_axes[0][1];  // op 0 for the second patch row
  EXPECT_EQ(first.in, 6);
  EXPECT_EQ(first.out, 5);
  EXPECT_EQ(first.pad, 0);
  EXPECT_EQ(st.row_axes[0][0].pad, 1);
  EXPECT_EQ(st.row_axes[1][0].pad, 1);
  EXPECT_EQ(st.row_axes[1][1].in, 5);
  EXPECT_EQ(st.row_axes[1][1].out, 2);
  // Buffers: the input's largest region 6x6x1, op 0's output 5x5x2, the staging 2x2x2.
  EXPECT_EQ(st.buffer_bytes[0], 36);
  EXPECT_EQ(st.buffer_bytes[1], 50);
  EXPECT_EQ(st.staging_bytes, 8);
  // Op 0 computes (4 + 5)^2 = 81 pixels instead of 64, 18 MACs each; op 1 computes its 16 once.
  EXPECT_EQ(st.stage_layer_wise_macs, 64 * 18 + 16 * 18 * 2);
  EXPECT_EQ(st.extra_macs(), (81 - 64) * 18);
  const MemoryPlan plan = plan_memory(g, st);
  EXPECT_EQ(check_plan(g, st, plan), "");
}

TEST(PatchStage, RefusesWhatCannotRunPerPatch) {
  const Graph g = two_block_graph();
  EXPECT_THROW(plan_patch_stage(g, PatchSchedule{3, 2}), core::InputError);  // 2 blocks
  EXPECT_NO_THROW(plan_patch_stage(g, PatchSchedule{2, 2}));  // after the last block: the pooling reads the stage output
  EXPECT_THROW(plan_patch_stage(g, PatchSchedule{1, 5}), core::InputError);  // 4x4 output
  EXPECT_THROW(plan_patch_stage(g, PatchSchedule{}), core::InputError);
  // A squeeze-and-excite block needs its whole input.
  Graph se = two_block_graph();
  const int pooled = se.add_tensor(1, 1, 2);
  const int scaled = se.add_tensor(4, 4, 2);
  se.ops.insert(se.ops.begin() + 2, Op{});
  se.ops[2] = Op{};
  se.ops[2].kind = OpKind::GlobalAvgPool;
  se.ops[2].input = 2, se.ops[2].output = pooled, se.ops[2].kernel_h = se.ops[2].kernel_w = 4, se.ops[2].block = 0;
  se.ops.insert(se.ops.begin() + 3, Op{});
  se.ops[3].kind = OpKind::Mul;
  se.ops[3].input = 2, se.ops[3].input2 = pooled, se.ops[3].output = scaled, se.ops[3].block = 0;
  se.ops[4].input = scaled;
  se.validate();
  EXPECT_THROW(plan_patch_stage(se, PatchSchedule{1, 2}), core::InputError);
  // A front-end's graph runs layer by layer.
  search_space::NetworkDesc dscnn = search_space::load_zoo_json(tinynas_test::dscnn_path());
  EXPECT_THROW(plan_patch_stage(build_graph(dscnn), PatchSchedule{1, 2}), core::InputError);
  EXPECT_TRUE(candidate_patch_schedules(build_graph(dscnn)).empty());
}

TEST(PatchStage, OneBigPatchIsTheLayerWiseRun) {
  const Graph g = two_block_graph();
  const PatchStage st = plan_patch_stage(g, PatchSchedule{1, 1});
  EXPECT_EQ(st.extra_macs(), 0);
  expect_bit_identical(g, {PatchSchedule{1, 1}, PatchSchedule{1, 2}, PatchSchedule{1, 3}, PatchSchedule{1, 4}}, 3);
}

// Every zoo network: each candidate schedule's plan is sound, and a few of them run bit-identical.
TEST(PatchZoo, EveryScheduleIsSoundAndRunsBitIdentical) {
  for (const std::string& file : tinynas_test::zoo_files()) {
    SCOPED_TRACE(file);
    const Graph g = build_graph(search_space::load_zoo_json(file));
    const std::vector<PatchSchedule> all = candidate_patch_schedules(g);
    ASSERT_FALSE(all.empty());
    for (const PatchSchedule& s : all) {
      const PatchStage st = plan_patch_stage(g, s);
      EXPECT_EQ(check_plan(g, st, plan_memory(g, st)), "") << to_string(s);
      EXPECT_GE(st.extra_macs(), 0);
    }
    expect_bit_identical(g, some_schedules(g), 11);
  }
}

// Basic blocks with strided 1x1 shortcuts (ResNet-8), and DS-CNN's 10x4 stem with even-kernel
// SAME padding (here without its front-end).
TEST(PatchZoo, BasicBlocksAndEvenKernelsRunBitIdentical) {
  const Graph resnet = build_graph(search_space::load_zoo_json(tinynas_test::resnet8_path()));
  expect_bit_identical(resnet, candidate_patch_schedules(resnet), 5);
  search_space::NetworkDesc dscnn = search_space::load_zoo_json(tinynas_test::dscnn_path());
  dscnn.frontend = "";
  const Graph g = build_graph(dscnn);
  expect_bit_identical(g, candidate_patch_schedules(g, 4), 6);
}

// Property: random subnets of the shipped spaces with a random schedule each.
TEST(PatchProperty, RandomSubnetsRunBitIdentical) {
  core::Rng rng(2026);
  int checked = 0;
  for (const char* space_file : {"fashion-mnist.yaml", "cifar10.yaml", "mcunet-imagenet.yaml"}) {
    const search_space::SearchSpace space =
        search_space::load_space(std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/" + space_file);
    for (int k = 0; k < 12; ++k) {
      const search_space::ArchSpec arch = space.sample(rng);
      const Graph g = build_graph(space.describe(arch));
      const std::vector<PatchSchedule> all = candidate_patch_schedules(g, 5);
      if (all.empty()) continue;
      const PatchSchedule s = all[rng.below(uint32_t(all.size()))];
      SCOPED_TRACE(std::string(space_file) + " subnet " + std::to_string(k) + " " + to_string(s));
      const PatchStage st = plan_patch_stage(g, s);
      ASSERT_EQ(check_plan(g, st, plan_memory(g, st)), "");
      expect_bit_identical(g, {s}, 100 + uint64_t(k));
      ++checked;
    }
  }
  EXPECT_GE(checked, 30);
}
