#include "tinynas/engine/float_model.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "tinynas/core/errors.h"

namespace tinynas::engine {

namespace {

int64_t bias_count(const Graph& g, const Op& op) { return op_out_channels_with_params(g, op); }

float activate(float v, Activation act) {
  switch (act) {
    case Activation::None: return v;
    case Activation::Relu: return std::max(v, 0.0f);
    case Activation::Relu6: return std::min(std::max(v, 0.0f), 6.0f);
  }
  return v;
}

// Convolution of every kind: a depthwise conv is one group per channel, with [c][k][k] weights, which
// is the OHWI layout of a grouped conv whose groups have one input channel.
void conv(const Graph& g, const Op& op, const FloatOpParams& p, const std::vector<float>& in, std::vector<float>& out) {
  const Tensor& ti = g.tensors[size_t(op.input)];
  const Tensor& to = g.tensors[size_t(op.output)];
  const int groups = op.kind == OpKind::DepthwiseConv2D ? ti.c : op.groups;
  const int group_in = ti.c / groups, group_out = to.c / groups;
  for (int oy = 0; oy < to.h; ++oy)
    for (int ox = 0; ox < to.w; ++ox)
      for (int oc = 0; oc < to.c; ++oc) {
        const int first_in = oc / group_out * group_in;
        float acc = p.bias.empty() ? 0.0f : p.bias[size_t(oc)];
        for (int ky = 0; ky < op.kernel_h; ++ky) {
          const int iy = oy * op.stride_h - op.pad_h + ky * op.dilation_h;
          if (iy < 0 || iy >= ti.h) continue;
          for (int kx = 0; kx < op.kernel_w; ++kx) {
            const int ix = ox * op.stride_w - op.pad_w + kx * op.dilation_w;
            if (ix < 0 || ix >= ti.w) continue;
            const float* x = &in[(size_t(iy) * ti.w + ix) * ti.c + size_t(first_in)];
            const float* w = &p.weights[((size_t(oc) * op.kernel_h + ky) * op.kernel_w + kx) * group_in];
            for (int ic = 0; ic < group_in; ++ic) acc += w[ic] * x[ic];
          }
        }
        out[(size_t(oy) * to.w + ox) * to.c + oc] = activate(acc, op.activation);
      }
}

void pool(const Graph& g, const Op& op, const std::vector<float>& in, std::vector<float>& out, bool average) {
  const Tensor& ti = g.tensors[size_t(op.input)];
  const Tensor& to = g.tensors[size_t(op.output)];
  for (int oy = 0; oy < to.h; ++oy)
    for (int ox = 0; ox < to.w; ++ox)
      for (int c = 0; c < to.c; ++c) {
        float acc = average ? 0.0f : -INFINITY;
        int count = 0;
        for (int ky = 0; ky < op.kernel_h; ++ky) {
          const int iy = oy * op.stride_h - op.pad_h + ky * op.dilation_h;
          if (iy < 0 || iy >= ti.h) continue;
          for (int kx = 0; kx < op.kernel_w; ++kx) {
            const int ix = ox * op.stride_w - op.pad_w + kx * op.dilation_w;
            if (ix < 0 || ix >= ti.w) continue;
            const float v = in[(size_t(iy) * ti.w + ix) * ti.c + c];
            acc = average ? acc + v : std::max(acc, v);
            ++count;
          }
        }
        if (average) acc = count ? acc / float(count) : 0.0f;
        out[(size_t(oy) * to.w + ox) * to.c + c] = activate(acc, op.activation);
      }
}

}  // namespace

void FloatModel::validate() const {
  graph.validate();
  if (params.size() != graph.ops.size())
    throw core::InputError("model '" + graph.name + "': " + std::to_string(params.size()) + " parameter sets for " +
                     std::to_string(graph.ops.size()) + " ops");
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const Op& op = graph.ops[i];
    const std::string who = "model '" + graph.name + "': op " + std::to_string(i) + " (" + to_string(op.kind) + ")";
    const int64_t nw = op_weight_count(graph, op);
    if (int64_t(params[i].weights.size()) != nw)
      throw core::InputError(who + ": has " + std::to_string(params[i].weights.size()) + " weights, its shapes need " +
                       std::to_string(nw));
    const int64_t nb = bias_count(graph, op);
    if (!params[i].bias.empty() && int64_t(params[i].bias.size()) != nb)
      throw core::InputError(who + ": has " + std::to_string(params[i].bias.size()) + " biases, its shapes need " +
                       std::to_string(nb));
    if (op.kind == OpKind::DepthwiseConv2D && graph.tensors[size_t(op.input)].c != graph.tensors[size_t(op.output)].c)
      throw core::InputError(who + ": a depthwise conv keeps the channel count");
  }
  if (!(input_std > 0.0f)) throw core::InputError("model '" + graph.name + "': input std must be positive");
}

