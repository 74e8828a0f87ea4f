#include "tinynas/evaluator/latency_model.h"

#include <yaml-cpp/yaml.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <sstream>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tn_scratch.h"

namespace tinynas::evaluator {

using engine::Graph;
using engine::Op;
using engine::OpKind;

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::string latency_kind(const Graph& g, const Op& op) {
  // e.g. _k3_s2 for the search space's square windows; _k10x4_s2x2_d1x1_g1 for any other.
  const auto pair = [](int h, int w) { return std::to_string(h) + "x" + std::to_string(w); };
  const std::string ks =
      op.square() && op.groups == 1
          ? "_k" + std::to_string(op.kernel_h) + "_s" + std::to_string(op.stride_h)
          : "_k" + pair(op.kernel_h, op.kernel_w) + "_s" + pair(op.stride_h, op.stride_w) + "_d" +
                pair(op.dilation_h, op.dilation_w) + "_g" + std::to_string(op.groups);
  switch (op.kind) {
    case OpKind::Conv2D:
    case OpKind::PointwiseConv2D:
      return engine::runs_as_pointwise(g, op) ? "pointwise" : "conv" + ks;
    case OpKind::DepthwiseConv2D: return "depthwise" + ks;
    case OpKind::Add: return "add";
    case OpKind::AvgPool2D: return "avgpool" + ks;
    case OpKind::MaxPool2D: return "maxpool" + ks;
    case OpKind::GlobalAvgPool: return "global_avgpool";
    case OpKind::FullyConnected: return "fully_connected";
    case OpKind::Softmax: return "softmax";
    case OpKind::Mul: return "mul";
    case OpKind::Unary: return "lookup";
    case OpKind::ChannelMap: return "channel_map";
    case OpKind::Resize: return "resize";
    case OpKind::PRelu: return "prelu";
  }
  return "unknown";
}

std::vector<std::string> latency_feature_names(const std::string& kind) {
  if (kind == "pointwise" || kind.rfind("conv_", 0) == 0)
    // The matrix multiply over steps of pixels (a partial last step computes 1, 4 or all its columns,
    // tn_conv_step_columns): MACs of the columns computed, one epilogue per (step, output channel) and
    // per step, the im2col values widened and the unused slots zeroed, the weight groups the unrolled
    // loop's entry skips, the channels of the partial last step, the outputs requantized, the
    // (step, output channel) pairs that enter the four-group loop (full steps of two-group rows run
    // their second group straight), and the weight words loaded and split (once per step whatever its
    // columns: a one-column step pays them for 4 MACs, a full one for 32). The 1x1 layers of whole
    // groups of four channels, 12 or more (tn_pointwise_takes_six_pixel_steps; the kernel also needs
    // the full int8 range and shifts in [-22, -1], which the exporter gives nearly every layer), run
    // steps of six pixels with features of their own: the steps, the (step, output channel) pairs, their
    // MACs, the passes of the 16-group loop and the groups widened; a last step of fewer pixels has the
    // eight-pixel features.
    return {"constant",       "step_macs",      "channel_steps", "steps",
            "widened_values", "zeroed_values", "leftover_groups", "channels",
            "outputs",        "loop_channel_steps", "weight_words", "six_steps",
            "six_channel_steps", "six_macs",    "six_loop_passes", "six_widened_groups"};
  if (kind.rfind("depthwise_", 0) == 0)
    // The plane initialised once; per channel: its rows copied in, the passes over output rows, the
    // outputs requantized (and odd last columns), the setup. Small maps (TN_DW_SMALL_OUTPUTS) take the
    // one-pass path, with features of their own: MACs, outputs, channels, input values copied; the
    // fixed geometries of the 3x3 kernel (tn_depthwise_fixed_map) a fixed cost per layer and channel.
    // The 3x3 stride-1 passes run in assembly on the cores when the plane width is even (word-aligned
    // rows; tn_depthwise_plane_width makes it so beyond the small maps) and a row has an output pair,
    // in C otherwise: their outputs cost more then. The 3x3 stride-2 layers the four-channel path takes
    // (tn_depthwise_quads_geometry; it also needs the full int8 range and shifts in [-22, -1], which the
    // exporter gives nearly every layer) have features of their own: per group of four channels its
    // set-up, the pairs of windows (those over the left padding skip a column), the single last
    // windows, the output rows and the words gathered for rows with padding.
    return {"constant",          "macs",           "plane",           "inputs",
            "input_rows",        "row_passes",     "outputs",         "odd_outputs",
            "channels",          "small_map_macs", "small_map_outputs", "small_map_channels",
            "small_map_inputs",  "fixed_map_layers", "fixed_map_channels", "odd_width_outputs",
            "quad_groups",       "quad_pairs",     "quad_left_pairs", "quad_tails",
            "quad_rows",         "quad_gathered_words"};
  if (kind == "fully_connected") return {"constant", "macs", "outputs"};
  if (kind.rfind("avgpool_", 0) == 0 || kind.rfind("maxpool_", 0) == 0) return {"constant", "window_reads", "outputs"};
  if (kind == "global_avgpool") return {"constant", "inputs", "channels"};
  if (kind == kFrontendMfccKind) return {"constant"};  // one fixed configuration: one figure per clip
  return {"constant", "elements"};  // add, mul, lookup, softmax, channel_map, prelu, resize
}

std::vector<double> latency_features(const Graph& g, const Op& op) {
  const auto& in = g.tensors.at(size_t(op.input));
  const auto& out = g.tensors.at(size_t(op.output));
  return latency_features(g, op, engine::KernelShape{in.h, in.w, out.h, out.w, op.pad_h, op.pad_w});
}

std::vector<double> latency_features(const Graph& g, const Op& op, const engine::KernelShape& s) {
  const auto& in = g.tensors.at(size_t(op.input));
  const auto& out = g.tensors.at(size_t(op.output));
  const std::string kind = latency_kind(g, op);
  const int64_t pixels = int64_t(s.out_h) * s.out_w;
  const int64_t out_elements = pixels * out.c;
  if (kind == "pointwise" || kind.rfind("conv_", 0) == 0) {
    // Each step gathers and widens one column per group; the pixels the six-pixel steps leave run in
    // steps of eight.
    const int64_t row = tn_conv_weights_row_length(in.c / op.groups, op.kernel_h, op.kernel_w);
    const int64_t groups = row / 4;
    const bool six = kind == "pointwise" && tn_pointwise_takes_six_pixel_steps(in.c);
    const int64_t six_steps = six ? pixels / TN_POINTWISE_PIXELS_PER_STEP : 0;
    const int64_t eight_pixels = pixels - six_steps * TN_POINTWISE_PIXELS_PER_STEP;
    const int64_t steps = ceil_div(eight_pixels, TN_CONV_PIXELS_PER_STEP);
    const int64_t last = eight_pixels % TN_CONV_PIXELS_PER_STEP;
    const int64_t columns = eight_pixels - last + (last ? tn_conv_step_columns(int32_t(last)) : 0);
    const int64_t loop_steps = groups == 2 ? (last ? 1 : 0) : steps;
    return {1.0,
            double(columns * row * out.c),
            double(steps * out.c),
            double(steps),
            double(eight_pixels * row * op.groups),
            double((steps * TN_CONV_PIXELS_PER_STEP - eight_pixels) * row * op.groups),
            double(steps * out.c * (groups % 4)),
            double(out.c),
            double(eight_pixels * out.c),
            double(loop_steps * out.c),
            double(steps * out.c * groups),
            double(six_steps),
            double(six_steps * out.c),
            double(six_steps * TN_POINTWISE_PIXELS_PER_STEP * row * out.c),
            double(six_steps * out.c * ceil_div(groups - 1, TN_POINTWISE_LOOP_GROUPS)),
            double(six_steps * groups)};
  }
  if (kind.rfind("depthwise_", 0) == 0) {
    const int32_t plane_w = tn_depthwise_plane_width(s.in_w, s.pad_w, op.kernel_w, op.stride_w, s.out_h, s.out_w);
    const int64_t plane = int64_t(tn_depthwise_plane_extent(s.in_h, s.pad_h, op.kernel_h, op.stride_h, s.out_h)) * plane_w;
    const double macs = double(out_elements * op.kernel_h * op.kernel_w);
    const double inputs = double(int64_t(s.in_h) * s.in_w * in.c);
    const bool small_map = pixels <= TN_DW_SMALL_OUTPUTS && op.kernel_h == op.kernel_w && op.kernel_h % 2 == 1 &&
                           op.kernel_h <= 7 && op.stride_h <= 2;
    if (tn_depthwise_fixed_map(s.in_h, s.in_w, s.pad_h, s.pad_w, op.kernel_h, op.stride_h, s.out_h, s.out_w) &&
        op.kernel_w == 3 && op.stride_w == op.stride_h)
      return {1.0, 0, double(plane), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0, double(out.c), 0, 0, 0, 0, 0, 0, 0};
    if (small_map)
      return {1.0, 0, double(plane), 0, 0, 0, 0, 0, 0, macs, double(out_elements), double(out.c), inputs, 0, 0, 0,
              0, 0, 0, 0, 0, 0};
    if (op.kernel_w == op.kernel_h && op.stride_w == op.stride_h &&
        tn_depthwise_quads_geometry(s.in_h, s.in_w, s.pad_h, s.pad_w, op.kernel_h, op.stride_h, s.out_h, s.out_w,
                                    out.c)) {
      // As tn_dw3x3_s2_quads: the rows read in place (a left pair first with left padding, then pairs
      // and a last single window); the other rows read their three input rows gathered, 2 out_w + 1
      // words each.
      const int64_t groups = out.c / 4;
      const tn_depthwise_quads_rows rows =
          tn_depthwise_quads_in_place_rows(s.in_h, s.in_w, s.pad_h, s.pad_w, s.out_h, s.out_w);
      const int64_t inside_rows = rows.end - rows.first;
      const int64_t gathered_rows = s.out_h - inside_rows;
      const int64_t windows = s.out_w - 2 * s.pad_w; /* an inside row's after its left pair */
      return {1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
              double(groups),
              double(groups * (inside_rows * (windows / 2 + s.pad_w) + gathered_rows * (s.out_w / 2))),
              double(groups * inside_rows * s.pad_w),
              double(groups * (inside_rows * (windows % 2) + gathered_rows * (s.out_w % 2))),
              double(groups * s.out_h),
              double(groups * gathered_rows * 3 * (2 * s.out_w + 1))};
    }
    const bool c_passes = op.kernel_h == 3 && op.kernel_w == 3 && op.stride_h == 1 && op.stride_w == 1 &&
                          ((plane_w % 2) != 0 || s.out_w < 2);
    return {1.0,
            macs,
            double(plane),
            inputs,
            double(int64_t(s.in_h) * in.c),
            double(int64_t(out.c) * ceil_div(s.out_h, tn_depthwise_sum_rows(s.out_h, s.out_w))),
            double(out_elements),
            double(int64_t(s.out_h) * out.c * (s.out_w % 2)),
            double(out.c),
            0,
            0,
            0,
            0,
            0,
            0,
            c_passes ? double(out_elements) : 0.0,
            0,
            0,
            0,
            0,
            0,
            0};
  }
  if (kind == "fully_connected") return {1.0, double(engine::op_macs(g, op)), double(out.elements())};
  if (kind.rfind("avgpool_", 0) == 0 || kind.rfind("maxpool_", 0) == 0)
    return {1.0, double(out_elements) * op.kernel_h * op.kernel_w, double(out_elements)};
  if (kind == "global_avgpool") return {1.0, double(in.elements()), double(in.c)};
  return {1.0, double(out_elements)};
}

std::vector<double> layer_features(const Graph& g, const engine::PatchStage* stage, int op) {
  const Op& o = g.ops[size_t(op)];
  if (!stage || op >= stage->ops) return latency_features(g, o);
  // A patch stage's layer: the sum over its calls (the model is linear in the features).
  std::vector<double> sum;
  const int n = stage->schedule.patches;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      int calls = 0;
      const std::vector<double> f = latency_features(g, o, engine::patch_call_shape(*stage, op, i, j, calls));
      sum.resize(f.size(), 0.0);
      for (size_t k = 0; k < f.size(); ++k) sum[k] += calls * f[k];
    }
  return sum;
}

