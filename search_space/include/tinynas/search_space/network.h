#pragma once
// NetworkDesc: a MobileNetV2/ProxylessNAS-style network described layer by layer, the common form of
// a sampled arch (SearchSpace::describe) and of an upstream model-zoo JSON file (zoo_json.h). Residual
// basic blocks describe ResNets too (MLPerf Tiny's ResNet-8 reference), depthwise-separable blocks and
// a non-square stem MobileNetV1-style networks (MLPerf Tiny's DS-CNN keyword-spotting reference).
#include <string>
#include <vector>

namespace tinynas::search_space {

// The activation after every BN that has one (stem, expand, depthwise, feature mix, a basic block's
// first conv and its add).
enum class Activation { Relu6, Relu };
const char* to_string(Activation act);

enum class BlockKind {
  // A mobile inverted bottleneck: [1x1 expand conv] -> kxk depthwise conv -> 1x1 projection conv, each
  // followed by BN (folded at inference) and the activation except the projection; plus an identity
  // shortcut when `residual` (stride 1 and in_ch == out_ch).
  MBConv,
  // A ResNet basic block: kxk conv (stride s) -> BN -> activation -> kxk conv -> BN, added to the
  // shortcut, then the activation. The shortcut is the identity when `residual` (stride 1 and in_ch ==
  // out_ch), else a 1x1 stride-s conv + BN. mid_ch == out_ch, no expand conv.
  Basic,
  // A depthwise-separable block (MobileNetV1, DS-CNN): kxk depthwise conv (stride s) -> BN -> activation
  // -> 1x1 conv -> BN -> activation. No expand conv, no shortcut; mid_ch == in_ch.
  Separable,
};

struct BlockDesc {
  int in_ch = 0;
  int out_ch = 0;
  int mid_ch = 0;  // channels of the depthwise conv (in_ch without an expand conv); a basic block's out_ch
  int kernel = 3;
  int stride = 1;
  bool has_expand = false;  // false for expand ratio 1
  bool residual = false;    // an identity shortcut
  BlockKind kind = BlockKind::MBConv;

  // A basic block whose shortcut is a 1x1 convolution.
  bool has_shortcut_conv() const { return kind == BlockKind::Basic && !residual; }
  // A ResNet basic block of the given shape (its shortcut follows from stride and channels).
  static BlockDesc basic(int in_ch, int out_ch, int kernel, int stride);
  // A depthwise-separable block of the given shape.
  static BlockDesc separable(int in_ch, int out_ch, int kernel, int stride);

  bool operator==(const BlockDesc& o) const {
    return kind == o.kind && in_ch == o.in_ch && out_ch == o.out_ch && mid_ch == o.mid_ch && kernel == o.kernel &&
           stride == o.stride && has_expand == o.has_expand && residual == o.residual;
  }
};

struct NetworkDesc {
  std::string name;
  int resolution = 0;   // input height (and width, unless input_width is set)
  int input_width = 0;  // input width when it differs from the height (audio: frames x coefficients); 0 = square
  // The front-end that computes the input on the MCU from the raw signal: "" (none: the input is given)
  // or "mfcc" (the MFCCs of a 1 s 16 kHz int16 clip, engine/audio_frontend.h).
  std::string frontend;
  int in_channels = 3;  // 1 (grayscale) or 3 (RGB)
  int stem_out = 0;     // stem: kxk stride-s conv + BN + ReLU6
  int stem_kernel = 3;  // the stem's kernel height (and width, unless stem_kernel_w is set)
  int stem_kernel_w = 0;  // the stem's kernel width when it differs from the height (DS-CNN's 10x4); 0 = square
  int stem_stride = 2;
  std::vector<BlockDesc> blocks;
  int feature_mix_out = 0;  // optional 1x1 conv + BN + ReLU6 before pooling; 0 = none
  int num_classes = 0;      // classifier: global average pool -> fully connected with bias
  Activation activation = Activation::Relu6;

  int width() const { return input_width > 0 ? input_width : resolution; }
  int stem_kernel_width() const { return stem_kernel_w > 0 ? stem_kernel_w : stem_kernel; }
  // Channels entering the global pooling / classifier.
  int head_channels() const;
  // Same layers (the name is not compared).
  bool same_layers(const NetworkDesc& o) const {
    return resolution == o.resolution && width() == o.width() && frontend == o.frontend && in_channels == o.in_channels &&
           stem_out == o.stem_out &&
           stem_kernel == o.stem_kernel && stem_kernel_width() == o.stem_kernel_width() && stem_stride == o.stem_stride && blocks == o.blocks &&
           feature_mix_out == o.feature_mix_out && num_classes == o.num_classes && activation == o.activation;
  }
  // Checks the channel chaining and the shape rules; throws InputError naming the layer.
  void validate() const;
};

// SAME-padded output size: ceil(size / stride). Odd kernels get kernel / 2 padding on both sides (the
// PyTorch-trained networks' padding, which gives this size); even kernels, which only a stem may have,
// get TF's SAME padding (the odd pixel after), so every conv of a NetworkDesc has this output size.
inline int conv_out_size(int size, int stride) { return (size + stride - 1) / stride; }
// The padding before (above / left of) the input of a SAME conv along one axis, as above.
int same_pad_before(int size, int kernel, int stride);

}  // namespace tinynas::search_space
