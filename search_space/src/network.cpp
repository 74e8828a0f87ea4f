#include "tinynas/search_space/network.h"

#include "tinynas/core/errors.h"

namespace tinynas::search_space {

const char* to_string(Activation act) { return act == Activation::Relu ? "relu" : "relu6"; }

BlockDesc BlockDesc::basic(int in_ch, int out_ch, int kernel, int stride) {
  BlockDesc b;
  b.kind = BlockKind::Basic;
  b.in_ch = in_ch;
  b.out_ch = out_ch;
  b.mid_ch = out_ch;
  b.kernel = kernel;
  b.stride = stride;
  b.residual = stride == 1 && in_ch == out_ch;
  return b;
}

BlockDesc BlockDesc::separable(int in_ch, int out_ch, int kernel, int stride) {
  BlockDesc b;
  b.kind = BlockKind::Separable;
  b.in_ch = in_ch;
  b.out_ch = out_ch;
  b.mid_ch = in_ch;
  b.kernel = kernel;
  b.stride = stride;
  return b;
}

int same_pad_before(int size, int kernel, int stride) {
  // Odd kernels: kernel / 2 before, the rest (possibly nothing) after. This is the padding of the
  // PyTorch-trained networks (padding = k / 2), which differs from TF's SAME for even inputs at stride 2.
  if (kernel % 2 == 1) return kernel / 2;
  // Even kernels have no centre: TF's SAME, half the total padding before and the odd pixel after.
  const int total = (conv_out_size(size, stride) - 1) * stride + kernel - size;
  return total > 0 ? total / 2 : 0;
}

int NetworkDesc::head_channels() const {
  if (feature_mix_out > 0) return feature_mix_out;
  return blocks.empty() ? stem_out : blocks.back().out_ch;
}

void NetworkDesc::validate() const {
  const std::string who = name.empty() ? std::string("network") : "network '" + name + "'";
  auto fail = [&](const std::string& what) { throw core::InputError(who + ": " + what); };
  if (resolution <= 0) fail("resolution must be positive, got " + std::to_string(resolution));
  if (input_width < 0) fail("input width must be positive (or 0 for a square input), got " + std::to_string(input_width));
  if (in_channels <= 0) fail("input channels must be positive, got " + std::to_string(in_channels));
  if (!frontend.empty() && frontend != "mfcc") fail("unknown front-end '" + frontend + "' (known: mfcc)");
  if (stem_out <= 0) fail("stem output channels must be positive");
  // Even stem kernels are TF SAME-padded (DS-CNN's 10x4); the blocks' kernels are odd.
  if (stem_kernel <= 0 || stem_kernel_w < 0) fail("stem kernel sizes must be positive");
  if (stem_stride < 1 || stem_stride > 2) fail("stem stride must be 1 or 2");
  if (num_classes <= 0) fail("number of classes must be positive, got " + std::to_string(num_classes));
  int ch = stem_out;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockDesc& b = blocks[i];
    const std::string at = "block " + std::to_string(i) + ": ";
    if (b.in_ch != ch)
      fail(at + "input channels " + std::to_string(b.in_ch) + " do not match the previous layer's " +
           std::to_string(ch));
    if (b.out_ch <= 0 || b.mid_ch <= 0) fail(at + "channel counts must be positive");
    if (b.kind != BlockKind::Basic && !b.has_expand && b.mid_ch != b.in_ch)
      fail(at + "without an expand conv, mid channels must equal input channels");
    if (b.kind == BlockKind::Separable && (b.has_expand || b.residual))
      fail(at + "a depthwise-separable block has no expand conv and no shortcut");
    if (b.kernel <= 0 || b.kernel % 2 == 0) fail(at + "kernel size must be odd, got " + std::to_string(b.kernel));
    if (b.stride < 1 || b.stride > 2) fail(at + "stride must be 1 or 2, got " + std::to_string(b.stride));
    if (b.residual && (b.stride != 1 || b.in_ch != b.out_ch))
      fail(at + "an identity shortcut needs stride 1 and equal input/output channels");
    if (b.kind == BlockKind::Basic) {
      if (b.has_expand || b.mid_ch != b.out_ch) fail(at + "a basic block has no expand conv and mid channels equal to its output");
      if (b.residual != (b.stride == 1 && b.in_ch == b.out_ch))
        fail(at + "a basic block's shortcut is the identity exactly when stride is 1 and channels are equal");
    }
    ch = b.out_ch;
  }
  if (feature_mix_out < 0) fail("feature-mix channels must not be negative");
}

}  // namespace tinynas::search_space
