#include "tinynas/engine/codegen.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <optional>
#include <sstream>

#include "tinynas/engine/audio_frontend.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/core/data_dir.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace fs = std::filesystem;

namespace tinynas::engine {

uint32_t output_checksum(const std::vector<int8_t>& output) {
  uint32_t h = 2166136261u;
  for (int8_t v : output) {
    h ^= uint32_t(uint8_t(v));
    h *= 16777619u;
  }
  return h;
}

namespace {

// A C identifier-safe string literal body.
std::string c_string(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch >= 32 && ch < 127) out += ch;
  }
  return out;
}

template <typename T>
void write_array(std::ostream& os, const char* type, const std::string& name, const std::vector<T>& values) {
  // Word-aligned: the kernels read packed weights with word (and double-word) loads.
  os << "static const " << type << " " << name << "[" << std::max<size_t>(1, values.size())
     << "] __attribute__((aligned(4))) = {";
  if (values.empty()) os << "0";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i % 20 == 0) os << "\n  ";
    os << int64_t(values[i]) << (i + 1 < values.size() ? "," : "");
    if (i % 20 != 19 && i + 1 < values.size()) os << " ";
  }
  os << "};\n";
}

// A layer descriptor's size on a 32-bit MCU, where every field (int32 or pointer) takes 4 bytes.
int64_t descriptor_bytes(KernelKind kind) {
  const int64_t requant = 6;  // tn_requant_params
  switch (kind) {
    case KernelKind::Conv:
    case KernelKind::Pointwise: return 4 * (6 + 8 + 1 + 2 + requant);  // shapes, tn_window, groups
    case KernelKind::Depthwise: return 4 * (9 + 2 + requant);
    case KernelKind::FullyConnected: return 4 * (2 + 2 + requant);
    case KernelKind::Add: return 4 * 13;
    case KernelKind::Mul: return 4 * 10;
    case KernelKind::Lookup: return 4 * 2;
    case KernelKind::Softmax: return 4 * 5;
    case KernelKind::ChannelMap: return 4 * 7;
    case KernelKind::PRelu: return 4 * 11;
    case KernelKind::Resize: return 4 * 7;
    case KernelKind::AvgPool:
    case KernelKind::MaxPool:
    case KernelKind::GlobalAvgPool: return 4 * (5 + 8 + 2);
  }
  return 0;
}

std::string window_literal(const KernelCall& c) {
  return "{" + std::to_string(c.kernel_h) + ", " + std::to_string(c.kernel_w) + ", " + std::to_string(c.stride_h) +
         ", " + std::to_string(c.stride_w) + ", " + std::to_string(c.dilation_h) + ", " +
         std::to_string(c.dilation_w) + ", " + std::to_string(c.pad_h) + ", " + std::to_string(c.pad_w) + "}";
}

std::string requant_literal(const KernelCall& c, const std::string& id) {
  return "{" + id + "_multiplier, " + id + "_shift, " + std::to_string(c.input_offset) + ", " +
         std::to_string(c.output_offset) + ", " + std::to_string(c.act_min) + ", " + std::to_string(c.act_max) + "}";
}

// A float as a C literal that reads back as the same float.
std::string float_literal(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9gf", double(v));
  std::string s = text;
  if (s.find_first_of(".e") == std::string::npos) s.insert(s.size() - 1, ".0");
  return s;
}

// model.h's part for a front-end ("" without one).
std::string frontend_declarations(const Graph& g) {
  if (g.frontend != Frontend::Mfcc) return "";
  const AudioFrontendConfig& c = default_audio_frontend_fixed().config;
  std::ostringstream os;
  os << "/* The MFCC front-end (" << c.window_samples << "-sample windows every " << c.stride_samples
     << " samples, " << c.mel_channels << " mel channels, " << c.coefficients
     << " coefficients): the int16 clip goes to model_audio_input(),\n"
     << " * in the arena; model_invoke_audio() writes its int8 features to model_input() and runs every layer. */\n"
     << "#define MODEL_AUDIO_SAMPLE_RATE " << c.sample_rate << "\n#define MODEL_AUDIO_SAMPLES " << c.clip_samples << "\n"
     << "int16_t* model_audio_input(void);\ntn_status model_invoke_audio(void);\n"
     << "/* The front-end's instructions (QEMU) or cycles (board) in the last model_invoke_audio(). */\n"
     << "extern uint64_t model_frontend_instructions;\n\n";
  return os.str();
}

// model.h's part for a patch schedule ("" without one).
std::string patch_declarations(const PatchStage* stage) {
  if (!stage) return "";
  std::ostringstream os;
  os << "/* Patch-based inference: the first " << stage->ops << " layers (blocks before " << stage->schedule.split_block
     << ") run once per patch of " << stage->schedule.patches << " x " << stage->schedule.patches
     << ", the rest layer by layer.\n"
     << " * The input is not in the arena: model_invoke_input() copies each patch's input region from `input`\n"
     << " * (H x W x C int8), which may lie in Flash, a camera frame buffer or external memory. */\n"
     << "#define MODEL_PATCHES " << stage->schedule.patches << "\n#define MODEL_PATCH_SPLIT_BLOCK "
     << stage->schedule.split_block << "\n"
     << "tn_status model_invoke_input(const int8_t* input);\n\n";
  return os.str();
}

