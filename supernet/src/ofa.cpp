#include "tinynas/supernet/ofa.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "tinynas/core/errors.h"

namespace tinynas::supernet {

namespace {

torch::Tensor conv_weight(int64_t out, int64_t in, int64_t k) {
  auto t = torch::empty({out, in, k, k});
  torch::nn::init::kaiming_normal_(t, 0.0, torch::kFanOut, torch::kReLU);
  return t;
}

// A convolution weight in the activations' channels-last layout, so that oneDNN does not re-order it on
// every call (the autograd copy back to the parameter's layout is cheap: weights are small).
torch::Tensor channels_last(const torch::Tensor& w) { return w.contiguous(torch::MemoryFormat::ChannelsLast); }

// The first n entries along dim, without a copy when n is everything.
torch::Tensor first(const torch::Tensor& t, int64_t dim, int64_t n) {
  return n == t.size(dim) ? t : t.narrow(dim, 0, n);
}

void copy_bn(torch::nn::BatchNorm2d& dst, const DynamicBatchNormImpl& src, int64_t c) {
  torch::NoGradGuard no_grad;
  dst->weight.copy_(src.weight.narrow(0, 0, c));
  dst->bias.copy_(src.bias.narrow(0, 0, c));
  dst->running_mean.copy_(src.running_mean.narrow(0, 0, c));
  dst->running_var.copy_(src.running_var.narrow(0, 0, c));
}

torch::nn::BatchNorm2d make_bn(torch::nn::Module& m, const std::string& name, int64_t c) {
  return m.register_module(name, torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c).eps(1e-5).momentum(0.1)));
}

torch::nn::Conv2d make_conv(torch::nn::Module& m, const std::string& name, int64_t in, int64_t out, int64_t k,
                            int64_t stride, int64_t groups) {
  return m.register_module(
      name, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).groups(groups).bias(false)));
}

}  // namespace

torch::Tensor normalization_scale(const data::Normalization& n, int64_t channels) {
  auto t = torch::ones({channels});
  for (int64_t c = 0; c < channels && !n.is_fixed(); ++c) t[c] = 128.0 / n.std.at(size_t(c));
  return t;
}

torch::Tensor normalization_shift(const data::Normalization& n, int64_t channels) {
  auto t = torch::zeros({channels});
  for (int64_t c = 0; c < channels && !n.is_fixed(); ++c) t[c] = (128.0 - n.mean.at(size_t(c))) / n.std.at(size_t(c));
  return t;
}

torch::Tensor stem_conv(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride,
                        const data::Normalization& normalization) {
  const torch::Tensor w = channels_last(weight);
  const int64_t kh = weight.size(2), kw = weight.size(3);
  if (normalization.is_fixed() && kh % 2 == 1 && kw % 2 == 1) return torch::conv2d(x, w, {}, stride, {kh / 2, kw / 2});
  // Padding {before, after} of one axis: the engine's before, and as much after as the last window needs.
  auto axis = [&](int64_t size, int64_t k) -> std::pair<int64_t, int64_t> {
    const int64_t before = search_space::same_pad_before(int(size), int(k), int(stride));
    const int64_t needed = (search_space::conv_out_size(int(size), int(stride)) - 1) * stride + k - size;
    return {before, std::max<int64_t>(needed - before, 0)};
  };
  const auto [top, bottom] = axis(x.size(2), kh);
  const auto [left, right] = axis(x.size(3), kw);
  torch::Tensor h = torch::constant_pad_nd(x, {left, right, top, bottom}, 0.0);
  if (!normalization.is_fixed()) {
    const int64_t c = x.size(1);
    h = h * normalization_scale(normalization, c).view({1, c, 1, 1}) +
        normalization_shift(normalization, c).view({1, c, 1, 1});
  }
  const int64_t no_padding = 0;  // done above
  return torch::conv2d(h.contiguous(torch::MemoryFormat::ChannelsLast), w, {}, stride, no_padding);
}

