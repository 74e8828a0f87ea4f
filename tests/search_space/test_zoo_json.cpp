// The upstream model-zoo JSON format: loading all 13 zoo files, round trips, ZeroLayer blocks,
// malformed inputs and the atomic save.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/search_space/space.h"
#include "tinynas/search_space/zoo_json.h"
#include "test_helpers.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::search_space;
using nlohmann::json;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;
using tinynas_test::zoo_files;
using tinynas_test::zoo_path;

namespace {

json zoo(const std::string& file) { return json::parse(core::read_text_file(zoo_path(file))); }

// Parses a modified copy of mcunet-5fps and returns the InputError message ("<no exception>" if none).
template <typename Edit>
std::string error_after_edit(Edit&& edit) {
  json j = zoo("mcunet-5fps_imagenet.json");
  edit(j);
  return input_error_message([&] { network_from_zoo_json(j.dump(), "edited.json"); });
}

}  // namespace

TEST(ZooJson, AllThirteenZooFilesLoadAndValidate) {
  const auto files = zoo_files();
  ASSERT_EQ(files.size(), 13u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    NetworkDesc n;
    ASSERT_NO_THROW(n = load_zoo_json(f));
    EXPECT_NO_THROW(n.validate());
    EXPECT_FALSE(n.blocks.empty());
    EXPECT_EQ(n.num_classes, 1000);
    EXPECT_EQ(n.in_channels, 3);
    // Block count: every block of the file that is not a ZeroLayer.
    const json j = json::parse(core::read_text_file(f));
    size_t expected = 0;
    for (const json& b : j.at("blocks"))
      if (b.at("mobile_inverted_conv").at("name") != "ZeroLayer") ++expected;
    EXPECT_EQ(n.blocks.size(), expected);
    EXPECT_EQ(n.resolution, j.at("resolution").get<int>());
  }
}

TEST(ZooJson, Mcunet5fpsFieldsAreReadExactly) {
  const NetworkDesc n = load_zoo_json(zoo_path("mcunet-5fps_imagenet.json"));
  EXPECT_EQ(n.name, "ProxylessNASNets");
  EXPECT_EQ(n.resolution, 96);
  EXPECT_EQ(n.stem_out, 16);
  EXPECT_EQ(n.stem_kernel, 3);
  EXPECT_EQ(n.stem_stride, 2);
  ASSERT_EQ(n.blocks.size(), 14u);
  // Block 0: 16 -> 8, expand ratio 1: no expand conv, mid = in.
  EXPECT_EQ(n.blocks[0], (BlockDesc{16, 8, 16, 3, 1, false, false}));
  // Block 1: 8 -> 16, 3x3 s2, mid 32.
  EXPECT_EQ(n.blocks[1], (BlockDesc{8, 16, 32, 3, 2, true, false}));
  // Block 2: 16 -> 16, 3x3 s1, mid 48, identity shortcut.
  EXPECT_EQ(n.blocks[2], (BlockDesc{16, 16, 48, 3, 1, true, true}));
  EXPECT_EQ(n.blocks.back(), (BlockDesc{96, 160, 576, 3, 1, true, false}));
  EXPECT_EQ(n.feature_mix_out, 0);
  EXPECT_EQ(n.head_channels(), 160);
}

TEST(ZooJson, MidChannelsDefaultToRoundedExpandRatioTimesInput) {
  // mbv2 files give no mid_channels: 8 * 6 = 48.
  const NetworkDesc n = load_zoo_json(zoo_path("mbv2-w0.35-r144_imagenet.json"));
  EXPECT_EQ(n.blocks[1], (BlockDesc{8, 8, 48, 3, 2, true, false}));
  EXPECT_EQ(n.feature_mix_out, 448);
  EXPECT_EQ(n.head_channels(), 448);
}

TEST(ZooJson, RoundTripPreservesLayersOfEveryZooFile) {
  for (const auto& f : zoo_files()) {
    SCOPED_TRACE(f);
    const NetworkDesc n = load_zoo_json(f);
    EXPECT_TRUE(network_from_zoo_json(network_to_zoo_json(n)).same_layers(n));
    EXPECT_TRUE(network_from_zoo_json(network_to_zoo_json(n, -1)).same_layers(n));
  }
}