std::string model_header(const QuantizedModel& m, const MemoryPlan& plan, size_t layers, const PatchStage* stage) {
  const Graph& g = m.graph;
  const Tensor& in = g.tensors[size_t(g.input)];
  const Tensor& out = g.tensors[size_t(g.output)];
  const TensorQuant& in_q = m.tensors[size_t(g.input)];
  const TensorQuant& out_q = m.tensors[size_t(g.output)];
  std::ostringstream os;
  os << "/* Generated by tinynas: the int8 model '" << c_string(g.name) << "'. */\n"
     << "#ifndef TINYNAS_MODEL_H\n#define TINYNAS_MODEL_H\n\n#include <stdint.h>\n\n#include \"tn_kernels.h\"\n\n"
     << "#define MODEL_NAME \"" << c_string(g.name) << "\"\n"
     << "#define MODEL_INPUT_H " << in.h << "\n#define MODEL_INPUT_W " << in.w << "\n#define MODEL_INPUT_C " << in.c
     << "\n#define MODEL_INPUT_SIZE " << in.elements() << "\n#define MODEL_OUTPUT_SIZE " << out.elements()
     << "\n#define MODEL_ARENA_BYTES " << plan.arena_bytes << "\n#define MODEL_NUM_LAYERS " << layers << "\n\n"
     << "/* Layout: input and output are int8 tensors of H x W x C in NHWC order (channels last): ONNX's\n"
     << " * [1, C, H, W] transposed; a flattened output of H = W = 1 is the same in both. Real values:\n"
     << " * x = SCALE * (q - ZERO_POINT), TF-Lite's asymmetric int8. */\n"
     << "#define MODEL_INPUT_SCALE " << float_literal(in_q.scale) << "\n#define MODEL_INPUT_ZERO_POINT "
     << in_q.zero_point << "\n"
     << "#define MODEL_OUTPUT_H " << out.h << "\n#define MODEL_OUTPUT_W " << out.w << "\n#define MODEL_OUTPUT_C "
     << out.c << "\n#define MODEL_OUTPUT_SCALE " << float_literal(out_q.scale) << "\n#define MODEL_OUTPUT_ZERO_POINT "
     << out_q.zero_point << "\n\n"
     << "/* A real input value as the model's int8 input: round(x / scale) half away from zero, plus the\n"
     << " * zero point, clamped to int8 (as tinynas quantizes its test inputs). */\n"
     << "static inline int8_t model_quantize_input(float x) {\n"
     << "  double v = (double)x / (double)MODEL_INPUT_SCALE;\n"
     << "  long q;\n"
     << "  double fraction;\n"
     << "  if (!(v > -1000.0)) v = -1000.0; /* also NaN */\n"
     << "  if (v > 1000.0) v = 1000.0;\n"
     << "  q = (long)v; /* toward zero; the fraction v - q is exact */\n"
     << "  fraction = v - (double)q;\n"
     << "  if (fraction >= 0.5) ++q;\n"
     << "  if (fraction <= -0.5) --q;\n"
     << "  q += MODEL_INPUT_ZERO_POINT;\n"
     << "  return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);\n"
     << "}\n"
     << "/* An int8 output value as a real value. */\n"
     << "static inline float model_dequantize_output(int8_t q) {\n"
     << "  return MODEL_OUTPUT_SCALE * (float)((int)q - MODEL_OUTPUT_ZERO_POINT);\n"
     << "}\n\n"
     << (stage ? "/* The output lives in the arena. */\nconst int8_t* model_output(void);\n\n"
               : "/* The input and output live in the arena. */\n"
                 "int8_t* model_input(void);\nconst int8_t* model_output(void);\n"
                 "/* Runs every layer; the first kernel status that is not TN_OK. */\n"
                 "tn_status model_invoke(void);\n\n")
     << patch_declarations(stage)
     << frontend_declarations(g)
     << "/* Per layer: the kernel, its multiply-accumulates, and the instructions (QEMU) or cycles (board)\n"
     << " * of the last model_invoke(). */\n"
     << "extern const char* const model_layer_kernel[MODEL_NUM_LAYERS];\n"
     << "extern const uint32_t model_layer_macs[MODEL_NUM_LAYERS];\n"
     << "extern uint64_t model_layer_instructions[MODEL_NUM_LAYERS];\n\n#endif\n";
  return os.str();
}

// The arguments of a kernel call after its parameters: inputs, output and scratch as the kernel takes them.
std::string call_arguments(const KernelCall& c, const std::string& x, const std::string& x2, const std::string& y,
                           const std::string& scratch) {
  switch (c.kind) {
    case KernelKind::Add:
    case KernelKind::Mul: return x + ", " + x2 + ", " + y;
    case KernelKind::ChannelMap: return x + ", " + (c.input2 >= 0 ? x2 : std::string("0")) + ", " + y;
    case KernelKind::Lookup:
    case KernelKind::PRelu:
    case KernelKind::Resize:
    case KernelKind::Softmax:
    case KernelKind::AvgPool:
    case KernelKind::MaxPool:
    case KernelKind::GlobalAvgPool: return x + ", " + y;
    default: return x + ", " + y + ", " + scratch;
  }
}

// The member of tn_patch_params (one union of the parameter structs the patch stage's kernels take, so
// that every layer's copy shares the same stack slot) that holds a layer's parameters.
const char* patch_params_member(KernelKind kind) {
  switch (kind) {
    case KernelKind::Conv:
    case KernelKind::Pointwise: return "conv";
    case KernelKind::Depthwise: return "depthwise";
    case KernelKind::AvgPool:
    case KernelKind::MaxPool: return "pool";
    case KernelKind::Add: return "add";
    case KernelKind::Lookup: return "lookup";
    case KernelKind::Mul: return "mul";
    case KernelKind::PRelu: return "prelu";
    case KernelKind::ChannelMap: return "channel_map";
    default: throw core::InputError(std::string("kernel ") + kernel_function(kind) + " cannot run per patch");
  }
}

