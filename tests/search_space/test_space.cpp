// The MCUNet search space: make_divisible, describe, sampling, mutation, crossover, the arch key and
// the arch JSON form.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinynas/search_space/cost.h"
#include "tinynas/core/errors.h"
#include "tinynas/search_space/space.h"
#include "tinynas/search_space/space_yaml.h"
#include "tinynas/search_space/zoo_json.h"
#include "test_helpers.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::search_space;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;
using tinynas_test::zoo_path;

namespace {

// The arch of mcunet-320kb-1mb_imagenet.json (w 0.5, r 176), read off its blocks; inactive slots
// hold the first choice (3).
ArchSpec mcunet_320kb_arch() {
  ArchSpec a;
  a.r = 176;
  a.w = 0.5;
  a.d = {4, 3, 3, 3, 3};
  a.ks = {7, 3, 7, 5,  //
          5, 5, 5, 3,  //
          3, 7, 5, 3,  //
          5, 7, 3, 3,  //
          3, 7, 3, 3,  //
          7};
  a.e = {3, 5, 5, 4,  //
         5, 5, 5, 3,  //
         5, 6, 4, 3,  //
         5, 5, 5, 3,  //
         6, 5, 4, 3,  //
         5};
  return a;
}

// Every one of the 21 slots of `a` has kernel `k` and expand ratio `e`, each of the 5 stages depth `d`;
// the arch is valid and describes the first block, 5 * d stage blocks and the last block.
void expect_uniform_arch(const SearchSpace& space, const ArchSpec& a, int k, int e, int d) {
  EXPECT_EQ(a.ks, std::vector<int>(21, k));
  EXPECT_EQ(a.e, std::vector<int>(21, e));
  EXPECT_EQ(a.d, std::vector<int>(5, d));
  EXPECT_NO_THROW(space.validate(a));
  EXPECT_EQ(space.describe(a).blocks.size(), 1u + 5 * size_t(d) + 1);
}

// The JSON form of the smallest arch at w 0.5, r 96.
nlohmann::json smallest_arch_json() { return nlohmann::json::parse(to_json(SearchSpace().smallest(0.5, 96))); }

// smallest_arch_json() with `key` set to `value`, as text.
std::string smallest_arch_json_with(const char* key, const nlohmann::json& value) {
  nlohmann::json j = smallest_arch_json();
  j[key] = value;
  return j.dump();
}

}  // namespace

// ---- make_divisible -----------------------------------------------------------------------------

TEST(MakeDivisible, RoundsToNearestMultipleOfEight) {
  EXPECT_EQ(make_divisible(0.5 * 24), 16);  // 12 -> int(16)/8*8 = 16
  EXPECT_EQ(make_divisible(0.6 * 96), 56);  // 57.6 -> int(61.6)=61 -> 56; 56 >= 0.9*57.6
  EXPECT_EQ(make_divisible(20.0), 24);      // halfway rounds up
  EXPECT_EQ(make_divisible(64.0), 64);
  EXPECT_EQ(make_divisible(0.2 * 32), 8);  // 6.4 -> 8
}

TEST(MakeDivisible, BumpsWhenRoundingLosesMoreThanTenPercent) {
  EXPECT_EQ(make_divisible(0.3 * 32), 16);   // 9.6 -> 8 < 8.64 -> 16
  EXPECT_EQ(make_divisible(0.35 * 32), 16);  // 11.2 -> 8 < 10.08 -> 16
}

TEST(MakeDivisible, NeverBelowDivisor) {
  EXPECT_EQ(make_divisible(4.0), 8);
  EXPECT_EQ(make_divisible(1.0), 8);
  EXPECT_EQ(make_divisible(3.0, 4), 4);
}

TEST(SearchSpaceWidth, WidthAppliesMakeDivisibleToBaseWidths) {
  SearchSpace s;
  // w=0.5: 32,16,24,40,80,96,192,320 -> 16,8,16,24,40,48,96,160
  const std::vector<int> expected{16, 8, 16, 24, 40, 48, 96, 160};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(s.width(0.5, i), expected[size_t(i)]) << "stage " << i;
}

// ---- describe -------------------------------------------------------------------------------------

