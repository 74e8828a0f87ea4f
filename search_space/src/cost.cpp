#include "tinynas/search_space/cost.h"

#include <algorithm>

namespace tinynas::search_space {

const char* to_string(LayerKind kind) {
  switch (kind) {
    case LayerKind::Conv: return "conv";
    case LayerKind::Depthwise: return "depthwise";
    case LayerKind::Pointwise: return "pointwise";
    case LayerKind::GlobalAvgPool: return "global_avg_pool";
    case LayerKind::FullyConnected: return "fully_connected";
  }
  return "?";
}

namespace {

// Walks the network layer by layer and hands each layer's cost to `visit`; both compute_cost and
// compute_macs use it, so the two can never disagree.
template <typename Visit>
void walk_layers(const NetworkDesc& net, Visit&& visit) {
  // Feature maps are h x w: square for images, frames x coefficients for audio features.
  struct Hw {
    int h, w;
    int64_t area() const { return int64_t(h) * w; }
  };
  auto out_of = [](Hw in, int s) { return Hw{conv_out_size(in.h, s), conv_out_size(in.w, s)}; };
  auto conv = [&](LayerKind kind, const char* role, int block, Hw in, int cin, int cout, int k, int s,
                  int64_t extra_live, int kw = 0) {
    const Hw out = out_of(in, s);
    const int groups = kind == LayerKind::Depthwise ? cin : 1;
    const int64_t weights = int64_t(cout) * (cin / groups) * k * (kw > 0 ? kw : k);
    LayerCost l{kind, role, block, in.h, in.w, cin, out.h, out.w, cout, k, s,
                weights * out.area(), weights + 2 * int64_t(cout),
                in.area() * cin + out.area() * cout + extra_live, kw != k ? kw : 0};
    visit(l);
    return out;
  };
  Hw hw = conv(LayerKind::Conv, "stem", -1, Hw{net.resolution, net.width()}, net.in_channels, net.stem_out,
               net.stem_kernel, net.stem_stride, 0, net.stem_kernel_w);
  for (size_t i = 0; i < net.blocks.size(); ++i) {
    const BlockDesc& b = net.blocks[i];
    const int bi = int(i);
    if (b.kind == BlockKind::Basic) {
      // conv1, then the shortcut conv (the block input dies there), conv2 beside the shortcut's value:
      // the order the engine graph runs them in.
      const Hw out = out_of(hw, b.stride);
      const int64_t mid = out.area() * b.mid_ch;
      const int64_t shortcut = b.residual ? hw.area() * b.in_ch : out.area() * b.out_ch;
      conv(LayerKind::Conv, "conv1", bi, hw, b.in_ch, b.mid_ch, b.kernel, b.stride, 0);
      if (b.has_shortcut_conv()) conv(LayerKind::Pointwise, "shortcut", bi, hw, b.in_ch, b.out_ch, 1, b.stride, mid);
      conv(LayerKind::Conv, "conv2", bi, out, b.mid_ch, b.out_ch, b.kernel, 1, shortcut);
      hw = out;
      continue;
    }
    // The block input stays alive until the residual add; it is a separate tensor only once the
    // expand conv has consumed it (without an expand conv it is the depthwise input itself).
    const int64_t block_in = b.residual ? hw.area() * b.in_ch : 0;
    if (b.has_expand) conv(LayerKind::Pointwise, "expand", bi, hw, b.in_ch, b.mid_ch, 1, 1, 0);
    const Hw out = conv(LayerKind::Depthwise, "depthwise", bi, hw, b.mid_ch, b.mid_ch, b.kernel, b.stride,
                        b.has_expand ? block_in : 0);
    conv(LayerKind::Pointwise, b.kind == BlockKind::Separable ? "pointwise" : "project", bi, out, b.mid_ch, b.out_ch, 1, 1,
         block_in);
    hw = out;
  }
  int ch = net.blocks.empty() ? net.stem_out : net.blocks.back().out_ch;
  if (net.feature_mix_out > 0) {
    conv(LayerKind::Pointwise, "feature_mix", -1, hw, ch, net.feature_mix_out, 1, 1, 0);
    ch = net.feature_mix_out;
  }
  // The pool's "kernel" is its window's height (the whole map).
  visit(LayerCost{LayerKind::GlobalAvgPool, "pool", -1, hw.h, hw.w, ch, 1, 1, ch, hw.h, 1, 0, 0, hw.area() * ch + ch,
                  hw.w != hw.h ? hw.w : 0});
  const int64_t fc = int64_t(ch) * net.num_classes;
  visit(LayerCost{LayerKind::FullyConnected, "classifier", -1, 1, 1, ch, 1, 1, net.num_classes, 1, 1, fc,
                  fc + net.num_classes, int64_t(ch) + net.num_classes, 0});
}

}  // namespace

Cost compute_cost(const NetworkDesc& net) {
  Cost c;
  c.layers.reserve(net.blocks.size() * 3 + 4);
  walk_layers(net, [&](const LayerCost& l) {
    c.layers.push_back(l);
    c.macs += l.macs;
    c.params += l.params;
    c.analytic_peak = std::max(c.analytic_peak, l.analytic_live);
  });
  return c;
}

int64_t compute_macs(const NetworkDesc& net) {
  int64_t macs = 0;
  walk_layers(net, [&](const LayerCost& l) { macs += l.macs; });
  return macs;
}

}  // namespace tinynas::search_space