// The statements that set the copy of a layer's parameters in `p` to one patch call's shapes (r, c: its
// tn_patch_axis of rows and columns); per row: one output row of sub-rows.
std::string patch_shape_statements(const KernelCall& k, bool per_row) {
  const std::string q = std::string("p.") + patch_params_member(k.kind) + ".";
  const std::string in_h = per_row ? "1" : "r->in", out_h = per_row ? "1" : "r->out", pad_h = per_row ? "0" : "r->pad";
  const std::string pad_w = per_row ? "0" : "c->pad";
  const std::string pixels = per_row ? "c->out" : "r->out * c->out";
  switch (k.kind) {
    case KernelKind::Conv:
    case KernelKind::Pointwise:
    case KernelKind::AvgPool:
    case KernelKind::MaxPool:
      return q + "in_h = " + in_h + "; " + q + "in_w = c->in; " + q + "out_h = " + out_h + "; " + q + "out_w = c->out; " + q +
             "window.pad_h = " + pad_h + "; " + q + "window.pad_w = " + pad_w + ";";
    case KernelKind::Depthwise:
      return q + "in_h = " + in_h + "; " + q + "in_w = c->in; " + q + "out_h = " + out_h + "; " + q + "out_w = c->out; " + q +
             "pad_h = " + pad_h + "; " + q + "pad_w = " + pad_w + ";";
    case KernelKind::Add:
    case KernelKind::Lookup: return q + "size = " + pixels + " * " + std::to_string(k.out_c) + ";";
    case KernelKind::Mul:
    case KernelKind::PRelu:
    case KernelKind::ChannelMap: return q + "pixels = " + pixels + ";";
    default: throw core::InputError(std::string("kernel ") + kernel_function(k.kind) + " cannot run per patch");
  }
}

std::string axis_literal(const PatchAxis& a) {
  return "{" + std::to_string(a.in) + ", " + std::to_string(a.out) + ", " + std::to_string(a.pad) + ", " + std::to_string(a.step) +
         ", " + std::to_string(a.in_start) + ", " + std::to_string(a.in2_start) + ", " + std::to_string(a.out_start) + ", " +
         std::to_string(a.in_extent) + ", " + std::to_string(a.in2_extent) + ", " + std::to_string(a.out_extent) + "}";
}