TEST(SearchSpaceDescribe, ReproducesMcunet320kbZooLayout) {
  SearchSpace space;
  space.expand_choices = {3, 4, 5, 6};  // the zoo model uses expand ratio 5
  const ArchSpec arch = mcunet_320kb_arch();
  ASSERT_NO_THROW(space.validate(arch));
  const NetworkDesc described = space.describe(arch);
  const NetworkDesc zoo = load_zoo_json(zoo_path("mcunet-320kb-1mb_imagenet.json"));
  ASSERT_EQ(described.blocks.size(), zoo.blocks.size());
  for (size_t i = 0; i < zoo.blocks.size(); ++i) {
    const BlockDesc& a = described.blocks[i];
    const BlockDesc& b = zoo.blocks[i];
    EXPECT_EQ(a.in_ch, b.in_ch) << "block " << i;
    EXPECT_EQ(a.out_ch, b.out_ch) << "block " << i;
    EXPECT_EQ(a.mid_ch, b.mid_ch) << "block " << i;
    EXPECT_EQ(a.stride, b.stride) << "block " << i;
    EXPECT_EQ(a.kernel, b.kernel) << "block " << i;
    EXPECT_EQ(a.residual, b.residual) << "block " << i;
    EXPECT_EQ(a.has_expand, b.has_expand) << "block " << i;
  }
  EXPECT_TRUE(described.same_layers(zoo));
  EXPECT_EQ(compute_cost(described).macs, compute_cost(zoo).macs);
}

TEST(SearchSpaceDescribe, DefaultSpaceRejectsExpandRatioFive) {
  SearchSpace space;  // expand choices {3, 4, 6}
  EXPECT_THROW(space.describe(mcunet_320kb_arch()), core::InputError);
}

TEST(SearchSpaceDescribe, FirstBlockHasNoExpandAndNoShortcut) {
  SearchSpace space;
  const NetworkDesc n = space.describe(space.smallest(1.0, 224));
  ASSERT_FALSE(n.blocks.empty());
  EXPECT_EQ(n.resolution, 224);
  EXPECT_EQ(n.in_channels, 3);
  EXPECT_EQ(n.num_classes, 1000);
  EXPECT_EQ(n.stem_out, 32);
  EXPECT_EQ(n.stem_stride, 2);
  EXPECT_EQ(n.blocks[0].in_ch, 32);
  EXPECT_EQ(n.blocks[0].out_ch, 16);
  EXPECT_EQ(n.blocks[0].mid_ch, 32);
  EXPECT_FALSE(n.blocks[0].has_expand);
  EXPECT_FALSE(n.blocks[0].residual);
  EXPECT_EQ(n.blocks[0].kernel, 3);
  EXPECT_EQ(n.feature_mix_out, 0);
  EXPECT_NO_THROW(n.validate());
}

TEST(SearchSpaceDescribe, DescribeIntoMatchesDescribeAndReusesOutput) {
  SearchSpace space;
  core::Rng rng(7);
  NetworkDesc out;
  for (int i = 0; i < 200; ++i) {
    const ArchSpec a = space.sample(rng);
    space.describe_into(a, out);
    EXPECT_TRUE(out.same_layers(space.describe(a)));
  }
}

// ---- largest / smallest -------------------------------------------------------------------------

TEST(SearchSpaceExtremes, LargestUsesMaximumOfEveryChoice) {
  SearchSpace space;
  const ArchSpec a = space.largest(0.5, 176);
  EXPECT_EQ(a.r, 176);
  EXPECT_EQ(a.w, 0.5);
  ASSERT_EQ(a.ks.size(), 21u);
  ASSERT_EQ(a.e.size(), 21u);
  expect_uniform_arch(space, a, 7, 6, 4);
}

TEST(SearchSpaceExtremes, SmallestUsesMinimumOfEveryChoice) {
  SearchSpace space;
  expect_uniform_arch(space, space.smallest(0.5, 176), 3, 3, 2);
}

TEST(SearchSpaceExtremes, LargestCostsMoreThanAnySampleAndSmallestLess) {
  SearchSpace space;
  const int64_t big = compute_macs(space.describe(space.largest(0.5, 128)));
  const int64_t small = compute_macs(space.describe(space.smallest(0.5, 128)));
  EXPECT_GT(big, small);
  core::Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    const int64_t m = compute_macs(space.describe(space.sample(rng, 0.5, 128)));
    EXPECT_LE(m, big);
    EXPECT_GE(m, small);
  }
}

// ---- sampling -----------------------------------------------------------------------------------

