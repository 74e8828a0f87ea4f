#pragma once
// The memory planner: the single source of truth for SRAM in tinynas. It places every activation
// tensor and every kernel scratch buffer into one arena, as TinyEngine's scheduler does.
//
// Algorithm (documented because tests compute it by hand):
//  1. Lifetimes: a tensor lives from the op that writes it (the graph input from op 0) to the last op
//     that reads it (the graph output to the last op), inclusive.
//  2. In place: a depthwise conv (and an element-wise add) whose input is read by no later op writes
//     its output over that input: the two tensors share one buffer of the larger size, whose lifetime
//     is the union. The kernel then needs only its small scratch (kernels/tn_scratch.h).
//  3. Every op with scratch gets a scratch buffer that lives during that op alone.
//  4. Greedy placement (as TF-Lite Micro's GreedyMemoryPlanner): buffers sorted by size, largest
//     first (ties: earlier first use, then creation order); each goes to the lowest aligned offset at
//     which it overlaps no already placed buffer whose lifetime intersects its own.
//  Front-end: a graph with one (Graph::frontend) runs it at step -1, before op 0: its raw input and its
//     scratch live at that step alone, the graph input it writes from step -1 on.
//  5. The arena is the highest end offset. The live-bytes lower bound is the largest sum of buffer
//     sizes alive at one op: no placement can do better.
// The layer-wise baseline is the same planner with in-place disabled (TF-Lite Micro's behaviour).
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/graph.h"

namespace tinynas::engine {

struct PatchStage;

struct PlanOptions {
  bool inplace = true;  // in-place depthwise and add
  int alignment = 4;    // every buffer offset and size is a multiple of this
};

struct MemoryPlan {
  std::vector<int64_t> tensor_offset;  // per tensor
  std::vector<int64_t> scratch_offset;  // per op (valid where scratch_bytes > 0)
  std::vector<int64_t> scratch_bytes;   // per op, as reserved (aligned)
  std::vector<uint8_t> inplace;         // per op: 1 when the output overwrites the input
  std::vector<int64_t> live_bytes;      // per op: bytes of all buffers alive during the op
  int64_t arena_bytes = 0;              // the SRAM the model needs for activations + scratch
  int64_t peak_live_bytes = 0;          // lower bound: max of live_bytes and frontend_live_bytes
  // The front-end's step (all 0 without one): its raw input and scratch, and the bytes alive then.
  int64_t frontend_input_offset = 0, frontend_scratch_offset = 0, frontend_live_bytes = 0;
  // A patch schedule's staging buffer (PatchStage::staged_output), 0 otherwise.
  int64_t staging_offset = 0;
};

MemoryPlan plan_memory(const Graph& g, const PlanOptions& options = {});

// The planner's result without per-tensor detail: the stage-1 hot path keeps no vectors alive.
int64_t plan_arena_bytes(const Graph& g, const PlanOptions& options = {});

// The same for a patch schedule (patch.h): the stage's tensors get their patch buffers (the network
// input: one patch's input region), its ops the scratch of their patch calls; the stage output lives from
// op 0 on; the layer-wise rest as above. The arena is the whole schedule's peak.
MemoryPlan plan_memory(const Graph& g, const PatchStage& stage, const PlanOptions& options = {});
int64_t plan_arena_bytes(const Graph& g, const PatchStage& stage, const PlanOptions& options = {});

// The stack the kernels and the firmware's main need at most (measured: 656 B, docs/memory-model.md).
// deploy() checks every emulated run against it.
constexpr int64_t kStackBoundBytes = 1024;
// The SRAM a model needs on the MCU, as every budget counts it: the planner's arena plus the stack bound.
inline int64_t peak_sram_bytes(const Graph& g, const PlanOptions& options = {}) {
  return plan_arena_bytes(g, options) + kStackBoundBytes;
}
inline int64_t peak_sram_bytes(const Graph& g, const PatchStage& stage, const PlanOptions& options = {}) {
  return plan_arena_bytes(g, stage, options) + kStackBoundBytes;
}

// An independent check of a plan: every tensor and scratch buffer lies inside the arena, and no two
// whose lifetimes intersect overlap in memory, except an in-place op's input and output, which must
// then start at the same offset and the input must be read by no later op. Returns "" when the plan
// is sound, otherwise the first violation.
std::string check_plan(const Graph& g, const MemoryPlan& plan);
std::string check_plan(const Graph& g, const PatchStage& stage, const MemoryPlan& plan);

}  // namespace tinynas::engine