torch::Tensor depthwise_conv(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride) {
  const int64_t c = weight.size(0), k = weight.size(2), pad = k / 2;
  // Output pixel o, tap t reads input o * stride + (t - pad): taps farther than `reach` from the centre
  // read the padding for every o of either axis.
  int64_t reach = 0;
  for (int64_t n : {x.size(2), x.size(3)}) {
    const int64_t out = (n - 1) / stride + 1;
    reach = std::max({reach, n - 1, (out - 1) * stride});
  }
  if (reach >= pad) return torch::conv2d(x, channels_last(weight), {}, stride, pad, 1, c);
  const torch::Tensor cropped = weight.narrow(2, pad - reach, 2 * reach + 1).narrow(3, pad - reach, 2 * reach + 1);
  if (reach == 0) return x * cropped.reshape({1, c, 1, 1});  // a 1x1 map: stride changes nothing
  return torch::conv2d(x, channels_last(cropped), {}, stride, reach, 1, c);
}

// ---- DynamicBatchNorm ------------------------------------------------------------------------------

DynamicBatchNormImpl::DynamicBatchNormImpl(int64_t max_channels_, double momentum_, double eps_)
    : max_channels(max_channels_), momentum(momentum_), eps(eps_) {
  weight = register_parameter("weight", torch::ones({max_channels}));
  bias = register_parameter("bias", torch::zeros({max_channels}));
  running_mean = register_buffer("running_mean", torch::zeros({max_channels}));
  running_var = register_buffer("running_var", torch::ones({max_channels}));
}

torch::Tensor DynamicBatchNormImpl::forward(const torch::Tensor& x) {
  const int64_t c = x.size(1);
  if (calibrating_) {
    if (seen_channels_ == 0) {
      seen_channels_ = c;
      sum_mean_ = torch::zeros({c}, torch::kFloat64);
      sum_m2_ = torch::zeros({c}, torch::kFloat64);
    } else if (seen_channels_ != c) {
      throw core::RuntimeFailure("BN recalibration saw a different channel count within one subnet");
    }
    // Chan et al.'s pairwise combination of (count, mean, M2): exact pooled statistics in float64.
    const auto xd = x.detach().to(torch::kFloat64);
    const double n = double(x.size(0) * x.size(2) * x.size(3));
    const auto mean_b = xd.mean({0, 2, 3});
    const auto m2_b = (xd - mean_b.view({1, c, 1, 1})).pow(2).sum({0, 2, 3});
    const double total = count_ + n;
    const auto delta = mean_b - sum_mean_;
    sum_m2_ = sum_m2_ + m2_b + delta.pow(2) * (count_ * n / total);
    sum_mean_ = sum_mean_ + delta * (n / total);
    count_ = total;
    // Normalize with the batch's statistics, as in training, so that later layers see train-mode inputs.
    return torch::batch_norm(x, first(weight, 0, c), first(bias, 0, c), {}, {}, true, 0.0, eps, false);
  }
  if (c == max_channels)
    return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps, false);
  if (c > max_channels) throw core::RuntimeFailure("DynamicBatchNorm: input has more channels than the layer");
  return torch::batch_norm(x, weight.narrow(0, 0, c), bias.narrow(0, 0, c), running_mean.narrow(0, 0, c),
                           running_var.narrow(0, 0, c), is_training(), momentum, eps, false);
}

void DynamicBatchNormImpl::start_calibration() {
  calibrating_ = true;
  seen_channels_ = 0;
  count_ = 0;
}

void DynamicBatchNormImpl::abort_calibration() {
  calibrating_ = false;
  seen_channels_ = 0;
}

