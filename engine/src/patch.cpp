#include "tinynas/engine/patch.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include "tinynas/core/errors.h"
#include "tinynas/engine/planner.h"

namespace tinynas::engine {

std::string to_string(const PatchSchedule& s) {
  if (s.layer_wise()) return "layer-wise";
  return std::to_string(s.patches) + "@" + std::to_string(s.split_block);
}

PatchSchedule parse_patch_schedule(const std::string& text) {
  if (text == "layer-wise") return {};
  const auto at = text.find('@');
  auto number = [&](const std::string& part) {
    if (part.empty() || part.size() > 4 || !std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(uint8_t(c)); }))
      return -1;
    return std::stoi(part);
  };
  const int n = at == std::string::npos ? -1 : number(text.substr(0, at));
  const int s = at == std::string::npos ? -1 : number(text.substr(at + 1));
  if (n < 1 || s < 1)
    throw core::InputError("patch schedule '" + text + "': expected n@s, n x n patches (n >= 1) before block s (s >= 1), "
                           "such as 4@3, or 'layer-wise'");
  return PatchSchedule{s, n};
}

int graph_blocks(const Graph& g) {
  int blocks = 0;
  for (const Op& op : g.ops) blocks = std::max(blocks, op.block + 1);
  return blocks;
}

namespace {

bool is_window(OpKind k) {
  return k == OpKind::Conv2D || k == OpKind::PointwiseConv2D || k == OpKind::DepthwiseConv2D || k == OpKind::AvgPool2D ||
         k == OpKind::MaxPool2D;
}

// An op whose output pixel depends on the same input pixel alone.
bool is_elementwise(const Graph& g, const Op& op) {
  switch (op.kind) {
    case OpKind::Add:
    case OpKind::Unary:
    case OpKind::PRelu:
    case OpKind::ChannelMap: return true;
    case OpKind::Mul: return g.tensors[size_t(op.input2)].elements() == g.tensors[size_t(op.input)].elements();
    default: return false;
  }
}

// An op that may run once per output row on sub-rows of its buffers.
bool runs_per_row(const Graph& g, const Op& op) {
  return is_elementwise(g, op) || (is_window(op.kind) && op.kernel_h == 1 && op.kernel_w == 1);
}

Interval bounding(Interval a, Interval b) {
  if (a.size == 0) return b;
  if (b.size == 0) return a;
  const int begin = std::min(a.begin, b.begin);
  return Interval{begin, std::max(a.end(), b.end()) - begin};
}

struct Reach {
  Interval need;  // the input rows the op reads, clipped to the tensor
  int pad = 0;    // padding before them (the part of the first window outside the tensor)
};

// What one op reads along one axis to compute `out` of its output.
Reach reach(const Graph& g, const Op& op, Interval out, bool rows) {
  if (!is_window(op.kind)) return Reach{out, 0};
  const Tensor& in = g.tensors[size_t(op.input)];
  const int stride = rows ? op.stride_h : op.stride_w;
  const int pad = rows ? op.pad_h : op.pad_w;
  const int extent = rows ? op.extent_h() : op.extent_w();
  const int size = rows ? in.h : in.w;
  const int first = out.begin * stride - pad;
  const int last = (out.end() - 1) * stride - pad + extent;  // one past the last reached
  const int begin = std::max(0, first), end = std::min(size, last);
  return Reach{Interval{begin, end - begin}, begin - first};
}

// The regions of every tensor along one axis for patch index `index`, and the ops' call geometry.
void propagate_axis(const Graph& g, PatchStage& st, int index, const std::vector<int>& cuts, bool rows) {
  std::vector<Interval>& region = (rows ? st.rows : st.cols)[size_t(index)];
  region.assign(g.tensors.size(), Interval{});
  region[size_t(st.output)] = Interval{cuts[size_t(index)], cuts[size_t(index) + 1] - cuts[size_t(index)]};
  for (int i = st.ops - 1; i >= 0; --i) {
    const Op& op = g.ops[size_t(i)];
    const Interval out = region[size_t(op.output)];
    if (out.size == 0)
      throw core::InputError("op " + std::to_string(i) + " (" + to_string(op.kind) +
                             ") of the patch stage feeds nothing the stage output needs");
    const Interval need = reach(g, op, out, rows).need;
    if (need.size <= 0)
      throw core::InputError("op " + std::to_string(i) + " of the patch stage reads no input for a patch");
    region[size_t(op.input)] = bounding(region[size_t(op.input)], need);
    if (op.input2 >= 0) region[size_t(op.input2)] = bounding(region[size_t(op.input2)], need);
  }
  std::vector<std::vector<PatchAxis>>& axes = rows ? st.row_axes : st.col_axes;
  for (int i = 0; i < st.ops; ++i) {
    const Op& op = g.ops[size_t(i)];
    const Interval out = region[size_t(op.output)];
    const Reach r = reach(g, op, out, rows);
    PatchAxis a;
    a.in = r.need.size;
    a.out = out.size;
    a.pad = r.pad;
    a.step = is_window(op.kind) ? (rows ? op.stride_h : op.stride_w) : 1;
    const Interval in_buffer = region[size_t(op.input)];
    a.in_start = r.need.begin - in_buffer.begin;
    a.in_extent = in_buffer.size;
    if (op.input2 >= 0) {
      const Interval in2_buffer = region[size_t(op.input2)];
      a.in2_start = r.need.begin - in2_buffer.begin;
      a.in2_extent = in2_buffer.size;
    }
    a.out_extent = out.size;
    if (op.output == st.output && !st.staged_output) {
      const Tensor& t = g.tensors[size_t(st.output)];
      a.out_start = out.begin;
      a.out_extent = rows ? t.h : t.w;
    }
    axes[size_t(i)][size_t(index)] = a;
  }
}

bool whole_rows(const PatchAxis& columns, bool has_input2) {
  return columns.in_start == 0 && columns.in == columns.in_extent &&
         (!has_input2 || (columns.in2_start == 0 && columns.in == columns.in2_extent)) && columns.out_start == 0 &&
         columns.out == columns.out_extent;
}

}  // namespace

