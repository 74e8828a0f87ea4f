#include "tinynas/engine/lowering.h"

#include <cmath>
#include <cstring>

#include "tinynas/core/errors.h"
#include "tinynas/engine/audio_frontend.h"
#include "tn_kernels.h"

namespace tinynas::engine {

const char* kernel_function(KernelKind kind) {
  switch (kind) {
    case KernelKind::Conv: return "tn_conv2d_s8";
    case KernelKind::Pointwise: return "tn_pointwise_conv_s8";
    case KernelKind::Depthwise: return "tn_depthwise_conv_s8";
    case KernelKind::FullyConnected: return "tn_fully_connected_s8";
    case KernelKind::Add: return "tn_add_s8";
    case KernelKind::AvgPool: return "tn_avg_pool_s8";
    case KernelKind::MaxPool: return "tn_max_pool_s8";
    case KernelKind::GlobalAvgPool: return "tn_global_avg_pool_s8";
    case KernelKind::Mul: return "tn_mul_s8";
    case KernelKind::Lookup: return "tn_lookup_s8";
    case KernelKind::Softmax: return "tn_softmax_s8";
    case KernelKind::ChannelMap: return "tn_channel_map_s8";
    case KernelKind::PRelu: return "tn_prelu_s8";
    case KernelKind::Resize: return "tn_resize_nearest_s8";
  }
  return "?";
}

namespace {

// Rows of `length` values into the kernels' rows of `packed` values (zero tail).
std::vector<int8_t> pack_rows(const std::vector<int8_t>& w, int64_t rows, int64_t length, int64_t packed) {
  std::vector<int8_t> out(size_t(rows * packed), 0);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(&out[size_t(r * packed)], &w[size_t(r * length)], size_t(length));
  return out;
}

// TF-Lite's CalculateInputRadius for the softmax's Q5.26 differences: minus the largest difference
// whose scaled value stays inside the 5 integer bits.
int32_t softmax_diff_min(int left_shift) {
  const double radius = 31.0 * double(int64_t(1) << 26) / double(int64_t(1) << left_shift);
  return -int32_t(std::floor(radius));
}

void copy_requant(const QuantizedOpParams& q, KernelCall& call) {
  call.bias = q.bias;
  for (const QuantizedMultiplier& m : q.requant) {
    call.multiplier.push_back(m.multiplier);
    call.shift.push_back(m.shift);
  }
}

}  // namespace

std::vector<KernelCall> lower(const QuantizedModel& model) {
  const Graph& g = model.graph;
  std::vector<KernelCall> calls;
  calls.reserve(g.ops.size());
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    const QuantizedOpParams& q = model.params[i];
    const Tensor& in = g.tensors[size_t(op.input)];
    const Tensor& out = g.tensors[size_t(op.output)];
    const TensorQuant& qin = model.tensors[size_t(op.input)];
    const TensorQuant& qout = model.tensors[size_t(op.output)];
    KernelCall c;
    c.op = int(i);
    c.input = op.input;
    c.input2 = op.input2;
    c.output = op.output;
    c.in_h = in.h, c.in_w = in.w, c.in_c = in.c;
    c.out_h = out.h, c.out_w = out.w, c.out_c = out.c;
    c.kernel_h = op.kernel_h, c.kernel_w = op.kernel_w, c.stride_h = op.stride_h, c.stride_w = op.stride_w;
    c.dilation_h = op.dilation_h, c.dilation_w = op.dilation_w, c.pad_h = op.pad_h, c.pad_w = op.pad_w;
    c.groups = op.groups;
    c.input_offset = -qin.zero_point;
    c.output_offset = qout.zero_point;
    c.act_min = q.act_min;
    c.act_max = q.act_max;
    c.scratch_bytes = op_scratch_bytes(g, op);
    switch (op.kind) {
      case OpKind::Conv2D:
      case OpKind::PointwiseConv2D: {
        c.kind = runs_as_pointwise(g, op) ? KernelKind::Pointwise : KernelKind::Conv;
        const int64_t length = int64_t(op.kernel_h) * op.kernel_w * (in.c / op.groups);
        c.weights = pack_rows(q.weights, out.c, length,
                              tn_conv_weights_row_length(in.c / op.groups, op.kernel_h, op.kernel_w));
        copy_requant(q, c);
        break;
      }
      case OpKind::DepthwiseConv2D:
        c.kind = KernelKind::Depthwise;
        c.weights = q.weights;
        copy_requant(q, c);
        break;
      case OpKind::FullyConnected:
        c.kind = KernelKind::FullyConnected;
        c.in_c = int(in.elements());
        c.in_h = c.in_w = 1;
        c.weights = pack_rows(q.weights, out.c, in.elements(), tn_fully_connected_row_length(int32_t(in.elements())));
        copy_requant(q, c);
        break;
      case OpKind::Add: {
        c.kind = KernelKind::Add;
        c.input1_offset = -qin.zero_point;
        c.input2_offset = -model.tensors[size_t(op.input2)].zero_point;
        c.left_shift = q.left_shift;
        c.input1_requant = q.input1;
        c.input2_requant = q.input2;
        c.output_requant = q.output;
        break;
      }
      case OpKind::Mul:
        c.kind = KernelKind::Mul;
        c.input1_offset = -qin.zero_point;
        c.input2_offset = -model.tensors[size_t(op.input2)].zero_point;
        c.output_requant = q.output;
        c.broadcast = g.tensors[size_t(op.input2)].elements() != in.elements();
        break;
      case OpKind::Unary:
        c.kind = KernelKind::Lookup;
        c.table = q.table;
        break;
      case OpKind::AvgPool2D: c.kind = KernelKind::AvgPool; break;
      case OpKind::MaxPool2D: c.kind = KernelKind::MaxPool; break;
      case OpKind::GlobalAvgPool: c.kind = KernelKind::GlobalAvgPool; break;
      case OpKind::PRelu:
        c.kind = KernelKind::PRelu;
        c.weights = q.weights;
        c.input1_requant = q.input1;
        c.input2_requant = q.input2;
        break;
      case OpKind::ChannelMap:
        c.kind = KernelKind::ChannelMap;
        c.table = q.table;
        c.table2 = q.table2;
        c.channel_map.assign(op.channel_map.begin(), op.channel_map.end());
        c.in2_c = op.input2 >= 0 ? g.tensors[size_t(op.input2)].c : 0;
        break;
      case OpKind::Resize:
        c.kind = KernelKind::Resize;
        c.resize_rows.assign(op.resize_rows.begin(), op.resize_rows.end());
        c.resize_cols.assign(op.resize_cols.begin(), op.resize_cols.end());
        break;
      case OpKind::Softmax:
        c.kind = KernelKind::Softmax;
        c.output_requant = q.output;
        c.diff_min = softmax_diff_min(q.output.shift);
        break;
    }
    calls.push_back(std::move(c));
  }
  return calls;
}

