// The memory planner: a hand-built graph planned by hand (planner.h's algorithm), properties on every
// zoo graph, and check_plan on corrupted plans.
#include <gtest/gtest.h>

#include <string>

#include "tinynas/core/errors.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/graph.h"
#include "tinynas/engine/planner.h"
#include "tinynas/search_space/zoo_json.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::zoo_files;
using tinynas_test::zoo_path;

namespace {

// Every op has SAME padding (Graph::add_op).
// t0 4x4x8 (128 B) -> op0 MaxPool 3x3 s1 pad 1 -> t1 4x4x8 (128)
//                  -> op1 Depthwise 3x3 s1 pad 1 -> t2 4x4x8 (128); scratch 4 rows of 4 int32 sums
//                     + a 6*6 int16 plane: 64 + 72 = 136
//   op2 Add(t2, t1) -> t3 4x4x8 (128)
//   op3 Depthwise 3x3 s2 pad 1 -> t4 2x2x8 (32); scratch 2 rows (all there are) of 2 sums + plane rows
//   max((2-1)*2+3 = 5, 4+1): 16 + 5*5*2 = 66 -> 68
//   op4 GlobalAvgPool -> t5 1x1x8 (8), the graph output.
// Lifetimes: t0 [0,0], t1 [0,2], t2 [1,2], t3 [2,3], t4 [3,4], t5 [4,4].
Graph hand_graph() {
  Graph g;
  g.name = "hand";
  const int t0 = g.add_tensor(4, 4, 8);
  const int t1 = g.add_tensor(4, 4, 8);
  const int t2 = g.add_tensor(4, 4, 8);
  const int t3 = g.add_tensor(4, 4, 8);
  const int t4 = g.add_tensor(2, 2, 8);
  const int t5 = g.add_tensor(1, 1, 8);
  g.input = t0;
  g.output = t5;
  g.add_op(OpKind::MaxPool2D, t0, t1, 3, 1);
  g.add_op(OpKind::DepthwiseConv2D, t1, t2, 3, 1);
  g.add_op(OpKind::Add, t2, t3, 1, 1, t1);
  g.add_op(OpKind::DepthwiseConv2D, t3, t4, 3, 2);
  g.add_op(OpKind::GlobalAvgPool, t4, t5, 2);
  return g;
}

std::vector<Graph> zoo_graphs() {
  std::vector<Graph> graphs;
  for (const auto& f : zoo_files()) {
    graphs.push_back(build_graph(search_space::load_zoo_json(f)));
    graphs.back().name = f;
  }
  return graphs;
}

PlanOptions layerwise() {
  PlanOptions o;
  o.inplace = false;
  return o;
}

// The plan of hand_graph() worked out by hand for one mode.
struct HandPlan {
  std::vector<int64_t> tensor_offset;
  int64_t scratch_offset_op1, scratch_offset_op3;  // the two ops with scratch
  std::vector<uint8_t> inplace;
  std::vector<int64_t> live_bytes;
  int64_t arena_bytes, peak_live_bytes;
};

void expect_hand_plan(const PlanOptions& o, const HandPlan& e) {
  const Graph g = hand_graph();
  const MemoryPlan p = plan_memory(g, o);
  EXPECT_EQ(p.tensor_offset, e.tensor_offset);
  EXPECT_EQ(p.scratch_bytes, (std::vector<int64_t>{0, 136, 0, 68, 0}));
  EXPECT_EQ(p.scratch_offset[1], e.scratch_offset_op1);
  EXPECT_EQ(p.scratch_offset[3], e.scratch_offset_op3);
  EXPECT_EQ(p.inplace, e.inplace);
  EXPECT_EQ(p.live_bytes, e.live_bytes);
  EXPECT_EQ(p.arena_bytes, e.arena_bytes);
  EXPECT_EQ(p.peak_live_bytes, e.peak_live_bytes);
  EXPECT_EQ(plan_arena_bytes(g, o), e.arena_bytes);
  EXPECT_EQ(check_plan(g, p), "");
}

}  // namespace

TEST(PlannerHand, GraphIsValidAndScratchSizesAreAsComputed) {
  const Graph g = hand_graph();
  ASSERT_NO_THROW(g.validate());
  EXPECT_EQ(same_pad_before(4, 3, 2), 1);  // PyTorch-style k / 2
  EXPECT_EQ(op_scratch_bytes(g, g.ops[0]), 0);
  EXPECT_EQ(op_scratch_bytes(g, g.ops[1]), 136);
  EXPECT_EQ(op_scratch_bytes(g, g.ops[2]), 0);
  EXPECT_EQ(op_scratch_bytes(g, g.ops[3]), 66);
  EXPECT_EQ(op_scratch_bytes(g, g.ops[4]), 0);
}

