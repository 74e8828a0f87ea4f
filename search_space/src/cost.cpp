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
  auto conv = [&](LayerKind kind, const char* role, int block, int h, int cin, int cout, int k, int s,
                  int64_t extra_live) {
    const int ho = conv_out_size(h, s);
    const int groups = kind == LayerKind::Depthwise ? cin : 1;
    const int64_t weights = int64_t(cout) * (cin / groups) * k * k;
    LayerCost l{kind, role, block, h, h, cin, ho, ho, cout, k, s,
                weights * ho * ho, weights + 2 * int64_t(cout),
                int64_t(h) * h * cin + int64_t(ho) * ho * cout + extra_live};
    visit(l);
    return ho;
  };
  int h = conv(LayerKind::Conv, "stem", -1, net.resolution, net.in_channels, net.stem_out, net.stem_kernel,
               net.stem_stride, 0);
  for (size_t i = 0; i < net.blocks.size(); ++i) {
    const BlockDesc& b = net.blocks[i];
    const int bi = int(i);
    if (b.kind == BlockKind::Basic) {
      // conv1, then the shortcut conv (the block input dies there), conv2 beside the shortcut's value:
      // the order the engine graph runs them in.
      const int ho = conv_out_size(h, b.stride);
      const int64_t mid = int64_t(ho) * ho * b.mid_ch;
      const int64_t shortcut = b.residual ? int64_t(h) * h * b.in_ch : int64_t(ho) * ho * b.out_ch;
      conv(LayerKind::Conv, "conv1", bi, h, b.in_ch, b.mid_ch, b.kernel, b.stride, 0);
      if (b.has_shortcut_conv()) conv(LayerKind::Pointwise, "shortcut", bi, h, b.in_ch, b.out_ch, 1, b.stride, mid);
      conv(LayerKind::Conv, "conv2", bi, ho, b.mid_ch, b.out_ch, b.kernel, 1, shortcut);
      h = ho;
      continue;
    }
    // The block input stays alive until the residual add; it is a separate tensor only once the
    // expand conv has consumed it (without an expand conv it is the depthwise input itself).
    const int64_t block_in = b.residual ? int64_t(h) * h * b.in_ch : 0;
    if (b.has_expand) conv(LayerKind::Pointwise, "expand", bi, h, b.in_ch, b.mid_ch, 1, 1, 0);
    const int ho = conv(LayerKind::Depthwise, "depthwise", bi, h, b.mid_ch, b.mid_ch, b.kernel, b.stride,
                        b.has_expand ? block_in : 0);
    conv(LayerKind::Pointwise, "project", bi, ho, b.mid_ch, b.out_ch, 1, 1, block_in);
    h = ho;
  }
  int ch = net.blocks.empty() ? net.stem_out : net.blocks.back().out_ch;
  if (net.feature_mix_out > 0) {
    conv(LayerKind::Pointwise, "feature_mix", -1, h, ch, net.feature_mix_out, 1, 1, 0);
    ch = net.feature_mix_out;
  }
  visit(LayerCost{LayerKind::GlobalAvgPool, "pool", -1, h, h, ch, 1, 1, ch, h, 1, 0, 0,
                  int64_t(h) * h * ch + ch});
  const int64_t fc = int64_t(ch) * net.num_classes;
  visit(LayerCost{LayerKind::FullyConnected, "classifier", -1, 1, 1, ch, 1, 1, net.num_classes, 1, 1, fc,
                  fc + net.num_classes, int64_t(ch) + net.num_classes});
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
