#pragma once
// Patch-based inference (MCUNetV2): the first blocks of a network, where feature maps are largest, run
// one spatial patch at a time; the rest runs layer by layer.
//
// A schedule (split block s, n x n patches) cuts the graph before the first op of block s. The patch
// stage (the stem and blocks 0..s-1) computes its output tensor, the stage output, in n x n patches
// (rows and columns split as evenly as integers allow). For each patch, every tensor of the stage holds
// only the region that patch needs: walking the stage backwards, an op's input region is the union of
// what its readers need (a window op: the rows and columns its windows reach, clipped at the borders
// where the layer-wise run pads; an element-wise op: its output region). Neighbouring patches overlap
// in these regions (the halo), and the overlap is computed twice: the extra MACs.
//
// Memory: one buffer per stage tensor, sized for the largest region over the patches and reused by
// every patch; the stage output in full; then the layer-wise rest (planner.h). The network's input is
// not in the arena: every patch copies its input region from the caller's input (which may sit in
// Flash, a camera frame buffer or external memory), as MCUNetV2 streams it.
//
// Execution: every op of the stage runs the existing kernels on its patch buffers with the patch's
// shapes and local padding (the padding of the layer-wise run where the region touches the border, none
// inside). An element-wise op or a 1x1 convolution that reads part of a buffer (the block input of a
// residual add, a strided shortcut) or writes into the stage output runs once per output row on
// sub-rows; a wider window always reads whole rows of its input buffer, which the regions guarantee.
// A stage output written by a wider window goes through a staging buffer and a row copy.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/graph.h"