FloatModel random_float_model(const Graph& g, uint64_t seed) {
  FloatModel m;
  m.graph = g;
  m.params.resize(g.ops.size());
  m.op_names.resize(g.ops.size());
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    const int64_t nw = op_weight_count(g, op);
    if (nw == 0) continue;
    const int64_t out_c = g.tensors[size_t(op.output)].c;
    const double fan_in = double(nw) / double(out_c);
    std::uniform_real_distribution<float> w(-float(std::sqrt(6.0 / fan_in)), float(std::sqrt(6.0 / fan_in)));
    std::uniform_real_distribution<float> b(-0.1f, 0.1f);
    m.params[i].weights.resize(size_t(nw));
    for (float& v : m.params[i].weights) v = w(rng);
    m.params[i].bias.resize(size_t(op_out_channels_with_params(g, op)));
    for (float& v : m.params[i].bias) v = b(rng);
  }
  return m;
}

std::vector<std::vector<float>> random_image_inputs(const Graph& g, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pixel(0, 255);
  std::vector<std::vector<float>> images;
  for (int i = 0; i < count; ++i) {
    std::vector<float> x(size_t(g.tensors[size_t(g.input)].elements()));
    for (float& v : x) v = (float(pixel(rng)) - 128.0f) / 128.0f;
    images.push_back(std::move(x));
  }
  return images;
}

std::vector<std::vector<int16_t>> random_audio_clips(int samples, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> sample(-8192, 8191);
  std::vector<std::vector<int16_t>> clips;
  for (int i = 0; i < count; ++i) {
    std::vector<int16_t> x(static_cast<size_t>(samples));
    for (int16_t& v : x) v = int16_t(sample(rng));
    clips.push_back(std::move(x));
  }
  return clips;
}