PatchStage plan_patch_stage(const Graph& g, const PatchSchedule& schedule) {
  const std::string name = "patch schedule " + to_string(schedule) + " on '" + g.name + "'";
  if (schedule.layer_wise()) throw core::InputError(name + ": a layer-wise schedule has no patch stage");
  if (schedule.patches < 1) throw core::InputError(name + ": needs at least 1 x 1 patch");
  if (g.frontend != Frontend::None) throw core::InputError(name + ": a graph with a front-end runs layer by layer");
  const int blocks = graph_blocks(g);
  if (schedule.split_block > blocks)
    throw core::InputError(name + ": the network has " + std::to_string(blocks) + " blocks; the split block is 1.." +
                           std::to_string(blocks) + " (" + std::to_string(blocks) + ": after the last)");
  PatchStage st;
  st.schedule = schedule;
  const int nops = int(g.ops.size());
  for (int i = 0; i < nops; ++i)
    if (g.ops[size_t(i)].block >= 0 && g.ops[size_t(i)].block < schedule.split_block) st.ops = i + 1;
  for (int i = 0; i < st.ops; ++i) {
    const Op& op = g.ops[size_t(i)];
    if (!is_window(op.kind) && !is_elementwise(g, op))
      throw core::InputError(name + ": op " + std::to_string(i) + " (" + to_string(op.kind) +
                             ") needs its whole input and cannot run per patch");
  }
  // The stage output: the one tensor written in the stage and read after it.
  std::vector<int> producer(g.tensors.size(), -1);
  for (int i = 0; i < nops; ++i) producer[size_t(g.ops[size_t(i)].output)] = i;
  for (int i = st.ops; i < nops; ++i) {
    const Op& op = g.ops[size_t(i)];
    for (int t : {op.input, op.input2}) {
      if (t < 0 || producer[size_t(t)] >= st.ops) continue;
      if (t == g.input) throw core::InputError(name + ": the network input is read after the patch stage");
      if (st.output >= 0 && st.output != t)
        throw core::InputError(name + ": tensors " + std::to_string(st.output) + " and " + std::to_string(t) +
                               " both leave the patch stage; split at a block boundary");
      st.output = t;
    }
  }
  if (st.output < 0 || g.output == st.output || producer[size_t(g.output)] < st.ops)
    throw core::InputError(name + ": the patch stage would hold the whole network");
  for (int i = 0; i < st.ops; ++i)
    if (g.ops[size_t(i)].input == st.output || g.ops[size_t(i)].input2 == st.output)
      throw core::InputError(name + ": the stage output is read inside the stage");
  st.output_producer = producer[size_t(st.output)];
  st.staged_output = !runs_per_row(g, g.ops[size_t(st.output_producer)]);

  const Tensor& out = g.tensors[size_t(st.output)];
  const int n = schedule.patches;
  if (n > out.h || n > out.w)
    throw core::InputError(name + ": the stage output is " + std::to_string(out.h) + "x" + std::to_string(out.w) +
                           ", too small for " + std::to_string(n) + "x" + std::to_string(n) + " patches");
  auto cuts = [n](int size) {
    std::vector<int> c(size_t(n) + 1);
    for (int i = 0; i <= n; ++i) c[size_t(i)] = int(int64_t(i) * size / n);
    return c;
  };
  const std::vector<int> row_cuts = cuts(out.h), col_cuts = cuts(out.w);
  st.rows.resize(size_t(n));
  st.cols.resize(size_t(n));
  st.row_axes.assign(size_t(st.ops), std::vector<PatchAxis>(size_t(n)));
  st.col_axes.assign(size_t(st.ops), std::vector<PatchAxis>(size_t(n)));
  for (int i = 0; i < n; ++i) {
    propagate_axis(g, st, i, row_cuts, true);
    propagate_axis(g, st, i, col_cuts, false);
  }

  // How each op runs: one call, or one per output row; a wider window must read whole rows.
  st.per_row.assign(size_t(st.ops), 0);
  for (int i = 0; i < st.ops; ++i) {
    const Op& op = g.ops[size_t(i)];
    for (int j = 0; j < n; ++j)
      if (!whole_rows(st.col_axes[size_t(i)][size_t(j)], op.input2 >= 0)) st.per_row[size_t(i)] = 1;
    if (st.per_row[size_t(i)] && !runs_per_row(g, op))
      throw core::InputError(name + ": op " + std::to_string(i) + " (" + to_string(op.kind) + " " +
                             std::to_string(op.kernel_h) + "x" + std::to_string(op.kernel_w) +
                             ") would read part of its input's rows, which its kernel cannot");
  }

  // Buffers, scratch and MACs.
  st.buffer_bytes.assign(g.tensors.size(), 0);
  st.scratch_bytes.assign(size_t(st.ops), 0);
  st.op_macs.assign(size_t(st.ops), 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      for (size_t t = 0; t < g.tensors.size(); ++t) {
        const int64_t bytes = int64_t(st.rows[size_t(i)][t].size) * st.cols[size_t(j)][t].size * g.tensors[t].c;
        if (int(t) == st.output) {
          if (st.staged_output) st.staging_bytes = std::max(st.staging_bytes, bytes);
        } else {
          st.buffer_bytes[t] = std::max(st.buffer_bytes[t], bytes);
        }
      }
      for (int o = 0; o < st.ops; ++o) {
        const Op& op = g.ops[size_t(o)];
        const PatchAxis& r = st.row_axes[size_t(o)][size_t(i)];
        const PatchAxis& c = st.col_axes[size_t(o)][size_t(j)];
        int calls = 0;
        const KernelShape k = patch_call_shape(st, o, i, j, calls);
        const int64_t scratch = kernel_scratch_bytes(g, op, k.in_h, k.in_w, k.out_h, k.out_w, k.pad_h, k.pad_w);
        st.scratch_bytes[size_t(o)] = std::max(st.scratch_bytes[size_t(o)], scratch);
        const Tensor& y = g.tensors[size_t(op.output)];
        const int64_t macs = op_macs(g, op) / (int64_t(y.h) * y.w) * r.out * c.out;
        st.op_macs[size_t(o)] += macs;
        st.stage_macs += macs;
      }
    }
  for (int o = 0; o < st.ops; ++o) st.stage_layer_wise_macs += op_macs(g, g.ops[size_t(o)]);
  return st;
}