// The patch stage's tables and tn_run_patch() (one patch through the stage) in `definitions`; returns
// the start of model_invoke_input(): the loop over the patches, up to the layer-wise rest.
std::string patch_stage_source(const QuantizedModel& m, const std::vector<KernelCall>& calls, const MemoryPlan& plan,
                               const PatchStage& st, std::string& definitions) {
  const Graph& g = m.graph;
  const int n = st.schedule.patches;
  std::ostringstream t, os;
  t << "/* The patch stage's geometry (tinynas::engine::PatchAxis): per layer and patch row (column), the\n"
    << " * call's input and output extents, padding, input rows per output row, and where its input, second\n"
    << " * input and output start in their buffers of the given extents. */\n"
    << "typedef struct {\n  int16_t in, out, pad, step, in_start, in2_start, out_start, in_extent, in2_extent, out_extent;\n"
    << "} tn_patch_axis;\n"
    << "/* One stack slot for the parameters of every patch-stage layer. */\n"
    << "typedef union {\n  tn_conv_params conv;\n  tn_depthwise_params depthwise;\n  tn_pool_params pool;\n"
    << "  tn_add_params add;\n  tn_lookup_params lookup;\n  tn_mul_params mul;\n  tn_prelu_params prelu;\n"
    << "  tn_channel_map_params channel_map;\n} tn_patch_params;\n\n";
  auto region_table = [&](const std::string& name, const std::vector<std::vector<Interval>>& axis, int tensor) {
    t << "static const int16_t " << name << "[" << n << "][2] = {";
    for (int i = 0; i < n; ++i)
      t << (i ? ", " : "") << "{" << axis[size_t(i)][size_t(tensor)].begin << ", " << axis[size_t(i)][size_t(tensor)].size << "}";
    t << "};\n";
  };
  region_table("tn_patch_input_rows", st.rows, g.input);
  region_table("tn_patch_input_cols", st.cols, g.input);
  if (st.staged_output) {
    region_table("tn_patch_output_rows", st.rows, st.output);
    region_table("tn_patch_output_cols", st.cols, st.output);
  }
  for (int o = 0; o < st.ops; ++o)
    for (const bool rows : {true, false}) {
      t << "static const tn_patch_axis layer" << o << (rows ? "_rows" : "_cols") << "[" << n << "] = {";
      for (int i = 0; i < n; ++i) t << (i ? ", " : "") << axis_literal((rows ? st.row_axes : st.col_axes)[size_t(o)][size_t(i)]);
      t << "};\n";
    }
  t << "\n/* rows x cols pixels of `channels` bytes between row-major buffers of the given row lengths. */\n"
    << "static void tn_copy_pixels(const int8_t* from, int32_t from_row, int8_t* to, int32_t to_row, int32_t rows, int32_t cols,\n"
    << "                           int32_t channels) {\n"
    << "  int32_t r;\n"
    << "  for (r = 0; r < rows; ++r) memcpy(to + r * to_row * channels, from + r * from_row * channels, (size_t)(cols * channels));\n"
    << "}\n"
    << "#define TN_AT(buffer, row, col, row_length, channels) \\\n"
    << "  ((buffer) + ((int32_t)(row) * (int32_t)(row_length) + (int32_t)(col)) * (int32_t)(channels))\n\n";
  t << "/* A patch stage's layer runs once per patch (and row): its instructions add up. */\n"
    << "#define TN_PATCH_LAYER(index, call)                                                         \\\n"
    << "  do {                                                                                  \\\n"
    << "    const uint32_t start = tn_board_counter();                                          \\\n"
    << "    const tn_status status = (call);                                                    \\\n"
    << "    model_layer_instructions[index] += tn_board_elapsed_instructions(start, tn_board_counter()); \\\n"
    << "    if (status != TN_OK) return status;                                                 \\\n"
    << "  } while (0)\n\n";

  const Tensor& in = g.tensors[size_t(g.input)];
  const Tensor& out = g.tensors[size_t(st.output)];
  // One patch per call, kept out of the loop so that its frame (one parameter copy, the table pointers)
  // is the only stack it adds.
  os << "/* Patch (pi, pj) through the patch stage: its input region copied in, every stage layer on it. */\n"
     << "static __attribute__((noinline)) tn_status tn_run_patch(const int8_t* input, int32_t pi, int32_t pj) {\n"
     << "  int32_t row;\n  tn_patch_params p;\n  (void)row;\n"
     << "  {\n    {\n"
     << "      tn_copy_pixels(input + ((int32_t)tn_patch_input_rows[pi][0] * " << in.w << " + tn_patch_input_cols[pj][0]) * "
     << in.c << ", " << in.w << ", TN_ARENA(" << plan.tensor_offset[size_t(g.input)]
     << "), tn_patch_input_cols[pj][1],\n                     tn_patch_input_rows[pi][1], tn_patch_input_cols[pj][1], " << in.c
     << ");\n";
  for (int o = 0; o < st.ops; ++o) {
    const KernelCall& c = calls[size_t(o)];
    const bool per_row = st.per_row[size_t(o)];
    const std::string id = "layer" + std::to_string(o);
    const int64_t y_offset = c.output == st.output && st.staged_output ? plan.staging_offset : plan.tensor_offset[size_t(c.output)];
    const std::string row = per_row ? " + row" : "", step = per_row ? " + row * r->step" : "";
    const std::string x = "TN_AT(TN_ARENA(" + std::to_string(plan.tensor_offset[size_t(c.input)]) + "), r->in_start" + step +
                          ", c->in_start, c->in_extent, " + std::to_string(c.in_c) + ")";
    const std::string x2 = c.input2 < 0 ? "0"
                                        : "TN_AT(TN_ARENA(" + std::to_string(plan.tensor_offset[size_t(c.input2)]) +
                                              "), r->in2_start" + row + ", c->in2_start, c->in2_extent, " + std::to_string(c.in_c) + ")";
    const std::string y = "TN_AT(TN_ARENA(" + std::to_string(y_offset) + "), r->out_start" + row + ", c->out_start, c->out_extent, " +
                          std::to_string(c.out_c) + ")";
    const std::string scratch = "TN_SCRATCH(" + std::to_string(plan.scratch_offset[size_t(c.op)]) + ")";
    os << "      {\n        const tn_patch_axis* r = &" << id << "_rows[pi];\n        const tn_patch_axis* c = &" << id
       << "_cols[pj];\n        p." << patch_params_member(c.kind) << " = " << id << ";\n        "
       << patch_shape_statements(c, per_row)
       << "\n";
    const std::string call = std::string(kernel_function(c.kind)) + "(&p." + patch_params_member(c.kind) + ", " +
                             call_arguments(c, x, x2, y, scratch) + ")";
    if (per_row)
      os << "        for (row = 0; row < r->out; ++row) TN_PATCH_LAYER(" << o << ", " << call << ");\n";
    else
      os << "        TN_PATCH_LAYER(" << o << ", " << call << ");\n";
    os << "      }\n";
  }
  if (st.staged_output)
    os << "      tn_copy_pixels(TN_ARENA(" << plan.staging_offset << "), tn_patch_output_cols[pj][1], TN_ARENA("
       << plan.tensor_offset[size_t(st.output)] << ") + ((int32_t)tn_patch_output_rows[pi][0] * " << out.w
       << " + tn_patch_output_cols[pj][0]) * " << out.c << ",\n                     " << out.w
       << ", tn_patch_output_rows[pi][1], tn_patch_output_cols[pj][1], " << out.c << ");\n";
  os << "    }\n  }\n  return TN_OK;\n}\n\n";
  definitions = t.str() + os.str();

  std::ostringstream loop;
  loop << "  int32_t pi, pj;\n";
  for (int o = 0; o < st.ops; ++o) loop << "  model_layer_instructions[" << o << "] = 0;\n";
  loop << "  for (pi = 0; pi < MODEL_PATCHES; ++pi)\n    for (pj = 0; pj < MODEL_PATCHES; ++pj) {\n"
       << "      const tn_status status = tn_run_patch(input, pi, pj);\n"
       << "      if (status != TN_OK) return status;\n    }\n";
  return loop.str();
}