namespace {

tn_requant_params requant_params(const KernelCall& c) {
  return tn_requant_params{c.multiplier.data(), c.shift.data(), c.input_offset, c.output_offset, c.act_min, c.act_max};
}

tn_window window(const KernelCall& c) {
  return tn_window{c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.dilation_h, c.dilation_w, c.pad_h, c.pad_w};
}

}  // namespace

Int8Interpreter::Int8Interpreter(const QuantizedModel& model) : Int8Interpreter(model, PatchSchedule{}) {}

Int8Interpreter::Int8Interpreter(const QuantizedModel& model, const PatchSchedule& schedule)
    : model_(model), calls_(lower(model)) {
  if (!schedule.layer_wise()) stage_ = plan_patch_stage(model.graph, schedule);
  plan_ = stage_ ? plan_memory(model.graph, *stage_) : plan_memory(model.graph);
  const std::string problem = stage_ ? check_plan(model.graph, *stage_, plan_) : check_plan(model.graph, plan_);
  if (!problem.empty()) throw core::RuntimeFailure("memory plan of '" + model.graph.name + "': " + problem);
  arena_.assign(size_t((plan_.arena_bytes + 3) / 4), 0);
  if (model.graph.frontend == Frontend::Mfcc) frontend_ = &default_audio_frontend_fixed();
}