KernelShape patch_call_shape(const PatchStage& st, int op, int i, int j, int& calls) {
  const PatchAxis& r = st.row_axes[size_t(op)][size_t(i)];
  const PatchAxis& c = st.col_axes[size_t(op)][size_t(j)];
  if (st.per_row[size_t(op)]) {
    calls = r.out;
    return KernelShape{1, c.in, 1, c.out, 0, 0};
  }
  calls = 1;
  return KernelShape{r.in, c.in, r.out, c.out, r.pad, c.pad};
}

int64_t executed_op_macs(const Graph& g, const PatchStage* stage, int op) {
  if (stage && op < stage->ops) return stage->op_macs[size_t(op)];
  return op_macs(g, g.ops[size_t(op)]);
}

std::vector<PatchStage> candidate_patch_stages(const Graph& g, int max_patches) {
  std::vector<PatchStage> out;
  if (g.frontend != Frontend::None) return out;
  const int blocks = graph_blocks(g);
  for (int s = 1; s <= blocks; ++s)
    for (int n = 2; n <= max_patches; ++n) {
      try {
        out.push_back(plan_patch_stage(g, PatchSchedule{s, n}));
      } catch (const core::InputError&) {
      }
    }
  return out;
}

std::vector<PatchSchedule> candidate_patch_schedules(const Graph& g, int max_patches) {
  std::vector<PatchSchedule> out;
  for (const PatchStage& st : candidate_patch_stages(g, max_patches)) out.push_back(st.schedule);
  return out;
}