std::string model_source(const QuantizedModel& m, const std::vector<KernelCall>& calls, const MemoryPlan& plan,
                         const PatchStage* stage, int64_t& constant_bytes, int64_t& macs) {
  const Graph& g = m.graph;
  std::ostringstream os;
  os << "/* Generated by tinynas: the int8 model '" << c_string(g.name) << "', " << calls.size()
     << " layers, one direct kernel call each.\n"
     << " * Arena offsets come from the memory planner; the arena is exactly the planned size. */\n"
     << "#include \"model.h\"\n\n" << (stage ? "#include <string.h>\n\n" : "") << "#include \"tn_board.h\"\n\n"
     << "/* int32 words: every arena offset is a multiple of 4, as the kernels' word loads need. */\n"
     << "static int32_t tn_arena[" << (plan.arena_bytes + 3) / 4 << "];\n"
     << "#define TN_ARENA(offset) ((int8_t*)(void*)tn_arena + (offset))\n"
     << "#define TN_SCRATCH(offset) ((int16_t*)(void*)((int8_t*)(void*)tn_arena + (offset)))\n\n";
  constant_bytes = 0;
  macs = 0;
  for (size_t l = 0; l < calls.size(); ++l) {
    const KernelCall& c = calls[l];
    const Op& op = g.ops[size_t(c.op)];
    const std::string id = "layer" + std::to_string(l);
    os << "/* " << id << ": " << to_string(op.kind);
    if (size_t(c.op) < m.op_names.size() && !m.op_names[size_t(c.op)].empty()) os << " '" << c_string(m.op_names[size_t(c.op)]) << "'";
    os << " " << c.in_h << "x" << c.in_w << "x" << c.in_c << " -> " << c.out_h << "x" << c.out_w << "x" << c.out_c << " */\n";
    const bool has_weights = c.kind == KernelKind::Conv || c.kind == KernelKind::Pointwise ||
                             c.kind == KernelKind::Depthwise || c.kind == KernelKind::FullyConnected;
    if (has_weights) {
      write_array(os, "int8_t", id + "_weights", c.weights);
      write_array(os, "int32_t", id + "_bias", c.bias);
      write_array(os, "int32_t", id + "_multiplier", c.multiplier);
      write_array(os, "int32_t", id + "_shift", c.shift);
      constant_bytes += int64_t(c.weights.size()) + 4 * int64_t(c.bias.size() + c.multiplier.size() + c.shift.size());
    }
    macs += executed_op_macs(g, stage, c.op);
    switch (c.kind) {
      case KernelKind::Conv:
      case KernelKind::Pointwise:
        os << "static const tn_conv_params " << id << " = {" << c.in_h << ", " << c.in_w << ", " << c.in_c << ", "
           << c.out_h << ", " << c.out_w << ", " << c.out_c << ", " << window_literal(c) << ", " << c.groups << ", "
           << id << "_weights, " << id << "_bias, " << requant_literal(c, id) << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
      case KernelKind::Depthwise:
        os << "static const tn_depthwise_params " << id << " = {" << c.in_h << ", " << c.in_w << ", " << c.in_c
           << ", " << c.out_h << ", " << c.out_w << ", " << c.kernel_h << ", " << c.stride_h << ", " << c.pad_h << ", "
           << c.pad_w << ", " << id << "_weights, " << id << "_bias, " << requant_literal(c, id) << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
      case KernelKind::FullyConnected:
        os << "static const tn_fully_connected_params " << id << " = {" << c.in_c << ", " << c.out_c << ", " << id
           << "_weights, " << id << "_bias, " << requant_literal(c, id) << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
      case KernelKind::Add:
        os << "static const tn_add_params " << id << " = {" << g.tensors[size_t(c.output)].elements() << ", "
           << c.input1_offset << ", " << c.input2_offset << ", " << c.input1_requant.multiplier << ", "
           << c.input1_requant.shift << ", " << c.input2_requant.multiplier << ", " << c.input2_requant.shift << ", "
           << c.left_shift << ", " << c.output_requant.multiplier << ", " << c.output_requant.shift << ", "
           << c.output_offset << ", " << c.act_min << ", " << c.act_max << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
      case KernelKind::Mul:
        os << "static const tn_mul_params " << id << " = {" << int64_t(c.out_h) * c.out_w << ", " << c.out_c << ", "
           << (c.broadcast ? 1 : 0) << ", " << c.input1_offset << ", " << c.input2_offset << ", "
           << c.output_requant.multiplier << ", " << c.output_requant.shift << ", " << c.output_offset << ", "
           << c.act_min << ", " << c.act_max << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
      case KernelKind::Lookup:
        write_array(os, "int8_t", id + "_table", c.table);
        os << "static const tn_lookup_params " << id << " = {" << g.tensors[size_t(c.output)].elements() << ", " << id
           << "_table};\n";
        constant_bytes += int64_t(c.table.size()) + descriptor_bytes(c.kind);
        break;
      case KernelKind::PRelu:
        write_array(os, "int8_t", id + "_slopes", c.weights);
        os << "static const tn_prelu_params " << id << " = {" << int64_t(c.out_h) * c.out_w << ", " << c.out_c << ", "
           << id << "_slopes, " << c.input_offset << ", " << c.input1_requant.multiplier << ", "
           << c.input1_requant.shift << ", " << c.input2_requant.multiplier << ", " << c.input2_requant.shift << ", "
           << c.output_offset << ", " << c.act_min << ", " << c.act_max << "};\n";
        constant_bytes += int64_t(c.weights.size()) + descriptor_bytes(c.kind);
        break;
      case KernelKind::ChannelMap: {
        write_array(os, "uint16_t", id + "_map", c.channel_map);
        std::string table1 = "0", table2 = "0";
        if (!c.table.empty()) write_array(os, "int8_t", table1 = id + "_table1", c.table);
        if (!c.table2.empty()) write_array(os, "int8_t", table2 = id + "_table2", c.table2);
        os << "static const tn_channel_map_params " << id << " = {" << int64_t(c.out_h) * c.out_w << ", " << c.in_c
           << ", " << c.in2_c << ", " << c.out_c << ", " << id << "_map, " << table1 << ", " << table2 << "};\n";
        constant_bytes += 2 * int64_t(c.channel_map.size()) + int64_t(c.table.size() + c.table2.size()) +
                          descriptor_bytes(c.kind);
        break;
      }
      case KernelKind::Resize:
        write_array(os, "uint16_t", id + "_rows", c.resize_rows);
        write_array(os, "uint16_t", id + "_cols", c.resize_cols);
        os << "static const tn_resize_params " << id << " = {" << c.in_h << ", " << c.in_w << ", " << c.in_c << ", "
           << c.out_h << ", " << c.out_w << ", " << id << "_rows, " << id << "_cols};\n";
        constant_bytes += 2 * int64_t(c.resize_rows.size() + c.resize_cols.size()) + descriptor_bytes(c.kind);
        break;
      case KernelKind::Softmax:
        os << "static const tn_softmax_params " << id << " = {" << int64_t(c.out_h) * c.out_w << ", " << c.out_c << ", "
           << c.output_requant.multiplier << ", " << c.output_requant.shift << ", " << c.diff_min << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
      case KernelKind::AvgPool:
      case KernelKind::MaxPool:
      case KernelKind::GlobalAvgPool:
        os << "static const tn_pool_params " << id << " = {" << c.in_h << ", " << c.in_w << ", " << c.in_c << ", "
           << c.out_h << ", " << c.out_w << ", " << window_literal(c) << ", " << c.act_min << ", " << c.act_max
           << "};\n";
        constant_bytes += descriptor_bytes(c.kind);
        break;
    }
    os << "\n";
  }
  os << "const char* const model_layer_kernel[MODEL_NUM_LAYERS] = {";
  for (size_t l = 0; l < calls.size(); ++l) os << (l ? ", " : "") << "\"" << kernel_function(calls[l].kind) << "\"";
  os << "};\nconst uint32_t model_layer_macs[MODEL_NUM_LAYERS] = {";
  for (size_t l = 0; l < calls.size(); ++l) os << (l ? ", " : "") << executed_op_macs(g, stage, calls[l].op);
  os << "};\nuint64_t model_layer_instructions[MODEL_NUM_LAYERS];\n\n";
  if (!stage) os << "int8_t* model_input(void) { return TN_ARENA(" << plan.tensor_offset[size_t(g.input)] << "); }\n";
  os << "const int8_t* model_output(void) { return TN_ARENA(" << plan.tensor_offset[size_t(g.output)] << "); }\n\n"
     << "/* Each layer timed with the board's counter (a few instructions per layer). */\n"
     << "#define TN_LAYER(index, call)                                                               \\\n"
     << "  do {                                                                                  \\\n"
     << "    const uint32_t start = tn_board_counter();                                          \\\n"
     << "    const tn_status status = (call);                                                    \\\n"
     << "    model_layer_instructions[index] = tn_board_elapsed_instructions(start, tn_board_counter()); \\\n"
     << "    if (status != TN_OK) return status;                                                 \\\n"
     << "  } while (0)\n\n";
  if (stage) {
    std::string definitions;
    const std::string loop = patch_stage_source(m, calls, plan, *stage, definitions);
    os << definitions << "tn_status model_invoke_input(const int8_t* input) {\n" << loop;
  } else {
    os << "tn_status model_invoke(void) {\n";
  }
  for (size_t l = stage ? size_t(stage->ops) : 0; l < calls.size(); ++l) {
    const KernelCall& c = calls[l];
    const std::string id = "layer" + std::to_string(l);
    auto t = [&](int tensor) { return "TN_ARENA(" + std::to_string(plan.tensor_offset[size_t(tensor)]) + ")"; };
    const std::string scratch = "TN_SCRATCH(" + std::to_string(plan.scratch_offset[size_t(c.op)]) + ")";
    os << "  TN_LAYER(" << l << ", " << kernel_function(c.kind) << "(&" << id << ", "
       << call_arguments(c, t(c.input), c.input2 >= 0 ? t(c.input2) : "0", t(c.output), scratch) << "));\n";
  }
  os << "  return TN_OK;\n}\n";
  if (g.frontend == Frontend::Mfcc)
    os << "\n/* The front-end's tables (frontend.c). */\nextern const tn_mfcc_params model_frontend;\n"
       << "uint64_t model_frontend_instructions;\n\n"
       << "int16_t* model_audio_input(void) { return (int16_t*)(void*)TN_ARENA(" << plan.frontend_input_offset << "); }\n\n"
       << "tn_status model_invoke_audio(void) {\n"
       << "  const uint32_t start = tn_board_counter();\n"
       << "  const tn_status status = tn_mfcc_s8(&model_frontend, model_audio_input(), model_input(),\n"
       << "                                      (int32_t*)(void*)TN_ARENA(" << plan.frontend_scratch_offset << "));\n"
       << "  model_frontend_instructions = tn_board_elapsed_instructions(start, tn_board_counter());\n"
       << "  if (status != TN_OK) return status;\n"
       << "  return model_invoke();\n}\n";
  return os.str();
}