std::vector<int8_t> Int8Interpreter::run(const std::vector<int8_t>& input) {
  const Graph& g = model_.graph;
  if (int64_t(input.size()) != g.tensors[size_t(g.input)].elements())
    throw core::InputError("model '" + g.name + "': input has " + std::to_string(input.size()) + " values, expected " +
                     std::to_string(g.tensors[size_t(g.input)].elements()));
  if (stage_) return run_patches(input);
  int8_t* base = reinterpret_cast<int8_t*>(arena_.data());
  std::memcpy(base + plan_.tensor_offset[size_t(g.input)], input.data(), input.size());
  return run_layers(0);
}

std::vector<int8_t> Int8Interpreter::run_audio(const std::vector<int16_t>& pcm) {
  const Graph& g = model_.graph;
  if (!frontend_) throw core::InputError("model '" + g.name + "' has no audio front-end");
  if (int64_t(pcm.size()) != frontend_->config.clip_samples)
    throw core::InputError("model '" + g.name + "': the clip has " + std::to_string(pcm.size()) + " samples, the front-end takes " +
                           std::to_string(frontend_->config.clip_samples));
  int8_t* base = reinterpret_cast<int8_t*>(arena_.data());
  int16_t* clip = reinterpret_cast<int16_t*>(base + plan_.frontend_input_offset);
  std::memcpy(clip, pcm.data(), pcm.size() * sizeof(int16_t));
  const tn_mfcc_params params = frontend_->params();
  if (tn_mfcc_s8(&params, clip, base + plan_.tensor_offset[size_t(g.input)],
                 reinterpret_cast<int32_t*>(base + plan_.frontend_scratch_offset)) != TN_OK)
    throw core::RuntimeFailure("model '" + g.name + "': the MFCC front-end rejected its parameters");
  return run_layers(0);
}