TEST(ZooJson, RoundTripPreservesSampledArchsWithFeatureMix) {
  SearchSpace space;
  space.feature_mix_channels = 1280;
  space.in_channels = 1;
  space.num_classes = 2;
  core::Rng rng(11);
  for (int i = 0; i < 100; ++i) {
    const NetworkDesc n = space.describe(space.sample(rng));
    EXPECT_TRUE(network_from_zoo_json(network_to_zoo_json(n)).same_layers(n)) << i;
  }
}

TEST(ZooJson, ProxylessMobileSkipsZeroLayerBlocks) {
  const json j = zoo("proxyless_mobile.json");
  ASSERT_EQ(j.at("blocks").size(), 22u);
  ASSERT_EQ(j.at("blocks")[3].at("mobile_inverted_conv").at("name"), "ZeroLayer");
  ASSERT_EQ(j.at("blocks")[4].at("mobile_inverted_conv").at("name"), "ZeroLayer");
  const NetworkDesc n = load_zoo_json(zoo_path("proxyless_mobile.json"));
  ASSERT_EQ(n.blocks.size(), 20u);
  // Block 2 (32 -> 32 with shortcut) is followed directly by the 32 -> 40 stride-2 block of file index 5.
  EXPECT_EQ(n.blocks[2], (BlockDesc{32, 32, 96, 3, 1, true, true}));
  EXPECT_EQ(n.blocks[3], (BlockDesc{32, 40, 96, 7, 2, true, false}));
  EXPECT_EQ(n.feature_mix_out, 1280);
  EXPECT_EQ(n.resolution, 224);
}

TEST(ZooJson, ZeroLayerWithoutShortcutThrows) {
  const std::string msg = error_after_edit([](json& j) {
    j["blocks"][2]["mobile_inverted_conv"] = {{"name", "ZeroLayer"}, {"stride", 1}};
    j["blocks"][2]["shortcut"] = nullptr;
  });
  EXPECT_NE(msg.find("ZeroLayer"), std::string::npos) << msg;
}

TEST(ZooJson, ChannelsAsOneElementListsAreAccepted) {
  json j = zoo("mcunet-5fps_imagenet.json");
  j["blocks"][2]["mobile_inverted_conv"]["in_channels"] = {16};
  j["first_conv"]["out_channels"] = {16};
  const NetworkDesc a = network_from_zoo_json(j.dump());
  EXPECT_TRUE(a.same_layers(load_zoo_json(zoo_path("mcunet-5fps_imagenet.json"))));
}

TEST(ZooJsonErrors, NotJsonThrowsInputError) {
  EXPECT_THROW(network_from_zoo_json("this is not json"), core::InputError);
  EXPECT_THROW(network_from_zoo_json(""), core::InputError);
  EXPECT_THROW(network_from_zoo_json("[1,2]"), core::InputError);
  const std::string msg = input_error_message([] { network_from_zoo_json("{", "some/origin.json"); });
  EXPECT_NE(msg.find("some/origin.json"), std::string::npos) << msg;
}

TEST(ZooJsonErrors, MissingFirstConvThrowsInputError) {
  const std::string msg = error_after_edit([](json& j) { j.erase("first_conv"); });
  EXPECT_NE(msg.find("first_conv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("edited.json"), std::string::npos) << msg;
}

TEST(ZooJsonErrors, MissingOrWrongFieldsThrowInputError) {
  EXPECT_NE(error_after_edit([](json& j) { j.erase("resolution"); }).find("resolution"), std::string::npos);
  EXPECT_NE(error_after_edit([](json& j) { j["resolution"] = "96"; }).find("resolution"), std::string::npos);
  EXPECT_NE(error_after_edit([](json& j) { j.erase("classifier"); }), "<no exception>");
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"] = 3; }), "<no exception>");
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"][1]["mobile_inverted_conv"].erase("kernel_size"); })
                .find("kernel_size"),
            std::string::npos);
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"][1]["mobile_inverted_conv"]["expand_ratio"] = "4"; })
                .find("expand_ratio"),
            std::string::npos);
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"][1].erase("mobile_inverted_conv"); }), "<no exception>");
  EXPECT_NE(error_after_edit([](json& j) { j["first_conv"]["groups"] = 2; }), "<no exception>");
  EXPECT_NE(error_after_edit([](json& j) { j["first_conv"] = 5; }), "<no exception>");
}