// In place. Buffers in creation order:
//   B0 t0 128 [0,0]; B1 t1 128 [0,2] (maxpool: never in place); B2 t2 128 [1,2] (op1's input t1 is read
//   again by op2: not in place); op2 add: t2 dies there -> t3 joins B2, [1,3]; op3 depthwise: t3 dies,
//   32 <= 128 -> t4 joins B2, [1,4]; B3 t5 8 [4,4]; scratch B4 136 [1,1], B5 68 [3,3].
// Order by size: B4 136, B0, B1, B2 (128; ties by first use 0,0,1 then id), B5 68, B3 8.
//   B4 -> 0. B0 [0,0] meets nothing -> 0. B1 [0,2] meets B4@0 [0,136), B0@0 -> 136.
//   B2 [1,4] meets B4@0, B1@136 -> 264. B5 [3,3] meets B2@264 -> 0. B3 [4,4] meets B2@264 -> 0.
// Arena 264 + 128 = 392.
// Live: op0 B0+B1=256; op1 B1+B2+B4=392; op2 B1+B2=256; op3 B2+B5=196; op4 B2+B3=136.
TEST(PlannerHand, InPlacePlanMatchesHandComputation) {
  expect_hand_plan(PlanOptions{}, {{0, 136, 264, 264, 264, 0}, 0, 0, {0, 0, 1, 1, 0}, {256, 392, 256, 196, 136}, 392, 392});
}

// Layer-wise: every tensor has its own buffer.
//   B0 t0 128 [0,0]; B1 t1 128 [0,2]; B2 t2 128 [1,2]; B3 t3 128 [2,3]; B4 t4 32 [3,4]; B5 t5 8 [4,4];
//   scratch B6 136 [1,1], B7 68 [3,3].
// Order by size: B6, B0, B1, B2, B3, B7, B4, B5.
//   B6 -> 0. B0 [0,0] -> 0. B1 [0,2] meets B6@0 [0,136), B0@0 -> 136. B2 [1,2] meets B6@0, B1@136 -> 264.
//   B3 [2,3] meets B1@136, B2@264 -> 0. B7 [3,3] meets B3@0 -> 128.
//   B4 [3,4] meets B3@0, B7@128 [128,196) -> 196. B5 [4,4] meets B4@196 -> 0.
// Arena 264 + 128 = 392.
// Live: op0 256; op1 128+128+136=392; op2 128*3=384; op3 128+32+68=228; op4 32+8=40.
TEST(PlannerHand, LayerwisePlanMatchesHandComputation) {
  expect_hand_plan(layerwise(), {{0, 136, 264, 0, 196, 0}, 0, 128, {0, 0, 0, 0, 0}, {256, 392, 384, 228, 40}, 392, 392});
}

// The add may also run in place over its second operand when only that one dies there:
//   op0 MaxPool t0 -> t1, op1 Add(t1, t0) -> t2, op2 MaxPool t1 -> t3 (t1 still read at op 2),
//   op3 Add(t3, t2) -> t4, the output.
TEST(PlannerHand, AddRunsInPlaceOverWhicheverOperandDies) {
  Graph g;
  const int t0 = g.add_tensor(2, 2, 4);  // 16 B
  const int t1 = g.add_tensor(2, 2, 4);
  const int t2 = g.add_tensor(2, 2, 4);
  const int t3 = g.add_tensor(2, 2, 4);
  const int t4 = g.add_tensor(2, 2, 4);
  g.input = t0;
  g.output = t4;
  g.add_op(OpKind::MaxPool2D, t0, t1);
  g.add_op(OpKind::Add, t1, t2, 1, 1, t0);  // t1 read later; t0 dies here
  g.add_op(OpKind::MaxPool2D, t1, t3);
  g.add_op(OpKind::Add, t3, t4, 1, 1, t2);  // t3 dies here
  ASSERT_NO_THROW(g.validate());
  // Buffers: B0 t0 [0,1] + t2 -> [0,3]; B1 t1 [0,2]; B2 t3 [2,3] + t4 -> [2,3]. All 16 B.
  // Order by first use: B0, B1, B2. B0 -> 0; B1 -> 16; B2 meets both -> 32. Arena 48.
  const MemoryPlan p = plan_memory(g);
  EXPECT_EQ(p.inplace, (std::vector<uint8_t>{0, 1, 0, 1}));
  EXPECT_EQ(p.tensor_offset, (std::vector<int64_t>{0, 16, 0, 32, 32}));
  EXPECT_EQ(p.arena_bytes, 48);
  EXPECT_EQ(p.live_bytes, (std::vector<int64_t>{32, 32, 48, 32}));  // B1 dies after op 2
  EXPECT_EQ(check_plan(g, p), "");
}