std::vector<LayerSample> layer_samples(const Graph& g, const engine::FirmwareOutput& run, const engine::PatchStage* stage) {
  if (run.layers.size() != g.ops.size())
    throw core::InputError("the run of " + g.name + " has " + std::to_string(run.layers.size()) + " layers, the graph " +
                     std::to_string(g.ops.size()));
  std::vector<LayerSample> samples;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const int64_t macs = engine::executed_op_macs(g, stage, int(i));
    if (run.layers[i].macs != macs)
      throw core::InputError("layer " + std::to_string(i) + " of the run of " + g.name + " has " +
                       std::to_string(run.layers[i].macs) + " MACs, the graph's op " + std::to_string(macs) +
                       ": the run is of another network or schedule");
    samples.push_back({latency_kind(g, g.ops[i]), layer_features(g, stage, int(i)), double(run.layers[i].instructions)});
  }
  if (g.frontend == engine::Frontend::Mfcc) {
    if (run.frontend_instructions == 0) throw core::InputError("the run of " + g.name + " has no front-end figure");
    samples.push_back({kFrontendMfccKind, {1.0}, double(run.frontend_instructions)});
  }
  return samples;
}

double LatencyModel::predict_op(const Graph& g, const Op& op) const {
  return predict_features(latency_kind(g, op), latency_features(g, op));
}