void DynamicBatchNormImpl::finish_calibration() {
  calibrating_ = false;
  if (seen_channels_ == 0) return;  // not on the active path
  torch::NoGradGuard no_grad;
  const double unbiased = count_ > 1 ? count_ / (count_ - 1) : 1.0;
  running_mean.narrow(0, 0, seen_channels_).copy_(sum_mean_.to(torch::kFloat32));
  running_var.narrow(0, 0, seen_channels_).copy_((sum_m2_ / count_ * unbiased).to(torch::kFloat32));
  seen_channels_ = 0;
}

// ---- ElasticBlock ----------------------------------------------------------------------------------

ElasticBlockImpl::ElasticBlockImpl(int64_t in_ch_, int64_t out_ch_, int64_t stride_, std::vector<int> kernels,
                                   std::vector<int> expands, bool allow_residual)
    : in_ch(in_ch_), out_ch(out_ch_), stride(stride_), kernel_choices(std::move(kernels)),
      expand_choices(std::move(expands)) {
  std::sort(kernel_choices.begin(), kernel_choices.end(), std::greater<int>());
  std::sort(expand_choices.begin(), expand_choices.end());
  has_expand = !(expand_choices.size() == 1 && expand_choices[0] == 1);
  residual = allow_residual && stride == 1 && in_ch == out_ch;
  max_mid = mid_channels(expand_choices.back());
  const int64_t kmax = kernel_choices.front();
  if (has_expand) {
    expand_weight = register_parameter("expand_weight", conv_weight(max_mid, in_ch, 1));
    expand_bn = register_module("expand_bn", DynamicBatchNorm(max_mid));
  }
  depthwise_weight = register_parameter("depthwise_weight", conv_weight(max_mid, 1, kmax));
  for (size_t i = 1; i < kernel_choices.size(); ++i) {
    const int64_t k = kernel_choices[i];
    kernel_transforms.push_back(register_parameter(
        "transform_" + std::to_string(kernel_choices[i - 1]) + "to" + std::to_string(k), torch::eye(k * k)));
  }
  depthwise_bn = register_module("depthwise_bn", DynamicBatchNorm(max_mid));
  project_weight = register_parameter("project_weight", conv_weight(out_ch, max_mid, 1));
  project_bn = register_module("project_bn", DynamicBatchNorm(out_ch));
  active_kernel = int(kmax);
  active_expand = expand_choices.back();
}

int64_t ElasticBlockImpl::mid_channels(int expand) const {
  if (!has_expand) return in_ch;
  return search_space::make_divisible(std::round(double(in_ch) * expand), 8);
}

void ElasticBlockImpl::set_active(int kernel, int expand) {
  if (std::find(kernel_choices.begin(), kernel_choices.end(), kernel) == kernel_choices.end())
    throw core::InputError("kernel size " + std::to_string(kernel) + " is not one of the block's choices");
  if (has_expand && std::find(expand_choices.begin(), expand_choices.end(), expand) == expand_choices.end())
    throw core::InputError("expand ratio " + std::to_string(expand) + " is not one of the block's choices");
  active_kernel = kernel;
  active_expand = has_expand ? expand : 1;
}

torch::Tensor ElasticBlockImpl::depthwise_filter(int64_t mid, int kernel) const {
  torch::Tensor f = first(depthwise_weight, 0, mid);
  for (size_t i = 1; i < kernel_choices.size() && kernel_choices[i - 1] > kernel; ++i) {
    const int64_t k = kernel_choices[i];
    const int64_t start = (kernel_choices[i - 1] - k) / 2;
    auto crop = f.narrow(2, start, k).narrow(3, start, k).reshape({mid, k * k});
    // Row-vector times matrix: each channel's flattened crop goes through the shared transform.
    f = torch::matmul(crop, kernel_transforms[i - 1]).view({mid, 1, k, k});
  }
  return f;
}

torch::Tensor ElasticBlockImpl::forward(const torch::Tensor& x) {
  const int64_t mid = mid_channels(active_expand);
  torch::Tensor h = x;
  if (has_expand) h = clipped_relu6(expand_bn(torch::conv2d(x, channels_last(first(expand_weight, 0, mid)))));
  h = depthwise_conv(h, depthwise_filter(mid, active_kernel), stride);
  h = clipped_relu6(depthwise_bn(h));
  h = project_bn(torch::conv2d(h, channels_last(first(project_weight, 1, mid))));
  return residual ? h + x : h;
}