TEST(SearchSpaceSample, CoversEveryChoiceOfEverySlot) {
  SearchSpace space;
  core::Rng rng(12345);
  const size_t slots = size_t(space.num_block_slots());
  std::set<int> rs;
  std::set<double> ws;
  std::vector<std::set<int>> ks(slots), es(slots), ds(size_t(space.num_stages()));
  for (int i = 0; i < 2000; ++i) {
    const ArchSpec a = space.sample(rng);
    ASSERT_NO_THROW(space.validate(a));
    rs.insert(a.r);
    ws.insert(a.w);
    for (size_t j = 0; j < slots; ++j) {
      ks[j].insert(a.ks[j]);
      es[j].insert(a.e[j]);
    }
    for (size_t j = 0; j < a.d.size(); ++j) ds[j].insert(a.d[j]);
  }
  EXPECT_EQ(rs, std::set<int>(space.resolution_choices.begin(), space.resolution_choices.end()));
  EXPECT_EQ(ws, std::set<double>(space.width_choices.begin(), space.width_choices.end()));
  const std::set<int> kc(space.kernel_choices.begin(), space.kernel_choices.end());
  const std::set<int> ec(space.expand_choices.begin(), space.expand_choices.end());
  const std::set<int> dc(space.depth_choices.begin(), space.depth_choices.end());
  for (size_t j = 0; j < slots; ++j) {
    EXPECT_EQ(ks[j], kc) << "ks slot " << j;
    EXPECT_EQ(es[j], ec) << "e slot " << j;
  }
  for (size_t j = 0; j < ds.size(); ++j) EXPECT_EQ(ds[j], dc) << "d stage " << j;
}

TEST(SearchSpaceSample, FixedWidthAndResolutionAreKept) {
  SearchSpace space;
  core::Rng rng(5);
  for (int i = 0; i < 200; ++i) {
    const ArchSpec a = space.sample(rng, 0.7, 112);
    EXPECT_EQ(a.r, 112);
    EXPECT_EQ(a.w, 0.7);
    EXPECT_NO_THROW(space.validate(a));
  }
}

TEST(SearchSpaceSample, SameSeedGivesSameSamples) {
  SearchSpace space;
  core::Rng a(2024), b(2024), c(2025);
  bool any_difference = false;
  for (int i = 0; i < 100; ++i) {
    const ArchSpec x = space.sample(a);
    EXPECT_EQ(x, space.sample(b)) << "sample " << i;
    if (!(x == space.sample(c))) any_difference = true;
  }
  EXPECT_TRUE(any_difference);
}

// ---- mutation / crossover -----------------------------------------------------------------------

TEST(SearchSpaceMutate, AlwaysYieldsValidArchs) {
  SearchSpace space;
  core::Rng rng(99);
  for (double p : {0.1, 1.0}) {
    for (bool rw : {false, true}) {
      int invalid = 0;
      ArchSpec a = space.sample(rng);
      for (int i = 0; i < 2000; ++i) {
        const ArchSpec m = space.mutate(a, p, rng, rw);
        try {
          space.validate(m);
        } catch (const core::InputError&) {
          ++invalid;
        }
        if (!rw) {
          EXPECT_EQ(m.r, a.r);
          EXPECT_EQ(m.w, a.w);
        }
        a = m;  // a random walk through the space
      }
      EXPECT_EQ(invalid, 0) << "p=" << p << " mutate_rw=" << rw;
    }
  }
}

TEST(SearchSpaceMutate, ZeroProbabilityChangesNothingAndOneProbabilityExploresRw) {
  SearchSpace space;
  core::Rng rng(1);
  const ArchSpec a = space.sample(rng);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(space.mutate(a, 0.0, rng, true), a);
  std::set<int> rs;
  for (int i = 0; i < 500; ++i) rs.insert(space.mutate(a, 1.0, rng, true).r);
  EXPECT_EQ(rs.size(), space.resolution_choices.size());
}

TEST(SearchSpaceCrossover, AlwaysYieldsValidArchsWithGenesFromAParent) {
  SearchSpace space;
  core::Rng rng(77);
  int invalid = 0;
  for (int i = 0; i < 3000; ++i) {
    const ArchSpec x = space.sample(rng);
    const ArchSpec y = space.sample(rng);
    const ArchSpec c = space.crossover(x, y, rng);
    try {
      space.validate(c);
    } catch (const core::InputError&) {
      ++invalid;
    }
    ASSERT_EQ(c.ks.size(), x.ks.size());
    ASSERT_EQ(c.d.size(), x.d.size());
    EXPECT_TRUE(c.r == x.r || c.r == y.r);
    EXPECT_TRUE(c.w == x.w || c.w == y.w);
    for (size_t j = 0; j < c.ks.size(); ++j) {
      EXPECT_TRUE(c.ks[j] == x.ks[j] || c.ks[j] == y.ks[j]);
      EXPECT_TRUE(c.e[j] == x.e[j] || c.e[j] == y.e[j]);
    }
    for (size_t j = 0; j < c.d.size(); ++j) EXPECT_TRUE(c.d[j] == x.d[j] || c.d[j] == y.d[j]);
  }
  EXPECT_EQ(invalid, 0);
}

