#pragma once
// NetworkDesc: a MobileNetV2/ProxylessNAS-style network described layer by layer, the common form of
// a sampled arch (SearchSpace::describe) and of an upstream model-zoo JSON file (zoo_json.h).
#include <string>
#include <vector>

namespace tinynas::search_space {

// One mobile inverted bottleneck: [1x1 expand conv] -> kxk depthwise conv -> 1x1 projection conv,
// each followed by BN (folded at inference) and ReLU6 except the projection; plus an identity
// shortcut when `residual` (stride 1 and in_ch == out_ch).
struct BlockDesc {
  int in_ch = 0;
  int out_ch = 0;
  int mid_ch = 0;  // channels of the depthwise conv; equals in_ch when there is no expand conv
  int kernel = 3;
  int stride = 1;
  bool has_expand = false;  // false for expand ratio 1
  bool residual = false;

  bool operator==(const BlockDesc& o) const {
    return in_ch == o.in_ch && out_ch == o.out_ch && mid_ch == o.mid_ch && kernel == o.kernel &&
           stride == o.stride && has_expand == o.has_expand && residual == o.residual;
  }
};

struct NetworkDesc {
  std::string name;
  int resolution = 0;   // input height = width
  int in_channels = 3;  // 1 (grayscale) or 3 (RGB)
  int stem_out = 0;     // stem: kxk stride-s conv + BN + ReLU6
  int stem_kernel = 3;
  int stem_stride = 2;
  std::vector<BlockDesc> blocks;
  int feature_mix_out = 0;  // optional 1x1 conv + BN + ReLU6 before pooling; 0 = none
  int num_classes = 0;      // classifier: global average pool -> fully connected with bias

  // Channels entering the global pooling / classifier.
  int head_channels() const;
  // Same layers (the name is not compared).
  bool same_layers(const NetworkDesc& o) const {
    return resolution == o.resolution && in_channels == o.in_channels && stem_out == o.stem_out &&
           stem_kernel == o.stem_kernel && stem_stride == o.stem_stride && blocks == o.blocks &&
           feature_mix_out == o.feature_mix_out && num_classes == o.num_classes;
  }
  // Checks the channel chaining and the shape rules; throws InputError naming the layer.
  void validate() const;
};

// SAME-padded output size: ceil(size / stride).
inline int conv_out_size(int size, int stride) { return (size + stride - 1) / stride; }

}  // namespace tinynas::search_space