double LatencyModel::predict_layer(const Graph& g, const engine::PatchStage* stage, int op) const {
  return predict_features(latency_kind(g, g.ops[size_t(op)]), layer_features(g, stage, op));
}

double LatencyModel::predict_features(const std::string& kind, const std::vector<double>& f) const {
  const auto it = kinds.find(kind);
  if (it == kinds.end())
    throw core::InputError("the latency model of " + mcu + " has no coefficients for " + kind +
                     " layers; calibrate it over a space that contains them");
  double y = 0;
  for (size_t i = 0; i < f.size() && i < it->second.coefficients.size(); ++i) y += f[i] * it->second.coefficients[i];
  return std::max(y, 0.0);
}

double LatencyModel::predict_frontend(const Graph& g) const {
  if (g.frontend == engine::Frontend::None) return 0.0;
  const auto it = kinds.find(kFrontendMfccKind);
  if (it == kinds.end() || it->second.coefficients.empty())
    throw core::InputError("the latency model of " + mcu + " has no figure for the MFCC front-end; calibrate it over a "
                           "space with `frontend: mfcc` (configs/spaces/kws.yaml)");
  return std::max(it->second.coefficients[0], 0.0);
}

double LatencyModel::predict(const Graph& g, const engine::PatchStage* stage) const {
  double total = predict_frontend(g);
  for (size_t i = 0; i < g.ops.size(); ++i) total += predict_layer(g, stage, int(i));
  return total;
}