void ElasticBlockImpl::reorder_middle_channels() {
  if (!has_expand) return;  // the middle channels are the block's input: fixed by the previous layer
  torch::NoGradGuard no_grad;
  const auto order = project_weight.abs().sum({0, 2, 3}).argsort(0, /*descending=*/true);
  auto permute = [&](torch::Tensor& t, int64_t dim) { t.copy_(t.index_select(dim, order)); };
  permute(project_weight, 1);
  permute(depthwise_weight, 0);
  for (auto* bn : {depthwise_bn.get(), expand_bn.get()}) {
    permute(bn->weight, 0);
    permute(bn->bias, 0);
    permute(bn->running_mean, 0);
    permute(bn->running_var, 0);
  }
  permute(expand_weight, 0);
}

// ---- Static network --------------------------------------------------------------------------------

StaticBlockImpl::StaticBlockImpl(const search_space::BlockDesc& d, search_space::Activation act) : desc(d), activation(act) {
  if (d.kind == search_space::BlockKind::Basic) {
    conv1 = make_conv(*this, "conv1", d.in_ch, d.mid_ch, d.kernel, d.stride, 1);
    conv1_bn = make_bn(*this, "conv1_bn", d.mid_ch);
    conv2 = make_conv(*this, "conv2", d.mid_ch, d.out_ch, d.kernel, 1, 1);
    conv2_bn = make_bn(*this, "conv2_bn", d.out_ch);
    if (d.has_shortcut_conv()) {
      shortcut = make_conv(*this, "shortcut", d.in_ch, d.out_ch, 1, d.stride, 1);
      shortcut_bn = make_bn(*this, "shortcut_bn", d.out_ch);
    }
    return;
  }
  if (d.has_expand) {
    expand = make_conv(*this, "expand", d.in_ch, d.mid_ch, 1, 1, 1);
    expand_bn = make_bn(*this, "expand_bn", d.mid_ch);
  }
  depthwise = make_conv(*this, "depthwise", d.mid_ch, d.mid_ch, d.kernel, d.stride, d.mid_ch);
  depthwise_bn = make_bn(*this, "depthwise_bn", d.mid_ch);
  project = make_conv(*this, "project", d.mid_ch, d.out_ch, 1, 1, 1);
  project_bn = make_bn(*this, "project_bn", d.out_ch);
}

torch::Tensor StaticBlockImpl::forward(const torch::Tensor& x) {
  if (desc.kind == search_space::BlockKind::Basic) {
    auto conv = [](const torch::nn::Conv2d& c, const torch::Tensor& in) {
      const int64_t k = c->weight.size(2);
      return torch::conv2d(in, channels_last(c->weight), {}, c->options.stride()->at(0), k / 2);
    };
    const torch::Tensor h = activate(conv1_bn(conv(conv1, x)), activation);
    return activate(conv2_bn(conv(conv2, h)) + (shortcut ? shortcut_bn(conv(shortcut, x)) : x), activation);
  }
  torch::Tensor h = x;
  if (desc.has_expand) h = activate(expand_bn(expand(h)), activation);
  h = activate(depthwise_bn(depthwise_conv(h, depthwise->weight, desc.stride)), activation);
  h = project_bn(project(h));
  if (desc.kind == search_space::BlockKind::Separable) return activate(h, activation);
  return desc.residual ? h + x : h;
}