namespace tinynas::engine {

struct PatchSchedule {
  int split_block = 0;  // the stem and blocks [0, split_block) run per patch; 0: all layer by layer
  int patches = 1;      // n: the stage output is cut into n x n patches
  bool layer_wise() const { return split_block <= 0; }
  bool operator==(const PatchSchedule& o) const { return split_block == o.split_block && patches == o.patches; }
};
// "layer-wise", or "n@s" (n x n patches before block s), the form `--patch` takes.
std::string to_string(const PatchSchedule& s);
// Parses "n@s" (n >= 1, s >= 1) or "layer-wise"; throws InputError otherwise.
PatchSchedule parse_patch_schedule(const std::string& text);

// Rows (or columns) [begin, begin + size) of a tensor.
struct Interval {
  int begin = 0, size = 0;
  int end() const { return begin + size; }
};

// One axis (rows or columns) of one stage op's kernel call for one patch index along that axis.
struct PatchAxis {
  int in = 0, out = 0, pad = 0;  // the call's input and output extents and the padding before its input
  int step = 1;                  // per-row calls: input rows between two output rows (the stride)
  // Where the call's input (second input, output) starts inside its buffer, and the buffer's extent.
  int in_start = 0, in2_start = 0, out_start = 0;
  int in_extent = 0, in2_extent = 0, out_extent = 0;
};

// The shapes of one kernel call: input and output extents and the padding before the input.
struct KernelShape {
  int in_h = 1, in_w = 1, out_h = 1, out_w = 1, pad_h = 0, pad_w = 0;
};

struct PatchStage {
  PatchSchedule schedule;
  int ops = 0;              // ops [0, ops) run per patch
  int output = -1;          // the stage output: in full in the arena, written patch by patch
  int output_producer = -1;  // the op that writes it
  bool staged_output = false;  // the producer writes a staging buffer, then rows are copied into the output
  // rows[i][t] (cols[j][t]): the rows (columns) of tensor t that patch (i, j) computes, or reads for the
  // network input; size 0 for tensors outside the stage. The stage output's: the patch itself.
  std::vector<std::vector<Interval>> rows, cols;
  // Per op of the stage and patch index: the kernel call's geometry along rows ([op][i]) and columns.
  std::vector<std::vector<PatchAxis>> row_axes, col_axes;
  // Per op of the stage: 1 when it runs once per output row of the patch (element-wise ops and 1x1
  // convolutions that read or write part of a buffer's rows).
  std::vector<uint8_t> per_row;
  std::vector<int64_t> buffer_bytes;   // per tensor: its patch buffer (0 outside the stage and for the stage output)
  int64_t staging_bytes = 0;           // the staging buffer (0 unless staged_output)
  std::vector<int64_t> scratch_bytes;  // per stage op: the kernel's scratch, the largest over the patches and rows
  std::vector<int64_t> op_macs;        // per stage op: its MACs summed over the patches
  int64_t stage_macs = 0;              // the stage's MACs summed over the patches
  int64_t stage_layer_wise_macs = 0;   // the same ops run once, layer by layer
  int64_t extra_macs() const { return stage_macs - stage_layer_wise_macs; }
  // The generated firmware's patch tables in Flash: per stage layer a row and a column table of n
  // 10-field int16 entries, and the input (and staging) regions' tables.
  int64_t table_bytes() const {
    const int64_t n = schedule.patches;
    return int64_t(ops) * 2 * n * 10 * 2 + (staged_output ? 2 : 1) * 2 * n * 2 * 2;
  }
  int patch_count() const { return schedule.patches * schedule.patches; }
  bool in_stage(int tensor) const { return !rows.empty() && rows[0][size_t(tensor)].size > 0; }
};

// The number of blocks of a graph (ops carry their block; 0 for a graph without blocks).
int graph_blocks(const Graph& g);

// Plans the patch stage of `schedule` on `g`. Throws InputError naming the reason when the schedule
// cannot run on the graph: a split outside the blocks, more patches than the stage output has rows or
// columns, an op in the stage that needs its whole input (global pooling, fully connected, softmax,
// resize, a broadcast multiply), more than one tensor leaving the stage, a front-end.
PatchStage plan_patch_stage(const Graph& g, const PatchSchedule& schedule);

// Stage op `op` for patch (i, j): the shape of its kernel calls and how many it makes (1, or one per
// output row of the patch).
KernelShape patch_call_shape(const PatchStage& stage, int op, int i, int j, int& calls);

// The MACs op `op` executes per inference: summed over the patches in a patch stage (stage may be null).
int64_t executed_op_macs(const Graph& g, const PatchStage* stage, int op);

// Every schedule the graph can run: split blocks 1..blocks, n = 2..max_patches (at most the stage
// output's rows and columns).
std::vector<PatchSchedule> candidate_patch_schedules(const Graph& g, int max_patches = 8);
// The same schedules, planned.
std::vector<PatchStage> candidate_patch_stages(const Graph& g, int max_patches = 8);

// `--patch auto`: among the candidates whose extra MACs stay within max_extra_macs_fraction of the
// network's MACs (negative: any), the schedule of the smallest arena, then the fewest extra MACs; the
// layer-wise schedule when none has a smaller arena than it.
struct PatchChoice {
  PatchSchedule schedule;
  int64_t arena_bytes = 0;
  int64_t extra_macs = 0;
  int candidates = 0;  // schedules compared
};
PatchChoice choose_patch_schedule(const Graph& g, double max_extra_macs_fraction = -1, int max_patches = 8);

// The schedule the search runs a network with when it may use patches (`search --patch`): layer by layer
// when its arena is at most arena_limit; else, among the patch schedules (2x2 to max_patches x
// max_patches) whose arena is, the one of the fewest extra MACs (then the smallest arena); else, when
// none is, the one of the smallest arena (which then does not fit either).
PatchChoice schedule_within(const Graph& g, int64_t arena_limit, int max_patches = 4);

// A `--patch` value: "" (or "layer-wise") layer by layer, "auto" choose_patch_schedule, "n@s" that
// schedule. Throws InputError for text that is none of these or a schedule the graph cannot run.
PatchSchedule resolve_patch_schedule(const Graph& g, const std::string& text, double max_extra_macs_fraction = -1);

}  // namespace tinynas::engine