// ---- normalization and the arch key ---------------------------------------------------------------

TEST(ArchKey, InactiveSlotsDoNotChangeTheKey) {
  SearchSpace space;
  ArchSpec a = space.smallest(0.5, 128);  // depth 2 of 4: slots 2, 3 of every stage inactive
  ArchSpec b = a;
  for (int s = 0; s < space.num_stages(); ++s) {
    b.ks[size_t(s * 4 + 2)] = 7;
    b.e[size_t(s * 4 + 3)] = 6;
  }
  ASSERT_FALSE(a == b);
  EXPECT_TRUE(space.describe(a).same_layers(space.describe(b)));
  EXPECT_EQ(arch_key(space, a), arch_key(space, b));
  EXPECT_EQ(space.normalized(a), space.normalized(b));
  // An active slot does change it.
  ArchSpec c = a;
  c.ks[0] = 5;
  EXPECT_NE(arch_key(space, a), arch_key(space, c));
}

TEST(ArchKey, NormalizedSetsInactiveSlotsToFirstChoiceAndIsIdempotent) {
  SearchSpace space;
  core::Rng rng(8);
  for (int i = 0; i < 300; ++i) {
    const ArchSpec a = space.sample(rng);
    const ArchSpec n = space.normalized(a);
    EXPECT_EQ(space.normalized(n), n);
    EXPECT_TRUE(space.describe(a).same_layers(space.describe(n)));
    for (int s = 0; s < space.num_stages(); ++s)
      for (int j = 0; j < space.max_depth(); ++j) {
        const size_t slot = size_t(s * space.max_depth() + j);
        if (j >= a.d[size_t(s)]) {
          EXPECT_EQ(n.ks[slot], space.kernel_choices.front());
          EXPECT_EQ(n.e[slot], space.expand_choices.front());
        } else {
          EXPECT_EQ(n.ks[slot], a.ks[slot]);
          EXPECT_EQ(n.e[slot], a.e[slot]);
        }
      }
  }
}

TEST(ArchKey, EqualNetworksHaveEqualKeysOnRandomPairs) {
  SearchSpace space;
  core::Rng rng(31);
  for (int i = 0; i < 500; ++i) {
    const ArchSpec a = space.sample(rng, 0.4, 96);
    // b: same active choices, random inactive ones.
    ArchSpec b = space.sample(rng, 0.4, 96);
    b.d = a.d;
    for (int s = 0; s < space.num_stages(); ++s)
      for (int j = 0; j < a.d[size_t(s)]; ++j) {
        const size_t slot = size_t(s * space.max_depth() + j);
        b.ks[slot] = a.ks[slot];
        b.e[slot] = a.e[slot];
      }
    b.ks.back() = a.ks.back();
    b.e.back() = a.e.back();
    ASSERT_TRUE(space.describe(a).same_layers(space.describe(b)));
    EXPECT_EQ(arch_key(space, a), arch_key(space, b));
  }
}

TEST(ArchKey, IsCompactSortedJson) {
  SearchSpace space;
  const std::string key = arch_key(space, space.smallest(0.5, 96));
  EXPECT_EQ(key.find(' '), std::string::npos);
  EXPECT_EQ(key.rfind("{\"d\":[2,2,2,2,2],\"e\":[", 0), 0u) << key;
  EXPECT_NE(key.find("],\"ks\":["), std::string::npos) << key;
  EXPECT_NE(key.find("],\"r\":96,\"w\":0.5}"), std::string::npos) << key;
}

// ---- JSON form ------------------------------------------------------------------------------------

TEST(ArchJson, RoundTripsEverySampledArch) {
  SearchSpace space;
  core::Rng rng(4);
  for (int i = 0; i < 500; ++i) {
    const ArchSpec a = space.sample(rng);
    EXPECT_EQ(arch_from_json(to_json(a)), a);
    EXPECT_EQ(arch_from_json(to_json(a, 2)), a);
  }
  for (double w : space.width_choices) {
    const ArchSpec a = space.largest(w, 224);
    EXPECT_EQ(arch_from_json(to_json(a)), a) << "w=" << w;
  }
}

