// The baselines: MobileNetV2 and ProxylessNAS-Mobile as subnets of the MCUNet space, block for block
// against the model zoo's ProxylessNAS file, and scaled down to the largest version that fits.
#include <gtest/gtest.h>

#include "test_helpers.h"
#include "tinynas/nas/baselines.h"
#include "tinynas/core/errors.h"
#include "tinynas/search_space/zoo_json.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::nas;

TEST(Baselines, MobileNetV2IsKernel3Expand6WithItsDepths) {
  const search_space::SearchSpace s;
  const search_space::ArchSpec a = mobilenetv2_arch(s, 0.4, 144);
  EXPECT_EQ(a.d, (std::vector<int>{2, 3, 4, 3, 3}));
  const search_space::NetworkDesc n = s.describe(a);
  ASSERT_EQ(n.blocks.size(), 1u + 15u + 1u);
  for (size_t i = 1; i < n.blocks.size(); ++i) {
    EXPECT_EQ(n.blocks[i].kernel, 3) << i;
    EXPECT_EQ(n.blocks[i].mid_ch, n.blocks[i].in_ch * 6) << i;
  }
}

TEST(Baselines, ProxylessNasMatchesTheZooFileBlockForBlock) {
  const search_space::SearchSpace s;
  const search_space::NetworkDesc ours = s.describe(proxylessnas_arch(s, 0.3, 176));
  const search_space::NetworkDesc zoo = search_space::load_zoo_json(tinynas_test::zoo_path("proxyless-w0.3-r176_imagenet.json"));
  // The zoo file's two zero blocks are absent from its block list, as depth 2 leaves them out of ours.
  ASSERT_EQ(ours.blocks.size(), zoo.blocks.size());
  for (size_t i = 0; i < ours.blocks.size(); ++i) {
    EXPECT_EQ(ours.blocks[i].kernel, zoo.blocks[i].kernel) << i;
    EXPECT_EQ(ours.blocks[i].stride, zoo.blocks[i].stride) << i;
    EXPECT_EQ(ours.blocks[i].residual, zoo.blocks[i].residual) << i;
    EXPECT_EQ(ours.blocks[i].mid_ch / ours.blocks[i].in_ch, zoo.blocks[i].mid_ch / zoo.blocks[i].in_ch) << i;
  }
  search_space::SearchSpace narrow = s;
  narrow.kernel_choices = {3, 5};
  EXPECT_NE(tinynas_test::input_error_message([&] { proxylessnas_arch(narrow, 0.3, 176); }).find("ProxylessNAS"),
            std::string::npos);
}

TEST(Baselines, ScaledToTheLargestVersionThatFits) {
  const search_space::SearchSpace s;
  // A cost that grows with width and resolution.
  auto costs = [](const search_space::ArchSpec& a) {
    evaluator::CandidateCosts c;
    c.sram_bytes = int64_t(a.w * 100) * a.r;
    return c;
  };
  evaluator::Budget limits;
  limits.sram_bytes = 50 * 112;  // w 0.5 at r 112 fits; w 0.6 at r 96 does not (60 * 96 > 5600)
  const auto b = scale_to_fit("MobileNetV2", [&](double w, int r) { return mobilenetv2_arch(s, w, r); },
                              {0.4, 0.5, 0.6}, {96, 112, 128}, limits, costs);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->arch.w, 0.5);
  EXPECT_EQ(b->arch.r, 112);
  limits.sram_bytes = 10;
  EXPECT_FALSE(scale_to_fit("MobileNetV2", [&](double w, int r) { return mobilenetv2_arch(s, w, r); }, {0.4}, {96},
                            limits, costs)
                   .has_value());
}
