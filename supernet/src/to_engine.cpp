#include "tinynas/supernet/to_engine.h"

#include "tinynas/core/errors.h"

namespace tinynas::supernet {

namespace {

// Conv weight [out, in/groups, k, k], a bias added before the BN (undefined: none) and the BN as folded
// engine parameters: w * gamma / sigma in the engine layout (OHWI, or [c][k][k] for depthwise), bias
// beta + (b - mean) * gamma / sigma.
engine::FloatOpParams fold(const torch::Tensor& weight, const torch::Tensor& pre_bn_bias, const torch::nn::BatchNorm2d& bn,
                           bool depthwise) {
  torch::NoGradGuard no_grad;
  const auto& o = bn->options;
  const torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + o.eps());
  torch::Tensor w = weight * scale.view({-1, 1, 1, 1});
  // OHWI for standard convs; depthwise [c, 1, k, k] is already [c][k][k].
  w = depthwise ? w.contiguous() : w.permute({0, 2, 3, 1}).contiguous();
  torch::Tensor b = bn->bias - bn->running_mean * scale;
  if (pre_bn_bias.defined()) b = b + pre_bn_bias * scale;
  w = w.to(torch::kFloat32).contiguous();
  b = b.to(torch::kFloat32).contiguous();
  engine::FloatOpParams p;
  p.weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  p.bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  return p;
}

engine::FloatOpParams fold(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn, bool depthwise) {
  return fold(conv->weight, conv->options.bias() ? conv->bias : torch::Tensor(), bn, depthwise);
}

// The stem with the input normalization folded in (stem_conv): each input channel's weights times its
// factor, and the offsets' response, the same at every output pixel, as a bias before the BN.
engine::FloatOpParams fold_stem(StaticNet& net) {
  if (net->normalization.is_fixed()) return fold(net->stem, net->stem_bn, false);
  torch::NoGradGuard no_grad;
  const torch::Tensor& w = net->stem->weight;
  const int64_t c = w.size(1);
  const torch::Tensor scaled = w * normalization_scale(net->normalization, c).view({1, c, 1, 1});
  const torch::Tensor offset_response = (w * normalization_shift(net->normalization, c).view({1, c, 1, 1})).sum({1, 2, 3});
  return fold(scaled, offset_response, net->stem_bn, false);
}

}  // namespace

engine::FloatModel to_float_model(StaticNet& net) {
  const search_space::NetworkDesc& d = net->desc;
  engine::FloatModel m;
  m.graph = engine::build_graph(d);
  m.params.resize(m.graph.ops.size());
  m.op_names.resize(m.graph.ops.size());
  m.input_mean = 128.0f;
  m.input_std = 128.0f;
  // The graph lists the ops in the order StaticNet::forward runs them (engine::build_graph_into).
  size_t i = 0;
  auto next = [&](engine::OpKind kind, const std::string& name) -> size_t {
    if (i >= m.graph.ops.size() || m.graph.ops[i].kind != kind)
      throw core::RuntimeFailure("network '" + d.name + "': the engine graph does not follow the LibTorch modules at " + name);
    m.op_names[i] = name;
    return i++;
  };
  m.params[next(engine::OpKind::Conv2D, "stem")] = fold_stem(net);
  for (size_t b = 0; b < net->blocks.size(); ++b) {
    auto& block = net->blocks[b];
    const std::string prefix = "block" + std::to_string(b) + ".";
    if (block->desc.kind == search_space::BlockKind::Basic) {
      m.params[next(engine::OpKind::Conv2D, prefix + "conv1")] = fold(block->conv1, block->conv1_bn, false);
      if (block->shortcut)
        m.params[next(engine::OpKind::Conv2D, prefix + "shortcut")] = fold(block->shortcut, block->shortcut_bn, false);
      m.params[next(engine::OpKind::Conv2D, prefix + "conv2")] = fold(block->conv2, block->conv2_bn, false);
      next(engine::OpKind::Add, prefix + "add");
      continue;
    }
    if (block->desc.has_expand)
      m.params[next(engine::OpKind::PointwiseConv2D, prefix + "expand")] = fold(block->expand, block->expand_bn, false);
    m.params[next(engine::OpKind::DepthwiseConv2D, prefix + "depthwise")] =
        fold(block->depthwise, block->depthwise_bn, true);
    m.params[next(engine::OpKind::PointwiseConv2D, prefix + "project")] = fold(block->project, block->project_bn, false);
    if (block->desc.residual) next(engine::OpKind::Add, prefix + "add");
  }
  if (net->feature_mix)
    m.params[next(engine::OpKind::PointwiseConv2D, "feature_mix")] = fold(net->feature_mix, net->feature_mix_bn, false);
  next(engine::OpKind::GlobalAvgPool, "pool");
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor w = net->classifier->weight.to(torch::kFloat32).contiguous();
    const torch::Tensor b = net->classifier->bias.to(torch::kFloat32).contiguous();
    engine::FloatOpParams& p = m.params[next(engine::OpKind::FullyConnected, "classifier")];
    p.weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    p.bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  }
  if (i != m.graph.ops.size()) throw core::RuntimeFailure("network '" + d.name + "': the engine graph has ops no module fills");
  m.validate();
  return m;
}

}  // namespace tinynas::supernet