TEST(ArchJson, MalformedJsonThrowsInputError) {
  EXPECT_THROW(arch_from_json(""), core::InputError);
  EXPECT_THROW(arch_from_json("{not json"), core::InputError);
  EXPECT_THROW(arch_from_json("[1, 2, 3]"), core::InputError);
  EXPECT_THROW(arch_from_json("42"), core::InputError);
}

TEST(ArchJson, MissingKeysThrowInputErrorNamingTheKey) {
  EXPECT_THROW(arch_from_json("{}"), core::InputError);
  for (const char* key : {"r", "w", "ks", "e", "d"}) {
    nlohmann::json j = smallest_arch_json();
    j.erase(key);
    const std::string msg = input_error_message([&] { arch_from_json(j.dump()); });
    EXPECT_NE(msg.find(std::string("'") + key + "'"), std::string::npos) << key << ": " << msg;
  }
}

TEST(ArchJson, WrongTypesThrowInputError) {
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("r", "176")), core::InputError);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("w", "0.5")), core::InputError);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("ks", 3)), core::InputError);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("ks", nlohmann::json::array({"3", "5"}))), core::InputError);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("e", nullptr)), core::InputError);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("d", nlohmann::json::object())), core::InputError);
}

// A resolution of 176.5 or `true` is not an integer; the zoo reader (get_int) rejects such values,
// the arch reader should too instead of truncating them.
TEST(ArchJson, NonIntegerNumbersAndBooleansForIntegerFieldsThrowInputError) {
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("r", 96.5)), core::InputError);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("r", true)), core::InputError);
  nlohmann::json ks = smallest_arch_json()["ks"];
  ks[0] = 3.9;
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("ks", ks)), core::InputError);
}

TEST(ArchJson, IntegersBeyondAnIntAreRefusedNotWrapped) {
  const int64_t wrap = int64_t(1) << 32;  // 2^32 + 24 would read as 24 without the range check
  EXPECT_NE(input_error_message([&] { arch_from_json(smallest_arch_json_with("r", wrap + 24)); }).find("'r'"),
            std::string::npos);
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("r", -wrap + 24)), core::InputError);
  nlohmann::json d = smallest_arch_json()["d"];
  d[0] = wrap + 2;
  EXPECT_THROW(arch_from_json(smallest_arch_json_with("d", d)), core::InputError);
}

// 1e400 escaped as nlohmann's out_of_range (exit 1); a repeated key kept its last value unseen; an
// unknown key (a typo such as "ds") was ignored.
TEST(ArchJson, OverflowingNumbersRepeatedAndUnknownKeysAreInputErrors) {
  std::string huge = smallest_arch_json_with("w", 0.5);
  huge.replace(huge.find("0.5"), 3, "1e400");
  EXPECT_NE(input_error_message([&] { arch_from_json(huge); }).find("not valid JSON"), std::string::npos);
  std::string twice = smallest_arch_json().dump();
  twice.insert(1, "\"r\":176,");
  EXPECT_NE(input_error_message([&] { arch_from_json(twice); }).find("'r' appears twice"), std::string::npos);
  EXPECT_NE(input_error_message([&] { arch_from_json(smallest_arch_json_with("ds", 2)); }).find("unknown key 'ds'"),
            std::string::npos);
}

