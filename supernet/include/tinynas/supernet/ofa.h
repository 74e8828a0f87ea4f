#pragma once
// The once-for-all supernet: one set of weights holding every subnet of a search space at a fixed width
// multiplier. Elastic kernel (centre crops of the largest depthwise kernel through learned kernel
// transformation matrices), elastic expand ratio (the first mid channels), elastic depth (the first d
// blocks of a stage) and elastic resolution (any input size). A subnet is chosen with set_active() and
// can be extracted to a StaticNet, a plain network with its own weights.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "tinynas/search_space/network.h"
#include "tinynas/search_space/space.h"
#include "tinynas/supernet/normalization.h"

namespace tinynas::supernet {

// ReLU6 as hardtanh: the same function, and about 40 % faster to train in LibTorch than clamp.
inline torch::Tensor clipped_relu6(const torch::Tensor& x) { return torch::hardtanh(x, 0.0, 6.0); }
// A network's activation (NetworkDesc::activation).
inline torch::Tensor activate(const torch::Tensor& x, search_space::Activation act) {
  return act == search_space::Activation::Relu ? torch::relu(x) : clipped_relu6(x);
}

// The stem convolution (no bias) of (pixel - 128) / 128 inputs. A per-channel normalization is applied
// after the zero padding: x -> x * 128 / std[c] + (128 - mean[c]) / std[c], i.e. (pixel - mean[c]) /
// std[c] inside the image and the same map of pixel 128 on the border, so that the whole stem is one
// convolution of the raw input with folded weights and bias (stem_weight_scale, stem_bias_shift).
// The padding is SAME as the engine pads (search_space::same_pad_before): kernel / 2 on each side for
// odd kernels, TF's split for even ones (DS-CNN's 10x4).
torch::Tensor stem_conv(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride,
                        const data::Normalization& normalization);
// A depthwise convolution with 'same' padding (k / 2) of weight [c, 1, k, k]. When the kernel overhangs
// a small map, its outer taps only ever meet the zero padding: the kernel is cropped to the centred
// taps that can reach a pixel (on a 1x1 map the convolution is a per-channel scale). The result is the
// same function, with far less work where oneDNN's depthwise kernels are slowest (7x7 on 2x2 or 1x1
// maps took most of a training step).
torch::Tensor depthwise_conv(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride);
// The per-input-channel factors and offsets above, as float tensors of `channels` entries.
torch::Tensor normalization_scale(const data::Normalization& n, int64_t channels);
torch::Tensor normalization_shift(const data::Normalization& n, int64_t channels);

// BatchNorm over the first x.size(1) channels of its parameters and running statistics. In
// calibration mode it normalizes with batch statistics and accumulates exact statistics of every
// input it sees (pooled over batches), which finish_calibration() writes into the running buffers.
class DynamicBatchNormImpl : public torch::nn::Module {
 public:
  explicit DynamicBatchNormImpl(int64_t max_channels, double momentum = 0.1, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x);

  void start_calibration();
  void finish_calibration();  // running_mean/var of the channels seen <- pooled mean/unbiased var
  void abort_calibration();   // leaves the running statistics as they were
  bool calibrating() const { return calibrating_; }

  int64_t max_channels;
  double momentum, eps;
  torch::Tensor weight, bias, running_mean, running_var;

 private:
  bool calibrating_ = false;
  int64_t seen_channels_ = 0;
  double count_ = 0;
  torch::Tensor sum_mean_, sum_m2_;  // float64 per channel: Chan's parallel mean / M2
};
TORCH_MODULE(DynamicBatchNorm);

// A mobile inverted bottleneck whose kernel size and expand ratio are chosen at run time.
class ElasticBlockImpl : public torch::nn::Module {
 public:
  // kernel_choices: the depthwise kernel sizes (the largest one owns the weights); expand_choices: the
  // ratios (the largest sets the stored mid channels). expand_choices == {1}: no expand conv.
  ElasticBlockImpl(int64_t in_ch, int64_t out_ch, int64_t stride, std::vector<int> kernel_choices,
                   std::vector<int> expand_choices, bool allow_residual);
  torch::Tensor forward(const torch::Tensor& x);

  void set_active(int kernel, int expand);
  int64_t mid_channels(int expand) const;  // make_divisible(round(in * e), 8); in for e = 1
  // The depthwise filter of the active kernel size for the first `mid` channels: a chain of centre
  // crops, each passed through its kernel transformation matrix (7 -> 5 -> 3).
  torch::Tensor depthwise_filter(int64_t mid, int kernel) const;
  // Re-orders the middle channels by importance (L1 norm of the projection weights, largest first),
  // consistently in every tensor that touches them; the block's function is unchanged.
  void reorder_middle_channels();