// The test inputs as a C array of `type` [count][size_macro].
template <typename T>
void write_test_inputs(std::ostream& os, const char* type, const char* size_macro, const std::vector<std::vector<T>>& inputs,
                       size_t size) {
  os << "static const " << type << " test_inputs[TEST_INPUTS][" << size_macro << "] = {\n";
  for (const auto& x : inputs) {
    if (x.size() != size)
      throw core::InputError("bundle test input has " + std::to_string(x.size()) + " values, the model takes " +
                             std::to_string(size));
    os << "  {";
    for (size_t i = 0; i < x.size(); ++i) os << (i ? (i % 32 == 0 ? ",\n   " : ", ") : "") << int(x[i]);
    os << "},\n";
  }
  os << "};\n";
}

std::string main_source(const QuantizedModel& m, const BundleOptions& o) {
  const bool audio = m.graph.frontend == Frontend::Mfcc;
  const bool patches = !o.patch.layer_wise();
  const size_t count = audio ? o.test_audio.size() : o.test_inputs.size();
  std::ostringstream os;
  os << "/* Generated by tinynas: runs the model on the embedded test inputs and prints what\n"
     << " * tinynas::engine::parse_firmware_output reads. */\n"
     << "#include <stdio.h>\n#include <string.h>\n\n#include \"model.h\"\n#include \"tn_board.h\"\n\n"
     << "#define TEST_INPUTS " << count << "\n";
  if (audio)
    write_test_inputs(os, "int16_t", "MODEL_AUDIO_SAMPLES", o.test_audio, size_t(frontend_sizes(m.graph.frontend).input_samples));
  else
    write_test_inputs(os, "int8_t", "MODEL_INPUT_SIZE", o.test_inputs,
                      size_t(m.graph.tensors[size_t(m.graph.input)].elements()));
  os << "static const int test_labels[TEST_INPUTS] = {";
  for (size_t i = 0; i < count; ++i)
    os << (i ? ", " : "") << (i < o.test_labels.size() ? o.test_labels[i] : -1);
  os << "};\n\n"
     << "int main(void) {\n"
     << "  int i, j;\n"
     << "  tn_board_init();\n"
     << "  printf(\"tinynas-firmware board=%s model=%s arena=%d layers=%d inputs=%d\\n\", tn_board_name(), MODEL_NAME,\n"
     << "         (int)MODEL_ARENA_BYTES, (int)MODEL_NUM_LAYERS, (int)TEST_INPUTS);\n"
     << "  for (i = 0; i < TEST_INPUTS; ++i) {\n"
     << "    uint32_t start, end, checksum = 2166136261u;\n"
     << "    const int8_t* out;\n"
     << "    int best = 0;\n"
     << "    tn_status status;\n"
     << (patches ? "" : audio ? "    memcpy(model_audio_input(), test_inputs[i], sizeof test_inputs[i]);\n"
                              : "    memcpy(model_input(), test_inputs[i], MODEL_INPUT_SIZE);\n")
     << "    start = tn_board_counter();\n"
     << (patches ? "    status = model_invoke_input(test_inputs[i]);\n"
         : audio ? "    status = model_invoke_audio();\n"
                 : "    status = model_invoke();\n")
     << "    end = tn_board_counter();\n"
     << "    if (status != TN_OK) {\n"
     << "      printf(\"error: a kernel rejected its parameters (status %d)\\n\", (int)status);\n"
     << "      return 1;\n"
     << "    }\n"
     << "    out = model_output();\n"
     << "    for (j = 0; j < MODEL_OUTPUT_SIZE; ++j) {\n"
     << "      if (out[j] > out[best]) best = j;\n"
     << "      checksum = (checksum ^ (uint32_t)(uint8_t)out[j]) * 16777619u;\n"
     << "    }\n"
     << "    printf(\"inference %d class %d label %d checksum %lu instructions %llu\\n\", i, best, test_labels[i],\n"
     << "           (unsigned long)checksum, (unsigned long long)tn_board_elapsed_instructions(start, end));\n"
     << "    printf(\"output %d\", i);\n"
     << "    for (j = 0; j < MODEL_OUTPUT_SIZE; ++j) printf(\" %d\", (int)out[j]);\n"
     << "    printf(\"\\n\");\n"
     << "  }\n"
     << "  for (j = 0; j < MODEL_NUM_LAYERS; ++j)\n"
     << "    printf(\"layer %d %s macs %lu instructions %llu\\n\", j, model_layer_kernel[j], (unsigned long)model_layer_macs[j],\n"
     << "           (unsigned long long)model_layer_instructions[j]);\n"
     << (audio ? "  printf(\"frontend tn_mfcc_s8 instructions %llu\\n\", (unsigned long long)model_frontend_instructions);\n"
               : "")
     << "  printf(\"stack_peak %lu\\n\", (unsigned long)tn_board_stack_peak_bytes());\n"
     << "  printf(\"done\\n\");\n"
     << "  return 0;\n"
     << "}\n";
  return os.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) throw core::RuntimeFailure("cannot write '" + path.string() + "'");
}