TEST(ArchFiles, LoadArchOnMissingPathNamesThePath) {
  const std::string path = "/nonexistent/dir/arch_does_not_exist.json";
  const std::string msg = input_error_message([&] { load_arch(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(ArchFiles, SaveThenLoadRoundTripsAndMalformedFileNamesThePath) {
  TempDir dir;
  SearchSpace space;
  const ArchSpec a = mcunet_320kb_arch();
  const std::string path = (dir.path / "arch.json").string();
  save_arch(path, a);
  EXPECT_EQ(load_arch(path), a);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();

  const std::string bad = (dir.path / "bad.json").string();
  std::ofstream(bad) << "{\"r\": 96}";
  const std::string msg = input_error_message([&] { load_arch(bad); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
}

TEST(SpaceJson, RoundTripsEveryFieldAndRejectsAMissingOne) {
  SearchSpace space;
  space.name = "tiny";
  space.base_widths = {16, 8, 16, 24, 32, 48, 64, 96};
  space.stage_strides = {2, 1, 2, 2, 1, 1};
  space.kernel_choices = {3, 5};
  space.expand_choices = {2, 4};
  space.depth_choices = {1, 2};
  space.width_choices = {0.25, 0.5};
  space.resolution_choices = {32, 48};
  space.in_channels = 1;
  space.input_width = 10;
  space.num_classes = 10;
  space.feature_mix_channels = 128;
  const nlohmann::json j = space_to_json(space);
  const SearchSpace back = space_from_json(j);
  EXPECT_EQ(back.name, space.name);
  EXPECT_EQ(back.base_widths, space.base_widths);
  EXPECT_EQ(back.stage_strides, space.stage_strides);
  EXPECT_EQ(back.kernel_choices, space.kernel_choices);
  EXPECT_EQ(back.expand_choices, space.expand_choices);
  EXPECT_EQ(back.depth_choices, space.depth_choices);
  EXPECT_EQ(back.width_choices, space.width_choices);
  EXPECT_EQ(back.resolution_choices, space.resolution_choices);
  EXPECT_EQ(back.in_channels, 1);
  EXPECT_EQ(back.input_width, 10);
  EXPECT_EQ(space.describe(space.smallest(0.25, 32)).width(), 10);  // the network of every arch has it
  EXPECT_EQ(back.num_classes, 10);
  EXPECT_EQ(back.feature_mix_channels, 128);

  nlohmann::json missing = j;
  missing.erase("depth_choices");
  const std::string msg = input_error_message([&] { space_from_json(missing); });
  EXPECT_NE(msg.find("depth_choices"), std::string::npos) << msg;
}

// ---- validation -----------------------------------------------------------------------------------

TEST(SearchSpaceValidate, AcceptsSampledArchs) {
  SearchSpace space;
  EXPECT_NO_THROW(space.validate());
  EXPECT_NO_THROW(space.validate(space.largest(1.0, 224)));
  EXPECT_NO_THROW(space.validate(space.smallest(0.2, 48)));
}

TEST(SearchSpaceValidate, WrongListLengthsThrowInputErrorNamingTheField) {
  SearchSpace space;
  const ArchSpec good = space.smallest(0.5, 96);
  ArchSpec a = good;
  a.ks.pop_back();
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("ks needs 21"), std::string::npos);
  a = good;
  a.e.push_back(3);
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("e needs 21"), std::string::npos);
  a = good;
  a.d.pop_back();
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("d needs 5"), std::string::npos);
  a = good;
  a.ks.clear();
  EXPECT_THROW(space.describe(a), core::InputError);
}

TEST(SearchSpaceValidate, ValuesOutsideTheChoicesThrowInputError) {
  SearchSpace space;
  const ArchSpec good = space.smallest(0.5, 96);
  ArchSpec a = good;
  a.ks[4] = 4;
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("ks[4]=4"), std::string::npos);
  a = good;
  a.e[20] = 5;
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("e[20]=5"), std::string::npos);
  a = good;
  a.d[2] = 5;
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("d[2]=5"), std::string::npos);
  a = good;
  a.d[0] = 1;
  EXPECT_THROW(space.validate(a), core::InputError);
}

TEST(SearchSpaceValidate, BadWidthOrResolutionThrowsInputError) {
  SearchSpace space;
  const ArchSpec good = space.smallest(0.5, 96);
  ArchSpec a = good;
  a.w = 0.55;
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("w="), std::string::npos);
  a.w = 0.0;
  EXPECT_THROW(space.validate(a), core::InputError);
  a = good;
  a.r = 100;
  EXPECT_NE(input_error_message([&] { space.validate(a); }).find("r=100"), std::string::npos);
  a.r = 0;
  EXPECT_THROW(space.validate(a), core::InputError);
  a = good;
  a.w = 0.3 + 1e-12;  // within the tolerance of a choice
  EXPECT_NO_THROW(space.validate(a));
}

TEST(SearchSpaceValidate, InconsistentSpaceThrowsInputError) {
  {
    SearchSpace s;
    s.base_widths.pop_back();
    EXPECT_THROW(s.validate(), core::InputError);
  }
  {
    SearchSpace s;
    s.kernel_choices = {3, 4};
    EXPECT_THROW(s.validate(), core::InputError);
  }
  {
    SearchSpace s;
    s.in_channels = 2;
    EXPECT_THROW(s.validate(), core::InputError);
  }
  {
    SearchSpace s;
    s.depth_choices.clear();
    EXPECT_THROW(s.validate(), core::InputError);
  }
  {
    SearchSpace s;
    s.stage_strides[0] = 3;
    EXPECT_THROW(s.validate(), core::InputError);
  }
  {
    // e = 1 drops the expand conv: a different structure, allowed only as the sole choice.
    SearchSpace s;
    s.expand_choices = {1, 3, 6};
    EXPECT_THROW(s.validate(), core::InputError);
    s.expand_choices = {1};
    EXPECT_NO_THROW(s.validate());
  }
}