// A non-string top-level "name" is read outside the try block that converts nlohmann exceptions, so a
// json::type_error escapes instead of an InputError.
TEST(ZooJsonErrors, NonStringNameThrowsInputError) {
  json j = zoo("mcunet-5fps_imagenet.json");
  j["name"] = 5;
  EXPECT_THROW(network_from_zoo_json(j.dump(), "edited.json"), core::InputError);
  j["name"] = json::array({"a"});
  EXPECT_THROW(network_from_zoo_json(j.dump(), "edited.json"), core::InputError);
}

TEST(ZooJsonErrors, ChannelMismatchThrowsInputErrorNamingTheBlock) {
  const std::string msg = error_after_edit([](json& j) { j["blocks"][3]["mobile_inverted_conv"]["in_channels"] = 24; });
  EXPECT_NE(msg.find("blocks[3]"), std::string::npos) << msg;
  // Classifier in_features must match the head.
  EXPECT_NE(error_after_edit([](json& j) { j["classifier"]["in_features"] = 161; }).find("classifier"),
            std::string::npos);
}

TEST(ZooJsonErrors, UnsupportedActivationThrowsInputError) {
  std::string msg = error_after_edit([](json& j) { j["blocks"][4]["mobile_inverted_conv"]["act_func"] = "h_swish"; });
  EXPECT_NE(msg.find("h_swish"), std::string::npos) << msg;
  msg = error_after_edit([](json& j) { j["first_conv"]["act_func"] = "h_swish"; });
  EXPECT_NE(msg.find("h_swish"), std::string::npos) << msg;
}

TEST(ZooJsonErrors, SqueezeExcitationThrowsInputError) {
  const std::string msg = error_after_edit([](json& j) { j["blocks"][5]["mobile_inverted_conv"]["use_se"] = true; });
  EXPECT_NE(msg.find("squeeze"), std::string::npos) << msg;
}

TEST(ZooJsonErrors, UnsupportedLayerOrShortcutThrowsInputError) {
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"][2]["mobile_inverted_conv"]["name"] = "MixedEdge"; }),
            "<no exception>");
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"][2]["shortcut"]["name"] = "ConvLayer"; }), "<no exception>");
  // A shortcut on a stride-2 block fails the network validation.
  EXPECT_NE(error_after_edit([](json& j) { j["blocks"][1]["shortcut"] = {{"name", "IdentityLayer"}}; }),
            "<no exception>");
}