// Marks a directory as a bundle tinynas wrote, so that a later export may replace it.
constexpr const char* kBundleMarker = ".tinynas-bundle";

bool is_bundle_dir(const fs::path& dir) {
  // Bundles written before the marker existed have these three files.
  return fs::exists(dir / kBundleMarker) ||
         (fs::exists(dir / "model.c") && fs::exists(dir / "model.h") && fs::exists(dir / "main.c"));
}

// The absolute, normal form of a bundle path, without a trailing separator ("out/" and "out/." are "out").
fs::path bundle_path(const std::string& dir) {
  fs::path p = fs::absolute(fs::path(dir)).lexically_normal();
  if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();
  return p;
}

}  // namespace

void check_bundle_dir(const std::string& dir, bool replace_any_directory) {
  if (dir.empty()) throw core::InputError("no bundle directory given");
  const fs::path target = bundle_path(dir);
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  if (!ec) {
    const auto [mismatch, _] = std::mismatch(target.begin(), target.end(), cwd.begin(), cwd.end());
    if (mismatch == target.end())
      throw core::InputError("'" + dir + "' is the working directory or holds it; name a new directory for the bundle");
  }
  const fs::file_status link = fs::symlink_status(target, ec);
  if (ec || !fs::exists(link)) return;
  if (fs::is_symlink(link))
    throw core::InputError("'" + dir + "' is a symbolic link; name the directory itself");
  if (!fs::is_directory(link))
    throw core::InputError("'" + dir + "' exists and is not a directory; a bundle never replaces a file");
  if (fs::is_empty(target, ec) || is_bundle_dir(target) || replace_any_directory) return;
  const std::string example = fs::directory_iterator(target)->path().filename().string();
  throw core::InputError("'" + dir + "' holds files that are not a firmware bundle (such as '" + example +
                         "'); choose a new directory, or --force to replace it and everything in it");
}