// ---- per-stage choices (receptive-field redistribution) -----------------------------------------------

namespace {

// The default space with its first stage restricted to 3x3 kernels and depth 2, its second to 3x3 or
// 5x5 kernels: a shallow patch stage in front of later stages with every choice.
SearchSpace redistributed_space() {
  SearchSpace space;
  space.stage_choices = {{{3}, {2}}, {{3, 5}, {}}};
  space.validate();
  return space;
}

}  // namespace

TEST(StageChoices, SamplesMutationsAndCrossoversStayWithinEachStagesSets) {
  const SearchSpace space = redistributed_space();
  const int md = space.max_depth();
  ASSERT_EQ(md, 4);  // the layout of the unrestricted space
  core::Rng rng(7);
  std::vector<std::set<int>> ks(size_t(space.num_block_slots())), ds(size_t(space.num_stages()));
  ArchSpec previous = space.sample(rng);
  for (int i = 0; i < 3000; ++i) {
    const ArchSpec sampled = space.sample(rng);
    const ArchSpec mutated = space.mutate(sampled, 0.5, rng, true);
    const ArchSpec crossed = space.crossover(mutated, previous, rng);
    previous = sampled;
    for (const ArchSpec* a : {&sampled, &mutated, &crossed}) {
      ASSERT_NO_THROW(space.validate(*a));
      for (size_t j = 0; j < a->ks.size(); ++j) ks[j].insert(a->ks[j]);
      for (size_t s = 0; s < a->d.size(); ++s) ds[s].insert(a->d[s]);
    }
  }
  for (int j = 0; j < md; ++j) {
    EXPECT_EQ(ks[size_t(j)], std::set<int>({3})) << "stage 0 slot " << j;
    EXPECT_EQ(ks[size_t(md + j)], std::set<int>({3, 5})) << "stage 1 slot " << j;
    EXPECT_EQ(ks[size_t(2 * md + j)], std::set<int>({3, 5, 7})) << "stage 2 slot " << j;
  }
  EXPECT_EQ(ks.back(), std::set<int>({3, 5, 7}));  // the last block is never restricted
  EXPECT_EQ(ds[0], std::set<int>({2}));
  EXPECT_EQ(ds[1], std::set<int>({2, 3, 4}));
  EXPECT_EQ(ds[4], std::set<int>({2, 3, 4}));
}

TEST(StageChoices, ExtremesNormalizationAndValidationFollowEachStage) {
  const SearchSpace space = redistributed_space();
  const int md = space.max_depth();
  const ArchSpec big = space.largest(0.5, 128);
  EXPECT_EQ(big.d, (std::vector<int>{2, 4, 4, 4, 4}));
  EXPECT_EQ(big.ks[0], 3);
  EXPECT_EQ(big.ks[size_t(md)], 5);
  EXPECT_EQ(big.ks[size_t(2 * md)], 7);
  EXPECT_EQ(big.ks.back(), 7);
  const ArchSpec small = space.smallest(0.5, 128);
  EXPECT_EQ(small.d, (std::vector<int>{2, 2, 2, 2, 2}));
  // Stage 0 of the largest has 2 blocks of 3x3: the network has 1 + 2 + 4 * 4 + 1 blocks.
  const NetworkDesc net = space.describe(big);
  ASSERT_EQ(net.blocks.size(), 20u);
  EXPECT_EQ(net.blocks[1].kernel, 3);
  EXPECT_EQ(net.blocks[2].kernel, 3);
  EXPECT_EQ(net.blocks[3].kernel, 5);  // stage 1's first block

  // A 7x7 kernel or depth 3 in stage 0 is outside the space, with the stage's own set in the message.
  ArchSpec wide = big;
  wide.ks[1] = 7;
  std::string msg = input_error_message([&] { space.validate(wide); });
  EXPECT_NE(msg.find("ks[1]=7 is not one of [3]"), std::string::npos) << msg;
  ArchSpec deep = big;
  deep.d[0] = 3;
  msg = input_error_message([&] { space.validate(deep); });
  EXPECT_NE(msg.find("d[0]=3 is not one of [2]"), std::string::npos) << msg;
  // The unrestricted space takes both.
  EXPECT_NO_THROW(SearchSpace().validate(wide));

  // An inactive slot may hold any of the space's kernels; it normalizes to the space's first, so an
  // arch has the same key in the restricted space as in the whole one.
  ArchSpec a = space.smallest(0.5, 128);
  a.ks[3] = 7;  // stage 0, past its depth 2
  EXPECT_NO_THROW(space.validate(a));
  const ArchSpec n = space.normalized(a);
  EXPECT_EQ(n.ks[3], 3);
  EXPECT_NO_THROW(space.validate(n));
  EXPECT_EQ(arch_key(space, a), arch_key(SearchSpace(), a));
  SearchSpace fives = space;
  fives.stage_choices[1].kernels = {5};
  const ArchSpec f = fives.normalized(fives.smallest(0.5, 128));
  EXPECT_NO_THROW(fives.validate(f));
  EXPECT_EQ(f.ks[size_t(md)], 5);      // active
  EXPECT_EQ(f.ks[size_t(md + 2)], 3);  // inactive
}

