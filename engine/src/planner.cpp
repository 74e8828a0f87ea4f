#include "tinynas/engine/planner.h"

#include <algorithm>
#include <climits>

#include "tinynas/core/errors.h"
#include "tinynas/engine/patch.h"

namespace tinynas::engine {

namespace {

struct Buffer {
  int64_t size;
  int first, last;  // lifetime in op indices, inclusive (-1: the front-end's step)
  int id;           // creation order: tensors first, then scratch buffers
  int64_t offset;
};

int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

bool lifetimes_meet(int a_first, int a_last, int b_first, int b_last) { return a_first <= b_last && b_first <= a_last; }

// The bytes of tensor t's buffer: its patch buffer in a patch stage, otherwise the whole tensor.
int64_t tensor_bytes(const Graph& g, const PatchStage* stage, int t) {
  if (stage && stage->buffer_bytes[size_t(t)] > 0) return stage->buffer_bytes[size_t(t)];
  return g.tensors[size_t(t)].bytes();
}

// In a patch stage, an op may overwrite an input only where it reads that input's whole buffer in every
// patch (the kernels allow output == input, not other overlaps), and never the stage output.
bool patch_allows_inplace(const PatchStage* stage, const Op& op, int op_index, int source) {
  if (!stage || op_index >= stage->ops) return true;
  if (op.output == stage->output) return false;
  const bool second = source == op.input2 && source != op.input;
  for (const auto* axes : {&stage->row_axes, &stage->col_axes})
    for (const PatchAxis& a : (*axes)[size_t(op_index)]) {
      const int start = second ? a.in2_start : a.in_start, extent = second ? a.in2_extent : a.in_extent;
      if (start != 0 || a.in != extent) return false;
    }
  return true;
}

// Which op may write its output over which input: a depthwise conv, an element-wise function, a
// softmax, a mul (over its first operand) or an add whose input is read by no later op. Returns -1 when the op cannot
// run in place.
int inplace_source(const Graph& g, const PatchStage* stage, const Op& op, int op_index, const std::vector<int>& last_use) {
  auto dies_here = [&](int t) {
    return t >= 0 && t != g.output && last_use[size_t(t)] == op_index && patch_allows_inplace(stage, op, op_index, t);
  };
  if (op.kind == OpKind::DepthwiseConv2D && dies_here(op.input) &&
      tensor_bytes(g, stage, op.output) <= tensor_bytes(g, stage, op.input))
    return op.input;
  if ((op.kind == OpKind::Unary || op.kind == OpKind::PRelu || op.kind == OpKind::Mul || op.kind == OpKind::Softmax) &&
      dies_here(op.input) &&
      op.input2 != op.input)
    return op.input;
  if (op.kind == OpKind::Add) {
    if (dies_here(op.input)) return op.input;
    if (dies_here(op.input2)) return op.input2;
  }
  return -1;
}

// The ops whose kernels allow output == input (inplace_source).
bool may_run_in_place(OpKind kind) {
  return kind == OpKind::DepthwiseConv2D || kind == OpKind::Add || kind == OpKind::Mul || kind == OpKind::Unary ||
         kind == OpKind::Softmax || kind == OpKind::PRelu;
}

// The planner's working state, reused across calls on one thread (the stage-1 loop plans
// hundreds of thousands of graphs).
struct Workspace {
  std::vector<int> first_use, last_use, buffer_of;
  std::vector<Buffer> buffers;
  std::vector<int> order;
  std::vector<const Buffer*> placed, neighbours;
};

void compute_lifetimes(const Graph& g, std::vector<int>& first_use, std::vector<int>& last_use) {
  const int nt = int(g.tensors.size());
  const int last_op = int(g.ops.size()) - 1;
  first_use.assign(size_t(nt), 0);
  last_use.assign(size_t(nt), -1);
  for (int i = 0; i <= last_op; ++i) {
    const Op& op = g.ops[size_t(i)];
    first_use[size_t(op.output)] = i;
    last_use[size_t(op.output)] = std::max(last_use[size_t(op.output)], i);
    last_use[size_t(op.input)] = std::max(last_use[size_t(op.input)], i);
    if (op.input2 >= 0) last_use[size_t(op.input2)] = std::max(last_use[size_t(op.input2)], i);
  }
  if (g.output >= 0) last_use[size_t(g.output)] = last_op;
}

// Plans into `ws`; fills `plan` with per-tensor detail when it is not null. Returns the arena size.
// With a patch stage, its tensors get their patch buffers, its ops their patch scratch, and the stage
// output lives from op 0 on (every patch writes part of it).
int64_t plan_into(const Graph& g, const PatchStage* stage, const PlanOptions& opt, Workspace& ws, MemoryPlan* plan) {
  const int nt = int(g.tensors.size());
  const int nops = int(g.ops.size());
  // The kernels' scratch and tensors are read with word loads (LDRD, LDM on the cores): 4-byte
  // alignment at least.
  if (opt.alignment < 4 || opt.alignment % 4 != 0)
    throw core::InputError("memory planner: alignment " + std::to_string(opt.alignment) + " is not a multiple of 4");
  const int64_t align = opt.alignment;
  compute_lifetimes(g, ws.first_use, ws.last_use);
  const FrontendSizes& frontend = frontend_sizes(g.frontend);
  if (g.frontend != Frontend::None) ws.first_use[size_t(g.input)] = -1;
  if (stage) ws.first_use[size_t(stage->output)] = 0;

  ws.buffers.clear();
  ws.buffer_of.assign(size_t(nt), -1);
  if (plan) plan->inplace.assign(size_t(nops), 0);
  auto own_buffer = [&](int t) {
    ws.buffer_of[size_t(t)] = int(ws.buffers.size());
    ws.buffers.push_back(Buffer{align_up(tensor_bytes(g, stage, t), align), ws.first_use[size_t(t)],
                                ws.last_use[size_t(t)], int(ws.buffers.size()), 0});
  };
  own_buffer(g.input);
  for (int i = 0; i < nops; ++i) {
    const Op& op = g.ops[size_t(i)];
    const int src = opt.inplace ? inplace_source(g, stage, op, i, ws.last_use) : -1;
    if (src >= 0) {
      Buffer& b = ws.buffers[size_t(ws.buffer_of[size_t(src)])];
      ws.buffer_of[size_t(op.output)] = ws.buffer_of[size_t(src)];
      b.size = std::max(b.size, align_up(tensor_bytes(g, stage, op.output), align));
      b.last = std::max(b.last, ws.last_use[size_t(op.output)]);
      if (plan) plan->inplace[size_t(i)] = 1;
    } else {
      own_buffer(op.output);
    }
  }
  // Tensors no op touches (possible in a hand-made graph) get a buffer of their own, never live.
  for (int t = 0; t < nt; ++t)
    if (ws.buffer_of[size_t(t)] < 0) own_buffer(t);
  int frontend_input = -1, frontend_scratch = -1;
  if (g.frontend != Frontend::None) {
    frontend_input = int(ws.buffers.size());
    ws.buffers.push_back(Buffer{align_up(frontend.input_bytes, align), -1, -1, frontend_input, 0});
    frontend_scratch = int(ws.buffers.size());
    ws.buffers.push_back(Buffer{align_up(frontend.scratch_bytes, align), -1, -1, frontend_scratch, 0});
  }
  int staging = -1;
  if (stage && stage->staged_output) {
    staging = int(ws.buffers.size());
    const int producer = stage->output_producer;
    ws.buffers.push_back(Buffer{align_up(stage->staging_bytes, align), producer, producer, staging, 0});
  }
  const int first_scratch = int(ws.buffers.size());
  for (int i = 0; i < nops; ++i) {
    const int64_t s = stage && i < stage->ops ? stage->scratch_bytes[size_t(i)] : op_scratch_bytes(g, g.ops[size_t(i)]);
    if (s > 0) ws.buffers.push_back(Buffer{align_up(s, align), i, i, int(ws.buffers.size()), 0});
  }

  const int nb = int(ws.buffers.size());
  ws.order.resize(size_t(nb));
  for (int i = 0; i < nb; ++i) ws.order[size_t(i)] = i;
  std::sort(ws.order.begin(), ws.order.end(), [&](int a, int b) {
    const Buffer& x = ws.buffers[size_t(a)];
    const Buffer& y = ws.buffers[size_t(b)];
    if (x.size != y.size) return x.size > y.size;
    if (x.first != y.first) return x.first < y.first;
    return x.id < y.id;
  });

  int64_t arena = 0;
  ws.placed.clear();
  for (int idx : ws.order) {
    Buffer& b = ws.buffers[size_t(idx)];
    ws.neighbours.clear();
    for (const Buffer* p : ws.placed)
      if (lifetimes_meet(b.first, b.last, p->first, p->last)) ws.neighbours.push_back(p);
    std::sort(ws.neighbours.begin(), ws.neighbours.end(),
              [](const Buffer* x, const Buffer* y) { return x->offset < y->offset; });
    int64_t offset = 0;
    for (const Buffer* p : ws.neighbours) {
      if (offset + b.size <= p->offset) break;
      offset = std::max(offset, align_up(p->offset + p->size, align));
    }
    b.offset = offset;
    ws.placed.push_back(&b);
    arena = std::max(arena, offset + b.size);
  }

  if (plan) {
    plan->arena_bytes = arena;
    plan->tensor_offset.resize(size_t(nt));
    for (int t = 0; t < nt; ++t) plan->tensor_offset[size_t(t)] = ws.buffers[size_t(ws.buffer_of[size_t(t)])].offset;
    plan->scratch_offset.assign(size_t(nops), 0);
    plan->scratch_bytes.assign(size_t(nops), 0);
    for (int i = first_scratch; i < nb; ++i) {
      const Buffer& b = ws.buffers[size_t(i)];
      plan->scratch_offset[size_t(b.first)] = b.offset;
      plan->scratch_bytes[size_t(b.first)] = b.size;
    }
    plan->live_bytes.assign(size_t(nops), 0);
    for (const Buffer& b : ws.buffers)
      for (int i = std::max(0, b.first); i <= b.last && i < nops; ++i) plan->live_bytes[size_t(i)] += b.size;
    plan->peak_live_bytes = nops ? *std::max_element(plan->live_bytes.begin(), plan->live_bytes.end()) : 0;
    plan->staging_offset = staging >= 0 ? ws.buffers[size_t(staging)].offset : 0;
    plan->frontend_input_offset = plan->frontend_scratch_offset = plan->frontend_live_bytes = 0;
    if (frontend_input >= 0) {
      plan->frontend_input_offset = ws.buffers[size_t(frontend_input)].offset;
      plan->frontend_scratch_offset = ws.buffers[size_t(frontend_scratch)].offset;
      for (const Buffer& b : ws.buffers)
        if (b.first <= -1 && -1 <= b.last) plan->frontend_live_bytes += b.size;
      plan->peak_live_bytes = std::max(plan->peak_live_bytes, plan->frontend_live_bytes);
    }
  }
  return arena;
}

}  // namespace

MemoryPlan plan_memory(const Graph& g, const PlanOptions& options) {
  Workspace ws;
  MemoryPlan plan;
  plan_into(g, nullptr, options, ws, &plan);
  return plan;
}

int64_t plan_arena_bytes(const Graph& g, const PlanOptions& options) {
  thread_local Workspace ws;
  return plan_into(g, nullptr, options, ws, nullptr);
}

MemoryPlan plan_memory(const Graph& g, const PatchStage& stage, const PlanOptions& options) {
  Workspace ws;
  MemoryPlan plan;
  plan_into(g, &stage, options, ws, &plan);
  return plan;
}

int64_t plan_arena_bytes(const Graph& g, const PatchStage& stage, const PlanOptions& options) {
  thread_local Workspace ws;
  return plan_into(g, &stage, options, ws, nullptr);
}

namespace {

std::string check_plan_of(const Graph& g, const PatchStage* stage, const MemoryPlan& plan) {
  const int nt = int(g.tensors.size());
  const int nops = int(g.ops.size());
  if (int(plan.tensor_offset.size()) != nt || int(plan.scratch_bytes.size()) != nops ||
      int(plan.scratch_offset.size()) != nops || int(plan.inplace.size()) != nops)
    return "plan does not match the graph's tensor/op counts";

  // Lifetimes recomputed here, independently of the planner's buffers.
  std::vector<int> first(size_t(nt), INT_MAX), last(size_t(nt), -1);
  first[size_t(g.input)] = g.frontend != Frontend::None ? -1 : 0;
  for (int i = 0; i < nops; ++i) {
    const Op& op = g.ops[size_t(i)];
    first[size_t(op.output)] = std::min(first[size_t(op.output)], i);
    for (int t : {op.input, op.input2})
      if (t >= 0) last[size_t(t)] = std::max(last[size_t(t)], i);
  }
  last[size_t(g.output)] = nops - 1;
  if (stage) first[size_t(stage->output)] = 0;

  struct Region {
    int64_t begin, end;
    int first, last;
    int tensor;  // -1 for scratch
    int op;      // op of a scratch region; the front-end's input -1, its scratch -2, the staging buffer -3
  };
  std::vector<Region> regions;
  if (g.frontend != Frontend::None) {
    const FrontendSizes& fe = frontend_sizes(g.frontend);
    regions.push_back({plan.frontend_input_offset, plan.frontend_input_offset + fe.input_bytes, -1, -1, -1, -1});
    regions.push_back({plan.frontend_scratch_offset, plan.frontend_scratch_offset + fe.scratch_bytes, -1, -1, -1, -2});
  }
  for (int t = 0; t < nt; ++t) {
    if (first[size_t(t)] == INT_MAX) continue;  // never written: not live
    const int64_t off = plan.tensor_offset[size_t(t)];
    regions.push_back({off, off + tensor_bytes(g, stage, t), first[size_t(t)], std::max(first[size_t(t)], last[size_t(t)]), t, -1});
  }
  if (stage && stage->staged_output)
    regions.push_back({plan.staging_offset, plan.staging_offset + stage->staging_bytes, stage->output_producer,
                       stage->output_producer, -1, -3});
  auto needed_scratch = [&](int i) {
    return stage && i < stage->ops ? stage->scratch_bytes[size_t(i)] : op_scratch_bytes(g, g.ops[size_t(i)]);
  };
  for (int i = 0; i < nops; ++i)
    if (plan.scratch_bytes[size_t(i)] > 0) {
      if (plan.scratch_bytes[size_t(i)] < needed_scratch(i))
        return "op " + std::to_string(i) + ": scratch smaller than its kernel needs";
      const int64_t off = plan.scratch_offset[size_t(i)];
      regions.push_back({off, off + plan.scratch_bytes[size_t(i)], i, i, -1, i});
    } else if (needed_scratch(i) > 0) {
      return "op " + std::to_string(i) + ": needs scratch but none is planned";
    }
  auto region_name = [](const Region& r) {
    if (r.tensor >= 0) return "tensor " + std::to_string(r.tensor);
    if (r.op >= 0) return "scratch of op " + std::to_string(r.op);
    return std::string(r.op == -1 ? "the front-end's input" : r.op == -2 ? "the front-end's scratch" : "the staging buffer");
  };
  for (const Region& r : regions)
    if (r.begin < 0 || r.end > plan.arena_bytes)
      return region_name(r) + " lies outside the arena";

  // An overlap is allowed only between an in-place op's input and output.
  auto inplace_pair = [&](int a, int b) {
    for (int i = 0; i < nops; ++i) {
      if (!plan.inplace[size_t(i)]) continue;
      const Op& op = g.ops[size_t(i)];
      if (!may_run_in_place(op.kind)) continue;
      for (int in : {op.input, op.input2}) {
        if (in < 0) continue;
        const bool pair = (a == in && b == op.output) || (b == in && a == op.output);
        if (pair && last[size_t(in)] == i && plan.tensor_offset[size_t(in)] == plan.tensor_offset[size_t(op.output)])
          return true;
      }
    }
    return false;
  };
  for (size_t x = 0; x < regions.size(); ++x)
    for (size_t y = x + 1; y < regions.size(); ++y) {
      const Region& a = regions[x];
      const Region& b = regions[y];
      if (!lifetimes_meet(a.first, a.last, b.first, b.last)) continue;
      if (a.begin >= b.end || b.begin >= a.end) continue;
      if (a.tensor >= 0 && b.tensor >= 0 && inplace_pair(a.tensor, b.tensor)) continue;
      return region_name(a) + " [" + std::to_string(a.begin) + ", " + std::to_string(a.end) + ") and " + region_name(b) + " [" +
             std::to_string(b.begin) + ", " + std::to_string(b.end) + ") overlap while both are live";
    }
  return "";
}

}  // namespace

std::string check_plan(const Graph& g, const MemoryPlan& plan) { return check_plan_of(g, nullptr, plan); }
std::string check_plan(const Graph& g, const PatchStage& stage, const MemoryPlan& plan) {
  return check_plan_of(g, &stage, plan);
}

}  // namespace tinynas::engine