double LatencyModel::predict_ms(const Graph& g) const {
  if (!(clock_hz > 0)) throw core::InputError("the latency model of " + mcu + " has no clock frequency");
  return predict(g) / clock_hz * 1000.0;
}

LatencyModel fit_latency_model(const std::vector<LayerSample>& samples) {
  std::map<std::string, std::vector<const LayerSample*>> by_kind;
  for (const auto& s : samples) {
    if (!(s.count > 0)) throw core::InputError("a measured " + s.kind + " layer has no positive count");
    by_kind[s.kind].push_back(&s);
  }
  LatencyModel model;
  for (const auto& [kind, rows] : by_kind) {
    const size_t n = rows.size(), m = rows.front()->features.size();
    Eigen::MatrixXd a(n, m);
    Eigen::VectorXd b(n);
    for (size_t i = 0; i < n; ++i) {
      if (rows[i]->features.size() != m) throw core::InputError("the " + kind + " samples have different feature counts");
      const double weight = 1.0 / rows[i]->count;  // relative error: small layers count too
      for (size_t j = 0; j < m; ++j) a(Eigen::Index(i), Eigen::Index(j)) = rows[i]->features[j] * weight;
      b(Eigen::Index(i)) = 1.0;
    }
    // Columns scaled to unit norm, so features of very different magnitudes (1 vs millions of MACs)
    // do not make the rank decision depend on units.
    Eigen::VectorXd scale(m);
    for (size_t j = 0; j < m; ++j) {
      const double norm = a.col(Eigen::Index(j)).norm();
      scale(Eigen::Index(j)) = norm > 0 ? norm : 1.0;
      a.col(Eigen::Index(j)) /= scale(Eigen::Index(j));
    }
    Eigen::CompleteOrthogonalDecomposition<Eigen::MatrixXd> solver(a);
    solver.setThreshold(1e-10);
    const Eigen::VectorXd x = solver.solve(b).cwiseQuotient(scale);
    LatencyModel::Kind k;
    k.samples = int(n);
    k.coefficients.assign(x.data(), x.data() + x.size());
    double sq = 0;
    for (const auto* r : rows) {
      double y = 0;
      for (size_t j = 0; j < m; ++j) y += r->features[j] * k.coefficients[j];
      sq += std::pow((y - r->count) / r->count, 2);
    }
    k.rms_relative_error = std::sqrt(sq / double(n));
    model.kinds[kind] = k;
  }
  return model;
}