TEST(PlannerHand, AlignmentRoundsSizesAndOffsets) {
  Graph g;
  const int t0 = g.add_tensor(1, 1, 5);  // 5 B -> 8
  const int t1 = g.add_tensor(1, 1, 5);
  const int t2 = g.add_tensor(1, 1, 3);  // 3 B -> 4
  g.input = t0;
  g.output = t2;
  g.add_op(OpKind::MaxPool2D, t0, t1);
  g.add_op(OpKind::GlobalAvgPool, t1, t2);
  // Output 1x1x3 from a 1x1x5 input fails "global pooling gives 1x1xC", but the planner only needs sizes.
  // B0 8 [0,0] -> 0; B1 8 [0,1] -> 8; B2 4 [1,1] meets B1@8 -> 0. Arena 16.
  const MemoryPlan p = plan_memory(g);
  EXPECT_EQ(p.tensor_offset, (std::vector<int64_t>{0, 8, 0}));
  EXPECT_EQ(p.arena_bytes, 16);
  EXPECT_EQ(p.live_bytes, (std::vector<int64_t>{16, 12}));
  PlanOptions o;
  o.alignment = 16;
  const MemoryPlan q = plan_memory(g, o);
  EXPECT_EQ(q.tensor_offset, (std::vector<int64_t>{0, 16, 0}));
  EXPECT_EQ(q.arena_bytes, 32);
  // The kernels read scratch and tensors with word loads: an alignment that is not a multiple of 4 is
  // refused, not rounded.
  for (const int bad : {0, 1, 2, 6}) {
    o.alignment = bad;
    EXPECT_THROW(plan_memory(g, o), core::InputError) << bad;
  }
}

// ---- check_plan on corrupted plans ----------------------------------------------------------------

TEST(CheckPlan, DetectsTensorMovedOntoALiveTensor) {
  const Graph g = hand_graph();
  MemoryPlan p = plan_memory(g, layerwise());
  p.tensor_offset[2] = 128;  // t2 onto t1; both live at ops 1-2
  const std::string msg = check_plan(g, p);
  EXPECT_NE(msg, "");
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
}

TEST(CheckPlan, DetectsScratchOverlappingATensor) {
  const Graph g = hand_graph();
  MemoryPlan p = plan_memory(g);
  p.scratch_offset[1] = 100;  // overlaps t1 at [128, 256) during op 1
  EXPECT_NE(check_plan(g, p).find("scratch of op 1"), std::string::npos) << check_plan(g, p);
}

TEST(CheckPlan, DetectsShrunkArena) {
  const Graph g = hand_graph();
  for (const PlanOptions& o : {PlanOptions{}, layerwise()}) {
    MemoryPlan p = plan_memory(g, o);
    p.arena_bytes -= 4;
    const std::string msg = check_plan(g, p);
    EXPECT_NE(msg.find("outside the arena"), std::string::npos) << msg;
  }
}

TEST(CheckPlan, DetectsClearedInPlaceFlag) {
  const Graph g = hand_graph();
  MemoryPlan p = plan_memory(g);
  ASSERT_EQ(p.inplace[2], 1);
  ASSERT_EQ(p.tensor_offset[2], p.tensor_offset[3]);
  p.inplace[2] = 0;  // t2 and t3 still share offset 0 and are both live at op 2
  const std::string msg = check_plan(g, p);
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
}

TEST(CheckPlan, DetectsBogusInPlaceFlag) {
  const Graph g = hand_graph();
  MemoryPlan p = plan_memory(g);
  // op 1 cannot run in place: its input t1 is read again by op 2.
  p.inplace[1] = 1;
  p.tensor_offset[2] = p.tensor_offset[1];
  EXPECT_NE(check_plan(g, p), "");
}