TEST(ZooJsonFiles, LoadOnMissingPathNamesThePath) {
  const std::string path = "/nonexistent/zoo/missing_model.json";
  const std::string msg = input_error_message([&] { load_zoo_json(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(ZooJsonFiles, SaveIsAtomicAndLoadsBack) {
  TempDir dir;
  const NetworkDesc n = load_zoo_json(zoo_path("mcunet-320kb-1mb_imagenet.json"));
  const std::string path = (dir.path / "net.json").string();
  save_zoo_json(path, n);
  save_zoo_json(path, n);  // overwriting an existing file works too
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_TRUE(load_zoo_json(path).same_layers(n));
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    ++entries;
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
  EXPECT_EQ(entries, 1);
}

TEST(ZooJsonFiles, SaveIntoMissingDirectoryFailsWithoutLeftovers) {
  TempDir dir;
  const NetworkDesc n = load_zoo_json(zoo_path("mcunet-5fps_imagenet.json"));
  EXPECT_ANY_THROW(save_zoo_json((dir.path / "no_such_dir" / "net.json").string(), n));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path));
}

TEST(ZooJsonFiles, LoadNetworkAnyReadsArchAndZooFiles) {
  TempDir dir;
  SearchSpace space;
  const ArchSpec a = space.smallest(0.5, 96);
  const std::string arch_path = (dir.path / "arch.json").string();
  save_arch(arch_path, a);
  EXPECT_TRUE(load_network_any(arch_path, space).same_layers(space.describe(a)));
  const std::string zoo_file = zoo_path("mcunet-5fps_imagenet.json");
  EXPECT_TRUE(load_network_any(zoo_file, space).same_layers(load_zoo_json(zoo_file)));
  // An arch outside the space: InputError naming the file.
  ArchSpec bad = a;
  bad.r = 100;
  save_arch(arch_path, bad);
  const std::string msg = input_error_message([&] { load_network_any(arch_path, space); });
  EXPECT_NE(msg.find(arch_path), std::string::npos) << msg;
}

TEST(ZooJsonErrors, IntegersBeyondAnIntAreRefusedNotWrapped) {
  // 2^32 + x wraps to x in a plain get<int>(): each must be an error naming the field.
  const int64_t wrap = int64_t(1) << 32;
  EXPECT_NE(error_after_edit([&](json& j) { j["resolution"] = wrap + 176; }).find("resolution"), std::string::npos);
  EXPECT_NE(error_after_edit([&](json& j) { j["blocks"][1]["mobile_inverted_conv"]["mid_channels"] = wrap + 48; })
                .find("mid_channels"),
            std::string::npos);
  EXPECT_NE(error_after_edit([&](json& j) { j["classifier"]["out_features"] = wrap + 1000; }).find("out_features"),
            std::string::npos);
  EXPECT_NE(error_after_edit([&](json& j) { j["first_conv"]["out_channels"] = {wrap + 16}; }).find("out_channels"),
            std::string::npos);
}

TEST(ZooJson, ResNet8ReadsItsBasicBlocksAndRoundTrips) {
  const NetworkDesc n = load_zoo_json(tinynas_test::resnet8_path());
  EXPECT_EQ(n.name, "resnet8");
  EXPECT_EQ(n.activation, Activation::Relu);
  EXPECT_EQ(n.stem_out, 16);
  EXPECT_EQ(n.stem_stride, 1);
  ASSERT_EQ(n.blocks.size(), 3u);
  EXPECT_EQ(n.blocks[0], BlockDesc::basic(16, 16, 3, 1));
  EXPECT_EQ(n.blocks[1], BlockDesc::basic(16, 32, 3, 2));
  EXPECT_EQ(n.blocks[2], BlockDesc::basic(32, 64, 3, 2));
  EXPECT_TRUE(n.blocks[0].residual);
  EXPECT_FALSE(n.blocks[0].has_shortcut_conv());
  EXPECT_TRUE(n.blocks[1].has_shortcut_conv());
  EXPECT_EQ(n.head_channels(), 64);
  EXPECT_TRUE(network_from_zoo_json(network_to_zoo_json(n)).same_layers(n));
  // The activation is part of the layers: the same network with ReLU6 is another network.
  NetworkDesc relu6 = n;
  relu6.activation = Activation::Relu6;
  EXPECT_FALSE(relu6.same_layers(n));
  EXPECT_TRUE(network_from_zoo_json(network_to_zoo_json(relu6)).same_layers(relu6));
}

TEST(ZooJson, DsCnnReadsItsSeparableBlocksAndNonSquareStemAndRoundTrips) {
  const NetworkDesc n = load_zoo_json(tinynas_test::dscnn_path());
  EXPECT_EQ(n.name, "dscnn");
  EXPECT_EQ(n.activation, Activation::Relu);
  EXPECT_EQ(n.resolution, 49);
  EXPECT_EQ(n.width(), 10);
  EXPECT_EQ(n.frontend, "mfcc");
  EXPECT_EQ(n.in_channels, 1);
  EXPECT_EQ(n.stem_kernel, 10);
  EXPECT_EQ(n.stem_kernel_width(), 4);
  EXPECT_EQ(n.stem_stride, 2);
  ASSERT_EQ(n.blocks.size(), 4u);
  for (const BlockDesc& b : n.blocks) {
    EXPECT_EQ(b, BlockDesc::separable(64, 64, 3, 1));
    EXPECT_FALSE(b.residual);
    EXPECT_FALSE(b.has_expand);
  }
  EXPECT_EQ(n.num_classes, 12);
  const std::string text = network_to_zoo_json(n);
  EXPECT_TRUE(network_from_zoo_json(text).same_layers(n));
  EXPECT_EQ(json::parse(text)["first_conv"]["kernel_size"], json::array({10, 4}));
  // A separable block is not an MBConv block without expansion: that one has no activation after its 1x1.
  NetworkDesc mbconv = n;
  for (BlockDesc& b : mbconv.blocks) b.kind = BlockKind::MBConv;
  EXPECT_FALSE(mbconv.same_layers(n));
  // [k, k] is the square kernel k.
  json square = json::parse(text);
  square["first_conv"]["kernel_size"] = {3, 3};
  const NetworkDesc sq = network_from_zoo_json(square.dump());
  EXPECT_EQ(sq.stem_kernel, 3);
  EXPECT_EQ(sq.stem_kernel_w, 0);
}

TEST(ZooJsonErrors, DsCnnKernelSizesAndSeparableBlocksAreChecked) {
  const json dscnn = json::parse(core::read_text_file(tinynas_test::dscnn_path()));
  auto error = [&](auto&& edit) {
    json j = dscnn;
    edit(j);
    return input_error_message([&] { network_from_zoo_json(j.dump(), "edited.json"); });
  };
  std::string msg = error([](json& j) { j["first_conv"]["kernel_size"] = {10, 4, 1}; });
  EXPECT_NE(msg.find("[height, width]"), std::string::npos) << msg;
  msg = error([](json& j) { j["first_conv"]["kernel_size"] = {10, 0}; });
  EXPECT_NE(msg.find("stem kernel sizes must be positive"), std::string::npos) << msg;
  msg = error([](json& j) { j["first_conv"]["kernel_size"] = {10, "4"}; });
  EXPECT_NE(msg.find("kernel_size"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][2]["kernel_size"] = 4; });
  EXPECT_NE(msg.find("block 2: kernel size must be odd"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][1]["in_channels"] = 32; });
  EXPECT_NE(msg.find("blocks[1]: in_channels 32 do not match"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][0]["act_func"] = "relu6"; });
  EXPECT_NE(msg.find("differs from the stem's"), std::string::npos) << msg;
}