namespace {

KernelShape whole_op(const KernelCall& c) { return KernelShape{c.in_h, c.in_w, c.out_h, c.out_w, c.pad_h, c.pad_w}; }

// Runs one kernel call of `c` with shapes `s` on the given buffers.
tn_status invoke_kernel(const KernelCall& c, const KernelShape& s, const int8_t* x, const int8_t* x2, int8_t* y, int16_t* scratch) {
  const int32_t pixels = s.out_h * s.out_w;
  tn_window w = window(c);
  w.pad_h = s.pad_h;
  w.pad_w = s.pad_w;
  switch (c.kind) {
    case KernelKind::Conv:
    case KernelKind::Pointwise: {
      const tn_conv_params p{s.in_h, s.in_w, c.in_c, s.out_h, s.out_w, c.out_c, w, c.groups, c.weights.data(), c.bias.data(),
                             requant_params(c)};
      return c.kind == KernelKind::Conv ? tn_conv2d_s8(&p, x, y, scratch) : tn_pointwise_conv_s8(&p, x, y, scratch);
    }
    case KernelKind::Depthwise: {
      const tn_depthwise_params p{s.in_h,   s.in_w,   c.in_c,           s.out_h,       s.out_w,          c.kernel_h,
                                  c.stride_h, s.pad_h, s.pad_w, c.weights.data(), c.bias.data(), requant_params(c)};
      return tn_depthwise_conv_s8(&p, x, y, scratch);
    }
    case KernelKind::FullyConnected: {
      const tn_fully_connected_params p{c.in_c, c.out_c, c.weights.data(), c.bias.data(), requant_params(c)};
      return tn_fully_connected_s8(&p, x, y, scratch);
    }
    case KernelKind::Add: {
      const tn_add_params p{pixels * c.out_c,
                            c.input1_offset,
                            c.input2_offset,
                            c.input1_requant.multiplier,
                            c.input1_requant.shift,
                            c.input2_requant.multiplier,
                            c.input2_requant.shift,
                            c.left_shift,
                            c.output_requant.multiplier,
                            c.output_requant.shift,
                            c.output_offset,
                            c.act_min,
                            c.act_max};
      return tn_add_s8(&p, x, x2, y);
    }
    case KernelKind::Mul: {
      const tn_mul_params p{pixels, c.out_c, c.broadcast ? 1 : 0, c.input1_offset, c.input2_offset,
                            c.output_requant.multiplier, c.output_requant.shift, c.output_offset, c.act_min, c.act_max};
      return tn_mul_s8(&p, x, x2, y);
    }
    case KernelKind::Lookup: {
      const tn_lookup_params p{pixels * c.out_c, c.table.data()};
      return tn_lookup_s8(&p, x, y);
    }
    case KernelKind::PRelu: {
      const tn_prelu_params p{pixels,
                              c.out_c,
                              c.weights.data(),
                              c.input_offset,
                              c.input1_requant.multiplier,
                              c.input1_requant.shift,
                              c.input2_requant.multiplier,
                              c.input2_requant.shift,
                              c.output_offset,
                              c.act_min,
                              c.act_max};
      return tn_prelu_s8(&p, x, y);
    }
    case KernelKind::ChannelMap: {
      const tn_channel_map_params p{pixels,
                                    c.in_c,
                                    c.in2_c,
                                    c.out_c,
                                    c.channel_map.data(),
                                    c.table.empty() ? nullptr : c.table.data(),
                                    c.table2.empty() ? nullptr : c.table2.data()};
      return tn_channel_map_s8(&p, x, c.input2 >= 0 ? x2 : nullptr, y);
    }
    case KernelKind::Resize: {
      const tn_resize_params p{s.in_h, s.in_w, c.in_c, s.out_h, s.out_w, c.resize_rows.data(), c.resize_cols.data()};
      return tn_resize_nearest_s8(&p, x, y);
    }
    case KernelKind::Softmax: {
      const tn_softmax_params p{pixels, c.out_c, c.output_requant.multiplier, c.output_requant.shift, c.diff_min};
      return tn_softmax_s8(&p, x, y);
    }
    case KernelKind::AvgPool:
    case KernelKind::MaxPool:
    case KernelKind::GlobalAvgPool: {
      const tn_pool_params p{s.in_h, s.in_w, c.in_c, s.out_h, s.out_w, w, c.act_min, c.act_max};
      return c.kind == KernelKind::AvgPool   ? tn_avg_pool_s8(&p, x, y)
             : c.kind == KernelKind::MaxPool ? tn_max_pool_s8(&p, x, y)
                                             : tn_global_avg_pool_s8(&p, x, y);
    }
  }
  return TN_ERROR_ARGUMENT;
}

// Copies rows x cols pixels of `channels` bytes between two row-major buffers of the given row lengths.
void copy_pixels(const int8_t* from, int64_t from_row, int8_t* to, int64_t to_row, int rows, int cols, int channels) {
  for (int r = 0; r < rows; ++r) std::memcpy(to + r * to_row * channels, from + r * from_row * channels, size_t(cols) * size_t(channels));
}

}  // namespace

void Int8Interpreter::check(int status, const KernelCall& c) const {
  if (status != TN_OK)
    throw core::RuntimeFailure("model '" + model_.graph.name + "': kernel " + kernel_function(c.kind) + " rejected op " +
                               std::to_string(c.op) + "'s parameters");
}