TEST(CheckPlan, DetectsMissingOrTooSmallScratch) {
  const Graph g = hand_graph();
  MemoryPlan p = plan_memory(g);
  p.scratch_bytes[1] = 64;  // needs 72
  EXPECT_NE(check_plan(g, p), "");
  p = plan_memory(g);
  p.scratch_bytes[3] = 0;
  EXPECT_NE(check_plan(g, p), "");
  p = plan_memory(g);
  p.tensor_offset.pop_back();
  EXPECT_NE(check_plan(g, p), "");
}

// ---- every zoo config -----------------------------------------------------------------------------

TEST(PlannerZoo, CheckPlanPassesInBothModes) {
  for (const Graph& g : zoo_graphs()) {
    SCOPED_TRACE(g.name);
    EXPECT_EQ(check_plan(g, plan_memory(g)), "");
    EXPECT_EQ(check_plan(g, plan_memory(g, layerwise())), "");
    PlanOptions wide;
    wide.alignment = 16;
    EXPECT_EQ(check_plan(g, plan_memory(g, wide)), "");
  }
}

TEST(PlannerZoo, InPlaceNeverNeedsMoreThanLayerwise) {
  for (const Graph& g : zoo_graphs()) {
    SCOPED_TRACE(g.name);
    const MemoryPlan in = plan_memory(g);
    const MemoryPlan lw = plan_memory(g, layerwise());
    EXPECT_LE(in.arena_bytes, lw.arena_bytes);
    EXPECT_LE(in.peak_live_bytes, lw.peak_live_bytes);
    bool any_inplace = false;
    for (uint8_t f : in.inplace) any_inplace |= f != 0;
    EXPECT_TRUE(any_inplace);
    for (uint8_t f : lw.inplace) EXPECT_EQ(f, 0);
  }
}

TEST(PlannerZoo, ArenaIsAtLeastPeakLiveBytesAndAligned) {
  for (const Graph& g : zoo_graphs()) {
    SCOPED_TRACE(g.name);
    for (const PlanOptions& o : {PlanOptions{}, layerwise()}) {
      const MemoryPlan p = plan_memory(g, o);
      EXPECT_GE(p.arena_bytes, p.peak_live_bytes);
      EXPECT_GT(p.peak_live_bytes, 0);
      ASSERT_EQ(p.live_bytes.size(), g.ops.size());
      for (int64_t off : p.tensor_offset) EXPECT_EQ(off % 4, 0);
      for (size_t i = 0; i < g.ops.size(); ++i) {
        EXPECT_EQ(p.scratch_offset[i] % 4, 0);
        EXPECT_EQ(p.scratch_bytes[i] % 4, 0);
        EXPECT_GE(p.scratch_bytes[i], op_scratch_bytes(g, g.ops[i]));
      }
    }
  }
}

TEST(PlannerZoo, PlanArenaBytesEqualsPlanMemory) {
  const auto graphs = zoo_graphs();
  // Twice, alternating modes, so the reused workspace of plan_arena_bytes is exercised.
  for (int round = 0; round < 2; ++round)
    for (const Graph& g : graphs) {
      SCOPED_TRACE(g.name);
      EXPECT_EQ(plan_arena_bytes(g), plan_memory(g).arena_bytes);
      EXPECT_EQ(plan_arena_bytes(g, layerwise()), plan_memory(g, layerwise()).arena_bytes);
    }
}

TEST(PlannerZoo, Mcunet320kbFitsTinyEngineMeasuredPeak) {
  const Graph g = build_graph(search_space::load_zoo_json(zoo_path("mcunet-320kb-1mb_imagenet.json")));
  const MemoryPlan p = plan_memory(g);
  EXPECT_LE(p.arena_bytes, 260 * 1024);
  EXPECT_LE(p.arena_bytes, plan_memory(g, layerwise()).arena_bytes);
}

TEST(PlannerZoo, Mcunet5fpsFitsInNinetySixKb) {
  const Graph g = build_graph(search_space::load_zoo_json(zoo_path("mcunet-5fps_imagenet.json")));
  EXPECT_LE(plan_memory(g).arena_bytes, 96 * 1024);
}

namespace {

// A graph behind the MFCC front-end: t0 49x10x1 (490 B, 492 aligned) -> op0 MaxPool 3x3 s1 -> t1 49x10x1
// (492) -> op1 GlobalAvgPool -> t2 1x1x1 (1, 4 aligned), the output.
Graph frontend_graph() {
  Graph g;
  g.name = "kws-hand";
  const int t0 = g.add_tensor(49, 10, 1);
  const int t1 = g.add_tensor(49, 10, 1);
  const int t2 = g.add_tensor(1, 1, 1);
  g.input = t0;
  g.output = t2;
  g.frontend = Frontend::Mfcc;
  g.add_op(OpKind::MaxPool2D, t0, t1, 3, 1);
  g.ops[size_t(g.add_op(OpKind::GlobalAvgPool, t1, t2, 1))].kernel_w = 10;
  g.ops[1].kernel_h = 49;
  return g;
}

}  // namespace