  int64_t in_ch, out_ch, stride, max_mid;
  bool has_expand, residual;
  std::vector<int> kernel_choices;  // descending
  std::vector<int> expand_choices;
  int active_kernel, active_expand;

  torch::Tensor expand_weight;  // [max_mid, in, 1, 1] (undefined without expand)
  DynamicBatchNorm expand_bn{nullptr};
  torch::Tensor depthwise_weight;  // [max_mid, 1, kmax, kmax]
  // kernel_transforms[i] maps kernel_choices[i + 1] crops of the previous filter: [k^2, k^2], identity at init
  std::vector<torch::Tensor> kernel_transforms;
  DynamicBatchNorm depthwise_bn{nullptr};
  torch::Tensor project_weight;  // [out, max_mid, 1, 1]
  DynamicBatchNorm project_bn{nullptr};
};
TORCH_MODULE(ElasticBlock);

// The static counterpart of one block: plain weights of one kernel size and mid width; or a ResNet
// basic block (conv1, conv2, the optional shortcut conv).
struct StaticBlockImpl : torch::nn::Module {
  StaticBlockImpl(const search_space::BlockDesc& desc, search_space::Activation activation);
  torch::Tensor forward(const torch::Tensor& x);
  search_space::BlockDesc desc;
  search_space::Activation activation;
  torch::nn::Conv2d expand{nullptr};
  torch::nn::BatchNorm2d expand_bn{nullptr};
  torch::nn::Conv2d depthwise{nullptr};
  torch::nn::BatchNorm2d depthwise_bn{nullptr};
  torch::nn::Conv2d project{nullptr};
  torch::nn::BatchNorm2d project_bn{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  torch::nn::BatchNorm2d conv1_bn{nullptr}, conv2_bn{nullptr}, shortcut_bn{nullptr};
};
TORCH_MODULE(StaticBlock);

// A plain network built from a NetworkDesc: stem conv + BN + activation, the blocks, an optional
// feature-mix 1x1 conv + BN + activation, global average pooling, a linear classifier. Extracted subnets, fine-tuning
// and the quantizer's float reference all use it.
class StaticNetImpl : public torch::nn::Module {
 public:
  explicit StaticNetImpl(const search_space::NetworkDesc& desc);
  torch::Tensor forward(const torch::Tensor& x);
  search_space::NetworkDesc desc;
  data::Normalization normalization;  // of the pixels (normalization.h); applied by the stem
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::vector<StaticBlock> blocks;
  torch::nn::Conv2d feature_mix{nullptr};
  torch::nn::BatchNorm2d feature_mix_bn{nullptr};
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(StaticNet);

class OFASupernetImpl : public torch::nn::Module {
 public:
  // The supernet of `space` at width multiplier w (which must be one of the space's widths).
  OFASupernetImpl(const search_space::SearchSpace& space, double w);
  torch::Tensor forward(const torch::Tensor& x);

  // Activates a subnet; the arch's w must equal the supernet's (r is the caller's input size).
  // Throws InputError for an arch outside the space.
  void set_active(const search_space::ArchSpec& arch);
  const search_space::ArchSpec& active() const { return active_; }
  search_space::ArchSpec largest(int r) const { return space.largest(w, r); }
  search_space::ArchSpec smallest(int r) const { return space.smallest(w, r); }

  void reorder_middle_channels();
  // BN recalibration hooks over every DynamicBatchNorm.
  void start_calibration();
  void finish_calibration();
  void abort_calibration();

  // A StaticNet for `arch` with the supernet's active weights copied in (the running BN statistics
  // included): in eval mode its output equals the supernet's with that arch active.
  StaticNet extract(const search_space::ArchSpec& arch);

  search_space::SearchSpace space;
  double w;
  data::Normalization normalization;  // of the pixels (normalization.h); applied by the stem

  torch::Tensor stem_weight;  // [stem_out, in, 3, 3]
  DynamicBatchNorm stem_bn{nullptr};
  ElasticBlock first_block{nullptr};
  std::vector<std::vector<ElasticBlock>> stages;  // max_depth blocks each
  ElasticBlock last_block{nullptr};
  torch::Tensor feature_mix_weight;  // undefined without feature mix
  DynamicBatchNorm feature_mix_bn{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  search_space::ArchSpec active_;
};
TORCH_MODULE(OFASupernet);

}  // namespace tinynas::supernet