void save_latency_model(const std::string& path, const LatencyModel& model) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "mcu" << YAML::Value << model.mcu;
  e << YAML::Key << "unit" << YAML::Value << model.unit;
  e << YAML::Key << "clock_hz" << YAML::Value << model.clock_hz;
  e << YAML::Key << "source" << YAML::Value << model.source;
  e << YAML::Key << "validation" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "subnets" << YAML::Value << model.validation_subnets;
  e << YAML::Key << "mape_percent" << YAML::Value << model.validation_mape_percent;
  e << YAML::Key << "max_error_percent" << YAML::Value << model.validation_max_error_percent;
  e << YAML::EndMap;
  e << YAML::Key << "kinds" << YAML::Value << YAML::BeginMap;
  e.SetDoublePrecision(17);
  for (const auto& [kind, k] : model.kinds) {
    e << YAML::Key << kind << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "features" << YAML::Value << YAML::Flow << latency_feature_names(kind);
    e << YAML::Key << "coefficients" << YAML::Value << YAML::Flow << k.coefficients;
    e << YAML::Key << "samples" << YAML::Value << k.samples;
    e << YAML::Key << "rms_relative_error" << YAML::Value << k.rms_relative_error;
    e << YAML::EndMap;
  }
  e << YAML::EndMap << YAML::EndMap;
  core::write_file_atomic(path, std::string("# tinynas latency model: count = sum of features x coefficients, per kernel kind\n") +
                              e.c_str() + "\n");
}

LatencyModel load_latency_model(const std::string& path) {
  const std::string text = core::read_text_file(path);
  try {
    const YAML::Node n = YAML::Load(text);
    LatencyModel m;
    m.mcu = n["mcu"].as<std::string>();
    m.unit = n["unit"].as<std::string>();
    if (m.unit != "instructions" && m.unit != "cycles") throw core::InputError("unit must be instructions or cycles");
    m.clock_hz = n["clock_hz"].as<double>();
    if (n["source"]) m.source = n["source"].as<std::string>();
    if (const YAML::Node v = n["validation"]) {
      m.validation_subnets = v["subnets"].as<int>();
      m.validation_mape_percent = v["mape_percent"].as<double>();
      m.validation_max_error_percent = v["max_error_percent"].as<double>();
    }
    for (const auto& kv : n["kinds"]) {
      const std::string kind = kv.first.as<std::string>();
      LatencyModel::Kind k;
      k.coefficients = kv.second["coefficients"].as<std::vector<double>>();
      if (k.coefficients.size() != latency_feature_names(kind).size())
        throw core::InputError(kind + " has " + std::to_string(k.coefficients.size()) + " coefficients, expected " +
                         std::to_string(latency_feature_names(kind).size()));
      k.samples = kv.second["samples"].as<int>();
      k.rms_relative_error = kv.second["rms_relative_error"].as<double>();
      m.kinds[kind] = k;
    }
    if (m.kinds.empty()) throw core::InputError("no kinds");
    return m;
  } catch (const core::InputError& e) {
    throw core::InputError(path + ": " + e.what());
  } catch (const std::exception& e) {
    throw core::InputError(path + ": not a latency model (" + e.what() + ")");
  }
}

}  // namespace tinynas::evaluator