StaticNetImpl::StaticNetImpl(const search_space::NetworkDesc& d) : desc(d) {
  d.validate();
  // stem_conv pads it; the module only holds the weight.
  stem = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(d.in_channels, d.stem_out,
                                                                             {d.stem_kernel, d.stem_kernel_width()})
                                                        .stride(d.stem_stride)
                                                        .bias(false)));
  stem_bn = make_bn(*this, "stem_bn", d.stem_out);
  for (size_t i = 0; i < d.blocks.size(); ++i)
    blocks.push_back(register_module("block" + std::to_string(i), StaticBlock(d.blocks[i], d.activation)));
  if (d.feature_mix_out > 0) {
    feature_mix = make_conv(*this, "feature_mix", d.blocks.back().out_ch, d.feature_mix_out, 1, 1, 1);
    feature_mix_bn = make_bn(*this, "feature_mix_bn", d.feature_mix_out);
  }
  classifier = register_module("classifier", torch::nn::Linear(d.head_channels(), d.num_classes));
  for (auto& m : modules(/*include_self=*/false))
    if (auto* conv = m->as<torch::nn::Conv2d>())
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
}

torch::Tensor StaticNetImpl::forward(const torch::Tensor& x) {
  torch::Tensor h =
      activate(stem_bn(stem_conv(x, stem->weight, desc.stem_stride, normalization)), desc.activation);
  for (auto& b : blocks) h = b(h);
  if (feature_mix) h = activate(feature_mix_bn(feature_mix(h)), desc.activation);
  return classifier(h.mean({2, 3}));
}

// ---- The supernet ----------------------------------------------------------------------------------

OFASupernetImpl::OFASupernetImpl(const search_space::SearchSpace& space_, double w_) : space(space_), w(w_) {
  space.validate();
  if (std::find(space.width_choices.begin(), space.width_choices.end(), w) == space.width_choices.end())
    throw core::InputError("width multiplier " + std::to_string(w) + " is not one of the space's widths");
  const int64_t stem_out = space.width(w, 0);
  stem_weight = register_parameter("stem_weight", conv_weight(stem_out, space.in_channels, 3));
  stem_bn = register_module("stem_bn", DynamicBatchNorm(stem_out));
  int64_t ch = space.width(w, 1);
  first_block = register_module("first_block", ElasticBlock(stem_out, ch, 1, std::vector<int>{3}, std::vector<int>{1}, false));
  const int md = space.max_depth();
  for (int s = 0; s < space.num_stages(); ++s) {
    const int64_t out = space.width(w, s + 2);
    std::vector<ElasticBlock> stage;
    for (int j = 0; j < md; ++j) {
      const int64_t stride = j == 0 ? space.stage_strides[size_t(s)] : 1;
      stage.push_back(register_module("stage" + std::to_string(s) + "_block" + std::to_string(j),
                                      ElasticBlock(ch, out, stride, space.kernel_choices, space.expand_choices, true)));
      ch = out;
    }
    stages.push_back(std::move(stage));
  }
  const int64_t last_out = space.width(w, space.num_stages() + 2);
  last_block = register_module("last_block", ElasticBlock(ch, last_out, space.stage_strides.back(), space.kernel_choices,
                                                          space.expand_choices, true));
  int64_t head = last_out;
  if (space.feature_mix_channels > 0) {
    head = search_space::make_divisible(space.feature_mix_channels * w, 8);
    feature_mix_weight = register_parameter("feature_mix_weight", conv_weight(head, last_out, 1));
    feature_mix_bn = register_module("feature_mix_bn", DynamicBatchNorm(head));
  }
  classifier = register_module("classifier", torch::nn::Linear(head, space.num_classes));
  set_active(space.largest(w, space.resolution_choices.back()));
}

void OFASupernetImpl::set_active(const search_space::ArchSpec& arch) {
  space.validate(arch);
  if (arch.w != w)
    throw core::InputError("arch has width multiplier " + std::to_string(arch.w) + " but the supernet was built for " +
                     std::to_string(w));
  const int md = space.max_depth();
  for (int s = 0; s < space.num_stages(); ++s)
    for (int j = 0; j < md; ++j) {
      const size_t slot = size_t(s * md + j);
      stages[size_t(s)][size_t(j)]->set_active(arch.ks[slot], arch.e[slot]);
    }
  const size_t last = size_t(space.num_stages() * md);
  last_block->set_active(arch.ks[last], arch.e[last]);
  active_ = arch;
}

