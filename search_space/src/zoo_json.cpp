#include "tinynas/search_space/zoo_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/search_space/space.h"
#include "json_fields.h"

namespace tinynas::search_space {

using nlohmann::json;

namespace {

int get_int(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw core::InputError(where + ": '" + key + "' must be an integer");
  return json_int(j.at(key), where + ": '" + key + "'");
}

// Upstream writes channel counts either as numbers or as one-element lists.
int get_channels(const json& j, const char* key, const std::string& where) {
  if (j.contains(key) && j.at(key).is_array() && j.at(key).size() == 1 && j.at(key)[0].is_number_integer())
    return json_int(j.at(key)[0], where + ": '" + key + "'");
  return get_int(j, key, where);
}

// A layer's act_func: relu6 when absent or null (upstream's networks), else relu6 or relu.
Activation read_activation(const json& j, const std::string& where) {
  if (!j.contains("act_func") || j.at("act_func").is_null() || j.at("act_func") == "relu6") return Activation::Relu6;
  if (j.at("act_func") == "relu") return Activation::Relu;
  throw core::InputError(where + ": activation '" + j.at("act_func").dump() + "' is not supported (relu6 or relu)");
}

// One activation for the whole network: the stem's.
void require_activation(const json& j, Activation net, const std::string& where) {
  if (read_activation(j, where) != net)
    throw core::InputError(where + ": activation '" + to_string(read_activation(j, where)) + "' differs from the stem's '" +
                           to_string(net) + "' (one activation per network)");
}

// Our extension of the format for ResNets: {"name": "ResidualBlock", "conv": {"name": "ResNetBasicLayer",
// in_channels, out_channels, kernel_size, stride, act_func}, "shortcut": IdentityLayer or a 1x1 ConvLayer}.
BlockDesc read_basic_block(const json& b, Activation act, const std::string& bw) {
  if (!b.contains("conv") || b.at("conv").value("name", std::string()) != "ResNetBasicLayer")
    throw core::InputError(bw + ": a ResidualBlock needs a 'conv' of name ResNetBasicLayer");
  const json& c = b.at("conv");
  require_activation(c, act, bw);
  const BlockDesc d = BlockDesc::basic(get_channels(c, "in_channels", bw), get_channels(c, "out_channels", bw),
                                       get_int(c, "kernel_size", bw), get_int(c, "stride", bw));
  const std::string shortcut =
      b.contains("shortcut") && b.at("shortcut").is_object() ? b.at("shortcut").value("name", std::string()) : "";
  const std::string expected = d.residual ? "IdentityLayer" : "ConvLayer";
  if (shortcut != expected)
    throw core::InputError(bw + ": a basic block of stride " + std::to_string(d.stride) + " from " + std::to_string(d.in_ch) +
                           " to " + std::to_string(d.out_ch) + " channels needs a shortcut of name " + expected);
  if (!d.residual) {
    const json& sc = b.at("shortcut");
    if (get_int(sc, "kernel_size", bw + ": shortcut") != 1 || get_int(sc, "stride", bw + ": shortcut") != d.stride)
      throw core::InputError(bw + ": the shortcut must be a 1x1 conv of the block's stride");
  }
  return d;
}

}  // namespace

NetworkDesc network_from_zoo_json(const std::string& text, const std::string& origin) {
  const json j = parse_json_strictly(text, origin);
  if (!j.is_object() || !j.contains("first_conv") || !j.contains("blocks") || !j.contains("classifier"))
    throw core::InputError(origin + ": not a model-zoo network (needs first_conv, blocks, classifier)");
  NetworkDesc net;
  try {
    net.name = j.value("name", std::string("network"));
    if (!j.contains("resolution")) throw core::InputError(origin + ": 'resolution' is missing");
    net.resolution = get_int(j, "resolution", origin);
    // The width of a non-square input (audio features); absent for square images.
    if (j.contains("input_width")) net.input_width = get_int(j, "input_width", origin);
    // The front-end computing the input on the MCU ("mfcc"); absent for images.
    if (j.contains("frontend")) {
      if (!j.at("frontend").is_string()) throw core::InputError(origin + ": 'frontend' must be a string");
      net.frontend = j.at("frontend").get<std::string>();
    }
    const json& fc = j.at("first_conv");
    const std::string fw = origin + ": first_conv";
    net.activation = read_activation(fc, fw);
    net.in_channels = get_channels(fc, "in_channels", fw);
    net.stem_out = get_channels(fc, "out_channels", fw);
    // A square kernel's size, or [height, width] for a non-square stem (DS-CNN's [10, 4]).
    if (fc.contains("kernel_size") && fc.at("kernel_size").is_array()) {
      const json& k = fc.at("kernel_size");
      if (k.size() != 2) throw core::InputError(fw + ": 'kernel_size' must be an integer or [height, width]");
      net.stem_kernel = json_int(k[0], fw + ": 'kernel_size'[0]");
      net.stem_kernel_w = json_int(k[1], fw + ": 'kernel_size'[1]");
      if (net.stem_kernel <= 0 || net.stem_kernel_w <= 0) throw core::InputError(fw + ": stem kernel sizes must be positive");
      if (net.stem_kernel_w == net.stem_kernel) net.stem_kernel_w = 0;
    } else {
      net.stem_kernel = get_int(fc, "kernel_size", fw);
    }
    net.stem_stride = get_int(fc, "stride", fw);
    if (fc.value("groups", 1) != 1) throw core::InputError(fw + ": grouped stem convs are not supported");
    if (!j.at("blocks").is_array()) throw core::InputError(origin + ": 'blocks' must be a list");
    int ch = net.stem_out;
    int index = 0;
    for (const json& b : j.at("blocks")) {
      const std::string bw = origin + ": blocks[" + std::to_string(index++) + "]";
      // The blocks of our extensions (ResNets, DS-CNN), chained like the upstream ones below.
      const std::string name = b.value("name", std::string());
      if (name == "ResidualBlock" || name == "DepthwiseSeparableBlock") {
        BlockDesc d;
        if (name == "ResidualBlock") {
          d = read_basic_block(b, net.activation, bw);
        } else {
          require_activation(b, net.activation, bw);
          d = BlockDesc::separable(get_channels(b, "in_channels", bw), get_channels(b, "out_channels", bw),
                                   get_int(b, "kernel_size", bw), get_int(b, "stride", bw));
        }
        if (d.in_ch != ch)
          throw core::InputError(bw + ": in_channels " + std::to_string(d.in_ch) + " do not match the previous layer's " +
                                 std::to_string(ch));
        ch = d.out_ch;
        net.blocks.push_back(d);
        continue;
      }
      if (!b.contains("mobile_inverted_conv")) throw core::InputError(bw + ": 'mobile_inverted_conv' is missing");
      const json& m = b.at("mobile_inverted_conv");
      const bool identity = b.contains("shortcut") && !b.at("shortcut").is_null();
      if (identity && b.at("shortcut").value("name", std::string()) != "IdentityLayer")
        throw core::InputError(bw + ": only IdentityLayer shortcuts are supported");
      const std::string kind = m.value("name", std::string());
      if (kind == "ZeroLayer") {
        // A skipped block: the shortcut carries the input through unchanged.
        if (!identity) throw core::InputError(bw + ": a ZeroLayer without a shortcut would zero the features");
        continue;
      }
      if (kind != "MBInvertedConvLayer") throw core::InputError(bw + ": layer '" + kind + "' is not supported");
      require_activation(m, net.activation, bw);
      if (m.value("use_se", false)) throw core::InputError(bw + ": squeeze-and-excitation is not supported");
      BlockDesc d;
      d.in_ch = get_channels(m, "in_channels", bw);
      d.out_ch = get_channels(m, "out_channels", bw);
      d.kernel = get_int(m, "kernel_size", bw);
      d.stride = get_int(m, "stride", bw);
      if (!m.contains("expand_ratio") || !m.at("expand_ratio").is_number())
        throw core::InputError(bw + ": 'expand_ratio' must be a number");
      const double e = m.at("expand_ratio").get<double>();
      if (m.contains("mid_channels") && !m.at("mid_channels").is_null())
        d.mid_ch = get_channels(m, "mid_channels", bw);
      else
        d.mid_ch = int(std::lround(d.in_ch * e));  // upstream's rule when mid_channels is absent
      d.has_expand = e != 1.0;
      if (!d.has_expand) d.mid_ch = d.in_ch;
      d.residual = identity;
      if (d.in_ch != ch)
        throw core::InputError(bw + ": in_channels " + std::to_string(d.in_ch) + " do not match the previous layer's " +
                         std::to_string(ch));
      ch = d.out_ch;
      net.blocks.push_back(d);
    }
    if (j.contains("feature_mix_layer") && !j.at("feature_mix_layer").is_null()) {
      const json& fm = j.at("feature_mix_layer");
      const std::string fw2 = origin + ": feature_mix_layer";
      require_activation(fm, net.activation, fw2);
      if (get_int(fm, "kernel_size", fw2) != 1) throw core::InputError(fw2 + ": only 1x1 feature-mix convs are supported");
      if (get_channels(fm, "in_channels", fw2) != ch)
        throw core::InputError(fw2 + ": in_channels do not match the last block's output channels");
      net.feature_mix_out = get_channels(fm, "out_channels", fw2);
    }
    const json& cl = j.at("classifier");
    const std::string cw = origin + ": classifier";
    if (get_int(cl, "in_features", cw) != net.head_channels())
      throw core::InputError(cw + ": in_features " + std::to_string(get_int(cl, "in_features", cw)) +
                       " do not match the head's " + std::to_string(net.head_channels()) + " channels");
    net.num_classes = get_int(cl, "out_features", cw);
  } catch (const json::exception& e) {
    throw core::InputError(origin + ": malformed network: " + e.what());
  }
  try {
    net.validate();
  } catch (const core::InputError& e) {
    throw core::InputError(origin + ": " + e.what());
  }
  return net;
}

NetworkDesc load_zoo_json(const std::string& path) { return network_from_zoo_json(core::read_text_file(path), path); }

std::string network_to_zoo_json(const NetworkDesc& net, int indent) {
  const char* act = to_string(net.activation);
  auto conv_layer = [](int in, int out, int k, int s, const json& act_func) {
    return json{{"name", "ConvLayer"}, {"kernel_size", k},        {"stride", s},       {"dilation", 1},
                {"groups", 1},         {"bias", false},           {"has_shuffle", false}, {"in_channels", in},
                {"out_channels", out}, {"use_bn", true},          {"act_func", act_func}, {"dropout_rate", 0},
                {"ops_order", "weight_bn_act"}};
  };
  auto identity = [](const BlockDesc& b) {
    return json{{"name", "IdentityLayer"}, {"in_channels", {b.in_ch}}, {"out_channels", {b.out_ch}},
                {"use_bn", false},         {"act_func", nullptr},      {"dropout_rate", 0},
                {"ops_order", "weight_bn_act"}};
  };
  json j;
  j["name"] = "ProxylessNASNets";
  j["bn"] = {{"momentum", 0.1}, {"eps", 1e-5}, {"ws_eps", nullptr}};
  j["first_conv"] = conv_layer(net.in_channels, net.stem_out, net.stem_kernel, net.stem_stride, act);
  if (net.stem_kernel_width() != net.stem_kernel)
    j["first_conv"]["kernel_size"] = json::array({net.stem_kernel, net.stem_kernel_width()});
  json blocks = json::array();
  for (const BlockDesc& b : net.blocks) {
    if (b.kind == BlockKind::Basic) {
      const json conv{{"name", "ResNetBasicLayer"}, {"in_channels", b.in_ch}, {"out_channels", b.out_ch},
                      {"kernel_size", b.kernel},     {"stride", b.stride},    {"act_func", act}};
      blocks.push_back({{"name", "ResidualBlock"},
                        {"conv", conv},
                        {"shortcut", b.residual ? identity(b) : conv_layer(b.in_ch, b.out_ch, 1, b.stride, nullptr)}});
      continue;
    }
    if (b.kind == BlockKind::Separable) {
      blocks.push_back({{"name", "DepthwiseSeparableBlock"}, {"in_channels", b.in_ch}, {"out_channels", b.out_ch},
                        {"kernel_size", b.kernel},           {"stride", b.stride},      {"act_func", act}});
      continue;
    }
    json m{{"name", "MBInvertedConvLayer"},
           {"in_channels", b.in_ch},
           {"out_channels", b.out_ch},
           {"kernel_size", b.kernel},
           {"stride", b.stride},
           {"expand_ratio", b.has_expand ? double(b.mid_ch) / b.in_ch : 1.0},
           {"mid_channels", b.has_expand ? json(b.mid_ch) : json(nullptr)},
           {"act_func", act},
           {"use_se", false}};
    // Integral expand ratios are written as integers, as upstream does.
    const double e = m["expand_ratio"].get<double>();
    if (e == std::floor(e)) m["expand_ratio"] = int(e);
    blocks.push_back({{"name", "MobileInvertedResidualBlock"},
                      {"mobile_inverted_conv", m},
                      {"shortcut", b.residual ? identity(b) : json(nullptr)}});
  }
  j["blocks"] = blocks;
  j["feature_mix_layer"] = net.feature_mix_out > 0
                               ? conv_layer(net.blocks.empty() ? net.stem_out : net.blocks.back().out_ch,
                                            net.feature_mix_out, 1, 1, act)
                               : json(nullptr);
  j["classifier"] = {{"name", "LinearLayer"}, {"in_features", net.head_channels()}, {"out_features", net.num_classes},
                     {"bias", true},          {"use_bn", false},                    {"act_func", nullptr},
                     {"dropout_rate", 0},     {"ops_order", "weight_bn_act"}};
  j["resolution"] = net.resolution;
  if (net.width() != net.resolution) j["input_width"] = net.width();
  if (!net.frontend.empty()) j["frontend"] = net.frontend;
  return j.dump(indent);
}

void save_zoo_json(const std::string& path, const NetworkDesc& net) {
  core::write_file_atomic(path, network_to_zoo_json(net) + "\n");
}

NetworkDesc load_network_any(const std::string& path, const SearchSpace& space) {
  const std::string text = core::read_text_file(path);
  const json j = parse_json_strictly(text, path);
  if (j.is_object() && j.contains("ks") && j.contains("d")) {
    ArchSpec a;
    try {
      a = arch_from_json(text);
      NetworkDesc net = space.describe(a);
      net.name = path;
      return net;
    } catch (const core::InputError& e) {
      throw core::InputError(path + ": " + e.what());
    }
  }
  return network_from_zoo_json(text, path);
}

}  // namespace tinynas::search_space