BundleSummary write_bundle(const QuantizedModel& model, const BundleOptions& options, const std::string& dir) {
  const bool audio = model.graph.frontend == Frontend::Mfcc;
  if (audio ? options.test_audio.empty() : options.test_inputs.empty())
    throw core::InputError(std::string("a firmware bundle needs at least one test input") +
                           (audio ? " (a clip for its MFCC front-end)" : ""));
  // The front-end's int8 features are the network's int8 input as they are: its input zero point must be
  // 0 (an input mean of 128, as the audio data sets give the features as int8 + 128).
  if (audio && model.tensors[size_t(model.graph.input)].zero_point != 0)
    throw core::InputError("'" + model.graph.name + "': the MFCC front-end's features are the int8 input, but the "
                           "model's input zero point is " + std::to_string(model.tensors[size_t(model.graph.input)].zero_point) +
                           " (train it on data kind speech_commands, normalize fixed)");
  const std::vector<KernelCall> calls = lower(model);
  std::optional<PatchStage> stage;
  if (!options.patch.layer_wise()) stage = plan_patch_stage(model.graph, options.patch);
  const MemoryPlan plan = stage ? plan_memory(model.graph, *stage) : plan_memory(model.graph);
  const std::string problem = stage ? check_plan(model.graph, *stage, plan) : check_plan(model.graph, plan);
  if (!problem.empty()) throw core::RuntimeFailure("memory plan of '" + model.graph.name + "': " + problem);

  check_bundle_dir(dir, options.replace_any_directory);
  BundleSummary s;
  s.arena_bytes = plan.arena_bytes;
  const fs::path target = bundle_path(dir);
  const fs::path tmp = target.parent_path() / (target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  std::error_code ec;
  for (const char* marker : {".tmp-", ".old-"}) core::remove_stale_temporaries(target.string(), marker);
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp / "kernels");
  try {
    write_text(tmp / kBundleMarker, "a firmware bundle written by tinynas; a later export may replace this directory\n");
    const PatchStage* patch = stage ? &*stage : nullptr;
    write_text(tmp / "model.h", model_header(model, plan, calls.size(), patch));
    write_text(tmp / "model.c", model_source(model, calls, plan, patch, s.constant_bytes, s.macs));
    write_text(tmp / "main.c", main_source(model, options));
    s.test_input_bytes = audio ? int64_t(options.test_audio.size() * options.test_audio[0].size() * sizeof(int16_t))
                               : int64_t(options.test_inputs.size() * options.test_inputs[0].size());
    if (audio) {
      const AudioFrontendFixed& fixed = default_audio_frontend_fixed();
      write_text(tmp / "frontend.c", audio_frontend_c_source(fixed, "model_frontend"));
      s.constant_bytes += fixed.table_bytes();
    }
    const fs::path kernels = core::data_path("kernels");
    if (!fs::is_directory(kernels)) throw core::RuntimeFailure("kernel sources not found in '" + kernels.string() + "'");
    for (const auto& e : fs::directory_iterator(kernels)) {
      const auto ext = e.path().extension();
      if (ext == ".c" || ext == ".h") fs::copy_file(e.path(), tmp / "kernels" / e.path().filename());
    }
    copy_board_support(tmp.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  for (const auto& e : fs::recursive_directory_iterator(tmp))
    if (e.is_regular_file()) s.files.push_back(fs::relative(e.path(), tmp).string());
  std::sort(s.files.begin(), s.files.end());
  // Swap the finished bundle in: the old one (if any) moves aside first and is removed last.
  const fs::path old = target.parent_path() / (target.filename().string() + ".old-" + std::to_string(::getpid()));
  if (fs::exists(target)) fs::rename(target, old);
  fs::rename(tmp, target);
  fs::remove_all(old, ec);
  return s;
}

FirmwareOutput parse_firmware_output(const std::string& text) {
  FirmwareOutput out;
  std::istringstream lines(text);
  std::string line;
  bool header = false, done = false;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::string word;
    ls >> word;
    if (word == "tinynas-firmware") {
      header = true;
      std::string kv;
      while (ls >> kv) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (key == "board") out.board = value;
        if (key == "arena") out.arena_bytes = std::stoll(value);
      }
    } else if (word == "inference") {
      FirmwareOutput::Inference inf;
      int index = 0;
      std::string k1, k2, k3, k4;
      ls >> index >> k1 >> inf.predicted >> k2 >> inf.label >> k3 >> inf.checksum >> k4 >> inf.instructions;
      if (!ls || index != int(out.inferences.size())) throw core::RuntimeFailure("firmware output: malformed line '" + line + "'");
      out.inferences.push_back(inf);
    } else if (word == "output") {
      int index = -1, v = 0;
      ls >> index;
      if (index < 0 || index >= int(out.inferences.size())) throw core::RuntimeFailure("firmware output: malformed line '" + line + "'");
      while (ls >> v) out.inferences[size_t(index)].output.push_back(int8_t(v));
    } else if (word == "layer") {
      FirmwareOutput::Layer layer;
      int index = 0;
      std::string k1, k2;
      ls >> index >> layer.kernel >> k1 >> layer.macs >> k2 >> layer.instructions;
      if (!ls) throw core::RuntimeFailure("firmware output: malformed line '" + line + "'");
      out.layers.push_back(layer);
    } else if (word == "frontend") {
      std::string kernel, key;
      ls >> kernel >> key >> out.frontend_instructions;
      if (!ls || key != "instructions") throw core::RuntimeFailure("firmware output: malformed line '" + line + "'");
    } else if (word == "stack_peak") {
      ls >> out.stack_peak_bytes;
    } else if (word == "done") {
      done = true;
    }
  }
  if (!header || !done) {
    std::string tail = text.size() > 600 ? text.substr(text.size() - 600) : text;
    throw core::RuntimeFailure("the firmware did not finish its run; its output ends with:\n" + tail);
  }
  return out;
}

}  // namespace tinynas::engine