std::vector<int8_t> Int8Interpreter::run_layers(size_t first_call) {
  const Graph& g = model_.graph;
  int8_t* base = reinterpret_cast<int8_t*>(arena_.data());
  auto tensor = [&](int t) { return base + plan_.tensor_offset[size_t(t)]; };
  for (size_t l = first_call; l < calls_.size(); ++l) {
    const KernelCall& c = calls_[l];
    int16_t* scratch = reinterpret_cast<int16_t*>(base + plan_.scratch_offset[size_t(c.op)]);
    check(invoke_kernel(c, whole_op(c), tensor(c.input), c.input2 >= 0 ? tensor(c.input2) : nullptr, tensor(c.output), scratch), c);
  }
  const int8_t* out = tensor(g.output);
  return std::vector<int8_t>(out, out + g.tensors[size_t(g.output)].elements());
}

std::vector<int8_t> Int8Interpreter::run_patches(const std::vector<int8_t>& input) {
  const Graph& g = model_.graph;
  const PatchStage& st = *stage_;
  int8_t* base = reinterpret_cast<int8_t*>(arena_.data());
  auto tensor = [&](int t) { return base + plan_.tensor_offset[size_t(t)]; };
  const Tensor& in = g.tensors[size_t(g.input)];
  const Tensor& out = g.tensors[size_t(st.output)];
  const int n = st.schedule.patches;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      // The patch's input region, from the caller's input into the input buffer.
      const Interval rows = st.rows[size_t(i)][size_t(g.input)], cols = st.cols[size_t(j)][size_t(g.input)];
      copy_pixels(input.data() + (int64_t(rows.begin) * in.w + cols.begin) * in.c, in.w, tensor(g.input), cols.size, rows.size,
                  cols.size, in.c);
      for (int o = 0; o < st.ops; ++o) {
        const KernelCall& c = calls_[size_t(o)];
        const PatchAxis& r = st.row_axes[size_t(o)][size_t(i)];
        const PatchAxis& k = st.col_axes[size_t(o)][size_t(j)];
        int16_t* scratch = reinterpret_cast<int16_t*>(base + plan_.scratch_offset[size_t(o)]);
        int8_t* y = c.output == st.output && st.staged_output ? base + plan_.staging_offset : tensor(c.output);
        const int8_t* x = tensor(c.input);
        const int8_t* x2 = c.input2 >= 0 ? tensor(c.input2) : nullptr;
        auto at = [](const int8_t* buffer, int row, int col, int row_length, int channels) {
          return buffer + (int64_t(row) * row_length + col) * channels;
        };
        int calls = 0;
        const KernelShape s = patch_call_shape(st, o, i, j, calls);
        if (!st.per_row[size_t(o)]) {
          check(invoke_kernel(c, s, at(x, r.in_start, k.in_start, k.in_extent, c.in_c),
                              x2 ? at(x2, r.in2_start, k.in2_start, k.in2_extent, c.in_c) : nullptr,
                              const_cast<int8_t*>(at(y, r.out_start, k.out_start, k.out_extent, c.out_c)), scratch),
                c);
          continue;
        }
        for (int row = 0; row < calls; ++row)
          check(invoke_kernel(c, s, at(x, r.in_start + row * r.step, k.in_start, k.in_extent, c.in_c),
                              x2 ? at(x2, r.in2_start + row, k.in2_start, k.in2_extent, c.in_c) : nullptr,
                              const_cast<int8_t*>(at(y, r.out_start + row, k.out_start, k.out_extent, c.out_c)), scratch),
                c);
      }
      if (st.staged_output) {
        const Interval orow = st.rows[size_t(i)][size_t(st.output)], ocol = st.cols[size_t(j)][size_t(st.output)];
        copy_pixels(base + plan_.staging_offset, ocol.size, tensor(st.output) + (int64_t(orow.begin) * out.w + ocol.begin) * out.c,
                    out.w, orow.size, ocol.size, out.c);
      }
    }
  return run_layers(size_t(st.ops));
}

}  // namespace tinynas::engine