PatchChoice choose_patch_schedule(const Graph& g, double max_extra_macs_fraction, int max_patches) {
  PatchChoice best;
  best.arena_bytes = plan_arena_bytes(g);
  int64_t macs = 0;
  for (const Op& op : g.ops) macs += op_macs(g, op);
  for (const PatchStage& st : candidate_patch_stages(g, max_patches)) {
    ++best.candidates;
    if (max_extra_macs_fraction >= 0 && double(st.extra_macs()) > max_extra_macs_fraction * double(macs)) continue;
    const int64_t arena = plan_arena_bytes(g, st);
    if (arena < best.arena_bytes || (arena == best.arena_bytes && !best.schedule.layer_wise() && st.extra_macs() < best.extra_macs))
      best = PatchChoice{st.schedule, arena, st.extra_macs(), best.candidates};
  }
  return best;
}

PatchChoice schedule_within(const Graph& g, int64_t arena_limit, int max_patches) {
  PatchChoice best;
  best.arena_bytes = plan_arena_bytes(g);
  if (best.arena_bytes <= arena_limit) return best;
  // Order: fitting before not; among fitting, fewer extra MACs then a smaller arena; among the rest, a
  // smaller arena.
  auto key = [arena_limit](int64_t arena, int64_t extra) {
    return arena <= arena_limit ? std::tuple<int, int64_t, int64_t>{0, extra, arena} : std::tuple<int, int64_t, int64_t>{1, arena, 0};
  };
  bool any = false;
  for (const PatchStage& st : candidate_patch_stages(g, max_patches)) {
    ++best.candidates;
    const int64_t arena = plan_arena_bytes(g, st);
    if (!any || key(arena, st.extra_macs()) < key(best.arena_bytes, best.extra_macs))
      best = PatchChoice{st.schedule, arena, st.extra_macs(), best.candidates};
    any = true;
  }
  return best;
}

PatchSchedule resolve_patch_schedule(const Graph& g, const std::string& text, double max_extra_macs_fraction) {
  if (text.empty()) return {};
  if (text == "auto") return choose_patch_schedule(g, max_extra_macs_fraction).schedule;
  const PatchSchedule s = parse_patch_schedule(text);
  if (!s.layer_wise()) plan_patch_stage(g, s);  // throws for a schedule the graph cannot run
  return s;
}

}  // namespace tinynas::engine