// The front-end's step -1: PCM 16000 x 2 = 32000 B and the MFCC scratch tn_mfcc_scratch_bytes(512, 40) =
// 2208 B live there alone, the graph input t0 from -1 to op 0.
//   Buffers: B0 t0 492 [-1,0]; B1 t1 492 [0,1]; B2 t2 4 [1,1]; B3 PCM 32000 [-1,-1]; B4 scratch 2208 [-1,-1].
//   By size: B3 -> 0. B4 meets B3 -> 32000. B0 meets B3, B4 -> 34208. B1 [0,1] meets B0@34208 only -> 0
//   (the PCM's space, free after the front-end). B2 [1,1] meets B1@0 -> 492.
//   Arena 34208 + 492 = 34700; live: front-end 32000 + 2208 + 492 = 34700, op0 984, op1 496.
TEST(PlannerHand, AFrontEndRunsAtAStepBeforeTheFirstOp) {
  const Graph g = frontend_graph();
  ASSERT_NO_THROW(g.validate());
  EXPECT_EQ(frontend_sizes(Frontend::Mfcc).input_bytes, 32000);
  EXPECT_EQ(frontend_sizes(Frontend::Mfcc).scratch_bytes, 2208);
  const MemoryPlan p = plan_memory(g);
  EXPECT_EQ(p.tensor_offset, (std::vector<int64_t>{34208, 0, 492}));
  EXPECT_EQ(p.frontend_input_offset, 0);
  EXPECT_EQ(p.frontend_scratch_offset, 32000);
  EXPECT_EQ(p.frontend_live_bytes, 34700);
  EXPECT_EQ(p.live_bytes, (std::vector<int64_t>{984, 496}));
  EXPECT_EQ(p.peak_live_bytes, 34700);
  EXPECT_EQ(p.arena_bytes, 34700);
  EXPECT_EQ(plan_arena_bytes(g), 34700);
  EXPECT_EQ(peak_sram_bytes(g), 34700 + kStackBoundBytes);
  EXPECT_EQ(check_plan(g, p), "");
  // Without the front-end the same network needs its own tensors only: t0 and t1 side by side.
  Graph plain = g;
  plain.frontend = Frontend::None;
  EXPECT_EQ(plan_arena_bytes(plain), 984);
}

TEST(CheckPlan, DetectsATensorOverTheFrontEndsBuffers) {
  const Graph g = frontend_graph();
  MemoryPlan p = plan_memory(g);
  p.tensor_offset[0] = 32000;  // the graph input onto the front-end's scratch, both live at step -1
  EXPECT_NE(check_plan(g, p).find("the front-end's scratch"), std::string::npos) << check_plan(g, p);
  p = plan_memory(g);
  p.frontend_input_offset = 34000;  // the PCM onto the graph input it feeds
  EXPECT_NE(check_plan(g, p).find("the front-end's input"), std::string::npos) << check_plan(g, p);
}

TEST(GraphFrontEnd, TheInputMustBeWhatTheFrontEndGives) {
  Graph g = frontend_graph();
  g.tensors[0] = Tensor{49, 12, 1};
  g.tensors[1] = Tensor{49, 12, 1};
  try {
    g.validate();
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("49 x 10 x 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(frontend_from_name("mfcc"), Frontend::Mfcc);
  EXPECT_EQ(frontend_from_name(""), Frontend::None);
  EXPECT_THROW(frontend_from_name("logmel"), core::InputError);
}

// The front-end's tables are Flash: window 480 x 4 + twiddles 256 x 2 x 4 + DCT 10 x 40 x 4 + the mel
// channels' starts and lengths 40 x 2 x 2 + their 247 uint16 weights = 6222 B.
TEST(GraphFrontEnd, ItsTablesCountAsFlash) {
  const Graph g = frontend_graph();
  Graph plain = g;
  plain.frontend = Frontend::None;
  EXPECT_EQ(estimate_flash(g, 0).frontend_bytes, 6222);
  EXPECT_EQ(estimate_flash(g, 1000).total(), estimate_flash(plain, 1000).total() + 6222);
}