TEST(ZooJsonErrors, BasicBlocksNeedTheShortcutTheirShapeImpliesAndOneActivation) {
  const json resnet8 = json::parse(core::read_text_file(tinynas_test::resnet8_path()));
  auto error = [&](auto&& edit) {
    json j = resnet8;
    edit(j);
    return input_error_message([&] { network_from_zoo_json(j.dump(), "edited.json"); });
  };
  // A stride-2 block cannot add its input unchanged; a stride-1 block of equal channels has no conv.
  std::string msg = error([](json& j) { j["blocks"][1]["shortcut"] = {{"name", "IdentityLayer"}}; });
  EXPECT_NE(msg.find("blocks[1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ConvLayer"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][0]["shortcut"] = nullptr; });
  EXPECT_NE(msg.find("IdentityLayer"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][2]["shortcut"]["kernel_size"] = 3; });
  EXPECT_NE(msg.find("1x1"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][2]["conv"]["act_func"] = "relu6"; });
  EXPECT_NE(msg.find("differs from the stem's"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][1]["conv"]["in_channels"] = 8; });
  EXPECT_NE(msg.find("do not match"), std::string::npos) << msg;
  msg = error([](json& j) { j["blocks"][1]["conv"]["name"] = "ResNetBottleneck"; });
  EXPECT_NE(msg.find("ResNetBasicLayer"), std::string::npos) << msg;
}