std::vector<std::vector<float>> run_float_all(const FloatModel& m, const std::vector<float>& input) {
  const Graph& g = m.graph;
  std::vector<std::vector<float>> t(g.tensors.size());
  if (int64_t(input.size()) != g.tensors[size_t(g.input)].elements())
    throw core::InputError("model '" + g.name + "': input has " + std::to_string(input.size()) + " values, expected " +
                     std::to_string(g.tensors[size_t(g.input)].elements()));
  t[size_t(g.input)] = input;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    const FloatOpParams& p = m.params[i];
    const std::vector<float>& in = t[size_t(op.input)];
    std::vector<float>& out = t[size_t(op.output)];
    out.assign(size_t(g.tensors[size_t(op.output)].elements()), 0.0f);
    switch (op.kind) {
      case OpKind::Conv2D:
      case OpKind::PointwiseConv2D: conv(g, op, p, in, out); break;
      case OpKind::DepthwiseConv2D: conv(g, op, p, in, out); break;
      case OpKind::Add: {
        const std::vector<float>& b = t[size_t(op.input2)];
        for (size_t j = 0; j < out.size(); ++j) out[j] = activate(in[j] + b[j], op.activation);
        break;
      }
      case OpKind::AvgPool2D: pool(g, op, in, out, true); break;
      case OpKind::MaxPool2D: pool(g, op, in, out, false); break;
      case OpKind::GlobalAvgPool: {
        const Tensor& ti = g.tensors[size_t(op.input)];
        const int64_t hw = int64_t(ti.h) * ti.w;
        for (int c = 0; c < ti.c; ++c) {
          float acc = 0.0f;
          for (int64_t j = 0; j < hw; ++j) acc += in[size_t(j * ti.c + c)];
          out[size_t(c)] = activate(acc / float(hw), op.activation);
        }
        break;
      }
      case OpKind::FullyConnected: {
        const size_t n_in = in.size();
        for (size_t o = 0; o < out.size(); ++o) {
          float acc = p.bias.empty() ? 0.0f : p.bias[o];
          const float* w = &p.weights[o * n_in];
          for (size_t j = 0; j < n_in; ++j) acc += w[j] * in[j];
          out[o] = activate(acc, op.activation);
        }
        break;
      }
      case OpKind::Mul: {
        const std::vector<float>& b = t[size_t(op.input2)];
        const size_t channels = size_t(g.tensors[size_t(op.input)].c);
        const bool per_channel = b.size() != out.size();
        for (size_t j = 0; j < out.size(); ++j) out[j] = activate(in[j] * b[per_channel ? j % channels : j], op.activation);
        break;
      }
      case OpKind::Unary:
        for (size_t j = 0; j < out.size(); ++j)
          out[j] = activate(float(unary_value(op.unary, op.alpha, op.beta, in[j])), op.activation);
        break;
      case OpKind::Softmax: {
        const Tensor& ti = g.tensors[size_t(op.input)];
        for (int64_t px = 0; px < int64_t(ti.h) * ti.w; ++px) {
          const float* x = &in[size_t(px * ti.c)];
          float* y = &out[size_t(px * ti.c)];
          const float mx = *std::max_element(x, x + ti.c);
          float sum = 0.0f;
          for (int c = 0; c < ti.c; ++c) sum += (y[c] = std::exp(x[c] - mx));
          for (int c = 0; c < ti.c; ++c) y[c] /= sum;
        }
        break;
      }
      case OpKind::PRelu: {
        const size_t channels = size_t(g.tensors[size_t(op.input)].c);
        for (size_t j = 0; j < out.size(); ++j)
          out[j] = activate(in[j] < 0.0f ? in[j] * p.weights[j % channels] : in[j], op.activation);
        break;
      }
      case OpKind::ChannelMap: {
        const Tensor& ti = g.tensors[size_t(op.input)];
        const int in2_c = op.input2 >= 0 ? g.tensors[size_t(op.input2)].c : 0;
        const int out_c = int(op.channel_map.size());
        for (int64_t px = 0; px < int64_t(ti.h) * ti.w; ++px)
          for (int j = 0; j < out_c; ++j) {
            const int c = op.channel_map[size_t(j)];
            const float v = c < ti.c ? in[size_t(px * ti.c + c)] : t[size_t(op.input2)][size_t(px * in2_c + c - ti.c)];
            out[size_t(px * out_c + j)] = activate(v, op.activation);
          }
        break;
      }
      case OpKind::Resize: {
        const Tensor& ti = g.tensors[size_t(op.input)];
        size_t k = 0;
        for (const int y : op.resize_rows)
          for (const int x : op.resize_cols)
            for (int ch = 0; ch < ti.c; ++ch) out[k++] = in[(size_t(y) * size_t(ti.w) + size_t(x)) * size_t(ti.c) + size_t(ch)];
        break;
      }
    }
  }
  return t;
}

std::vector<float> run_float(const FloatModel& m, const std::vector<float>& input) {
  auto all = run_float_all(m, input);
  return std::move(all[size_t(m.graph.output)]);
}

}  // namespace tinynas::engine
