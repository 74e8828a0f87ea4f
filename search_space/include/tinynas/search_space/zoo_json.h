#pragma once
// The upstream per-layer JSON format of the MCUNet / once-for-all model zoo: first_conv,
// blocks[].mobile_inverted_conv + shortcut, feature_mix_layer, classifier, resolution. Extended for
// ResNets: a block {"name": "ResidualBlock", "conv": {"name": "ResNetBasicLayer", in_channels,
// out_channels, kernel_size, stride, act_func}, "shortcut": IdentityLayer or a 1x1 ConvLayer of the
// block's stride}; and for MobileNetV1-style networks (DS-CNN): a block {"name":
// "DepthwiseSeparableBlock", in_channels, out_channels, kernel_size, stride, act_func} and a stem
// kernel_size of [height, width]; act_func "relu" or "relu6", the same in every layer.
#include <string>

#include "tinynas/search_space/network.h"

namespace tinynas::search_space {

NetworkDesc network_from_zoo_json(const std::string& text, const std::string& origin = "<json>");
NetworkDesc load_zoo_json(const std::string& path);  // throws core::InputError naming the path
std::string network_to_zoo_json(const NetworkDesc& net, int indent = 2);
void save_zoo_json(const std::string& path, const NetworkDesc& net);  // atomic

// A file holding either an arch ({r, w, ks, e, d}) or a zoo network: loads it as a network.
// `space` describes the arch case.
struct SearchSpace;
NetworkDesc load_network_any(const std::string& path, const SearchSpace& space);

}  // namespace tinynas::search_space