TEST(StageChoices, InconsistentRestrictionsAreInputErrors) {
  auto message = [](std::vector<StageChoices> choices) {
    SearchSpace space;
    space.stage_choices = std::move(choices);
    return input_error_message([&] { space.validate(); });
  };
  EXPECT_NE(message({{{9}, {}}}).find("stage 0: kernel size 9 is not one of the space's [3, 5, 7]"), std::string::npos);
  EXPECT_NE(message({{}, {{}, {5}}}).find("stage 1: depth 5 is not one of the space's [2, 3, 4]"), std::string::npos);
  EXPECT_NE(message({{{3, 3}, {}}}).find("kernel size 3 is listed twice"), std::string::npos);
  EXPECT_NE(message(std::vector<StageChoices>(6)).find("stage_choices has 6 entries but the space has 5"), std::string::npos);
}

TEST(StageChoices, RestrictedKeepsTheChoicesBothAllow) {
  const SearchSpace space = redistributed_space();
  // Stage 1 {3, 5} cut to {5}; stage 2 (unrestricted) to depths {2, 3}; stage 0 keeps its own.
  const SearchSpace cut = restricted(space, {{}, {{5, 7}, {}}, {{}, {3, 2}}});
  EXPECT_EQ(cut.kernels_of(0), std::vector<int>({3}));
  EXPECT_EQ(cut.depths_of(0), std::vector<int>({2}));
  EXPECT_EQ(cut.kernels_of(1), std::vector<int>({5}));
  EXPECT_EQ(cut.depths_of(2), std::vector<int>({2, 3}));
  EXPECT_EQ(cut.kernels_of(2), space.kernel_choices);
  EXPECT_EQ(cut.kernels_of(5), space.kernel_choices);  // the last block
  EXPECT_EQ(cut.max_depth(), space.max_depth());       // the arch layout is the supernet's
  const std::string msg = input_error_message([&] { restricted(space, {{{7}, {}}}); });
  EXPECT_NE(msg.find("stage 0 of the space 'mcunet' has no kernel size among [7] (it has [3])"), std::string::npos) << msg;
  EXPECT_EQ(restricted(SearchSpace(), {}).stage_choices.size(), 0u);
}

TEST(StageChoices, RoundTripThroughJsonAndYaml) {
  const SearchSpace space = redistributed_space();
  const SearchSpace from_json = space_from_json(space_to_json(space));
  EXPECT_EQ(from_json.stage_choices, space.stage_choices);
  const SearchSpace from_yaml = space_from_yaml(space_to_yaml(space), "test");
  EXPECT_EQ(from_yaml.stage_choices, space.stage_choices);
  // A space without restrictions writes no key, so files of earlier versions compare equal.
  EXPECT_FALSE(space_to_json(SearchSpace()).contains("stage_choices"));

  const SearchSpace written = space_from_yaml(
      "stage_choices:\n  - {kernels: [3], depths: [2]}\n  - ~\n  - {depths: [3, 4]}\n", "space.yaml");
  ASSERT_EQ(written.stage_choices.size(), 3u);
  EXPECT_EQ(written.kernels_of(0), std::vector<int>({3}));
  EXPECT_EQ(written.kernels_of(1), written.kernel_choices);
  EXPECT_EQ(written.depths_of(2), std::vector<int>({3, 4}));
  for (const char* bad : {"stage_choices: 3\n", "stage_choices: [[3]]\n", "stage_choices: [{kernel: [3]}]\n",
                          "stage_choices: [{kernels: [4]}]\n", "stage_choices: [{kernels: [3.5]}]\n"})
    EXPECT_THROW(space_from_yaml(bad, "space.yaml"), core::InputError) << bad;
}