torch::Tensor OFASupernetImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = clipped_relu6(stem_bn(stem_conv(x, stem_weight, 2, normalization)));
  h = first_block(h);
  for (size_t s = 0; s < stages.size(); ++s)
    for (int j = 0; j < active_.d[s]; ++j) h = stages[s][size_t(j)](h);
  h = last_block(h);
  if (feature_mix_weight.defined()) h = clipped_relu6(feature_mix_bn(torch::conv2d(h, channels_last(feature_mix_weight))));
  return classifier(h.mean({2, 3}));
}

void OFASupernetImpl::reorder_middle_channels() {
  for (auto& stage : stages)
    for (auto& b : stage) b->reorder_middle_channels();
  last_block->reorder_middle_channels();
}

void OFASupernetImpl::start_calibration() {
  for (auto& m : modules(false))
    if (auto* bn = m->as<DynamicBatchNormImpl>()) bn->start_calibration();
}

void OFASupernetImpl::finish_calibration() {
  for (auto& m : modules(false))
    if (auto* bn = m->as<DynamicBatchNormImpl>()) bn->finish_calibration();
}

void OFASupernetImpl::abort_calibration() {
  for (auto& m : modules(false))
    if (auto* bn = m->as<DynamicBatchNormImpl>()) bn->abort_calibration();
}

StaticNet OFASupernetImpl::extract(const search_space::ArchSpec& arch) {
  // The active subnet is restored however this returns.
  struct RestoreActive {
    OFASupernetImpl& net;
    search_space::ArchSpec saved;
    ~RestoreActive() { net.set_active(saved); }
  } restore{*this, active_};
  set_active(arch);
  const search_space::NetworkDesc desc = space.describe(arch);
  StaticNet net(desc);
  net->normalization = normalization;
  torch::NoGradGuard no_grad;
  net->stem->weight.copy_(stem_weight);
  copy_bn(net->stem_bn, *stem_bn, desc.stem_out);
  std::vector<ElasticBlock> active_blocks{first_block};
  for (size_t s = 0; s < stages.size(); ++s)
    for (int j = 0; j < arch.d[s]; ++j) active_blocks.push_back(stages[s][size_t(j)]);
  active_blocks.push_back(last_block);
  if (active_blocks.size() != net->blocks.size()) throw core::RuntimeFailure("extract: block count mismatch");
  for (size_t i = 0; i < active_blocks.size(); ++i) {
    auto& src = *active_blocks[i];
    auto& dst = *net->blocks[i];
    const int64_t mid = src.mid_channels(src.active_expand);
    if (mid != dst.desc.mid_ch || src.active_kernel != dst.desc.kernel || src.residual != dst.desc.residual)
      throw core::RuntimeFailure("extract: block " + std::to_string(i) + " does not match its description");
    if (src.has_expand) {
      dst.expand->weight.copy_(src.expand_weight.narrow(0, 0, mid));
      copy_bn(dst.expand_bn, *src.expand_bn, mid);
    }
    dst.depthwise->weight.copy_(src.depthwise_filter(mid, src.active_kernel));
    copy_bn(dst.depthwise_bn, *src.depthwise_bn, mid);
    dst.project->weight.copy_(src.project_weight.narrow(1, 0, mid));
    copy_bn(dst.project_bn, *src.project_bn, src.out_ch);
  }
  if (feature_mix_weight.defined()) {
    net->feature_mix->weight.copy_(feature_mix_weight);
    copy_bn(net->feature_mix_bn, *feature_mix_bn, desc.feature_mix_out);
  }
  net->classifier->weight.copy_(classifier->weight);
  net->classifier->bias.copy_(classifier->bias);
  return net;
}

}  // namespace tinynas::supernet
