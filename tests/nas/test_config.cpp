#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tinynas/nas/config.h"
#include "tinynas/core/errors.h"
#include "test_helpers.h"

using namespace tinynas;
using namespace tinynas::nas;
using tinynas_test::TempDir;
namespace fs = std::filesystem;

namespace {
std::string configs() { return std::string(TINYNAS_SOURCE_DIR) + "/configs"; }
}  // namespace

TEST(Config, EveryShippedProfileLoadsWithItsBudgets) {
  const auto f412 = load_mcu("stm32f412");
  EXPECT_EQ(f412.sram_bytes, 256 * 1024);
  EXPECT_EQ(f412.flash_bytes, 1024 * 1024);
  EXPECT_EQ(f412.core, "cortex-m4");
  const auto f746 = load_mcu("stm32f746");
  EXPECT_EQ(f746.sram_bytes, 320 * 1024);
  EXPECT_EQ(f746.flash_bytes, 1024 * 1024);
  EXPECT_DOUBLE_EQ(f746.clock_hz, 216e6);
  const auto h743 = load_mcu("stm32h743");
  EXPECT_EQ(h743.sram_bytes, 512 * 1024);
  EXPECT_EQ(h743.flash_bytes, 2 * 1024 * 1024);
  EXPECT_EQ(load_mcu("qemu-m4").qemu_machine, "mps2-an386");
  EXPECT_EQ(load_mcu("qemu-m7").qemu_machine, "mps2-an500");
  EXPECT_EQ(known_mcus(), (std::vector<std::string>{"qemu-m4", "qemu-m7", "stm32f412", "stm32f746", "stm32h743"}));
  // Every shipped profile has its datasheet's run-mode supply, and the emulated ones the board's they stand for.
  for (const auto& name : known_mcus()) {
    const auto m = load_mcu(name);
    EXPECT_TRUE(m.has_power()) << name;
    EXPECT_NE(m.power_source.find("datasheet"), std::string::npos) << name;
  }
  EXPECT_DOUBLE_EQ(f746.supply_voltage, 3.3);
  EXPECT_DOUBLE_EQ(f746.run_current_ma, 90);
  EXPECT_DOUBLE_EQ(load_mcu("qemu-m7").run_current_ma, f746.run_current_ma);
  EXPECT_DOUBLE_EQ(load_mcu("qemu-m4").run_current_ma, f412.run_current_ma);
  // 1 ms at 3.3 V and 90 mA: 297 uJ.
  EXPECT_NEAR(f746.energy_uj(1e-3), 297.0, 1e-9);
}

TEST(Config, PowerFiguresAndConstraints) {
  TempDir dir;
  const std::string base = "name: b\ncore: cortex-m4\nsram: 64K\nflash: 256K\nruntime_code: 16K\nclock_mhz: 80\n";
  const auto b = load_mcu(dir.write("b.yaml", base));
  EXPECT_FALSE(b.has_power());
  EXPECT_EQ(b.energy_uj(1.0), 0.0);
  const auto p = load_mcu(dir.write("p.yaml", base + "power: {supply_voltage: 1.8, run_current_ma: 5, source: DS1 Table 9}\n"));
  EXPECT_TRUE(p.has_power());
  EXPECT_NEAR(p.energy_uj(0.01), 0.01 * 1.8 * 0.005 * 1e6, 1e-9);
  for (const auto& [power, needle] : std::vector<std::pair<std::string, std::string>>{
           {"{supply_voltage: 3.3, run_current_ma: 5}", "'source' is missing"},
           {"{supply_voltage: 0, run_current_ma: 5, source: x}", "supply_voltage"},
           {"{supply_voltage: 3.3, run_current_ma: -2, source: x}", "run_current_ma"},
           {"{supply_voltage: 3.3, run_current: 5, source: x}", "run_current"},
           {"3.3", "power: must be a mapping"}}) {
    const std::string msg = tinynas_test::input_error_message([&] { load_mcu(dir.write("bad.yaml", base + "power: " + power + "\n")); });
    EXPECT_NE(msg.find(needle), std::string::npos) << power << ": " << msg;
  }
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  const Experiment x = load_experiment(
      dir.write("x.yaml", "space: " + space + "\nconstraints: {sram: 64K, latency: 0.5s, energy: 2mJ}\n"));
  EXPECT_EQ(x.constraints.sram_bytes, 64 * 1024);
  EXPECT_EQ(x.constraints.flash_bytes, 0);  // not given: the MCU's
  EXPECT_DOUBLE_EQ(x.constraints.latency_ms, 500.0);
  EXPECT_DOUBLE_EQ(x.constraints.energy_uj, 2000.0);
  EXPECT_EQ(load_experiment(dir.write("none.yaml", "space: " + space + "\n")).constraints.energy_uj, 0.0);
  for (const auto& [constraints, needle] : std::vector<std::pair<std::string, std::string>>{
           {"{energy: 2}", "constraints: energy"}, {"{energy: 3MJ}", "constraints: energy"},
           {"{sram: lots}", "sram"}, {"{power: 2W}", "unknown key 'power'"}}) {
    const std::string msg = tinynas_test::input_error_message(
        [&] { load_experiment(dir.write("c.yaml", "space: " + space + "\nconstraints: " + constraints + "\n")); });
    EXPECT_NE(msg.find(needle), std::string::npos) << constraints << ": " << msg;
  }
  // Every section given as a scalar (or a list) is an input error naming the section.
  for (const std::string section : {"constraints", "stage1", "data", "supernet", "train", "search"}) {
    for (const std::string value : {"3", "[1, 2]"}) {
      const std::string msg = tinynas_test::input_error_message(
          [&] { load_experiment(dir.write("s.yaml", "space: " + space + "\n" + section + ": " + value + "\n")); });
      EXPECT_NE(msg.find(section + ": must be a mapping"), std::string::npos) << section << ": " << value << ": " << msg;
    }
  }
}

// `search:` switches patch-based inference into the search; its keys are checked.
TEST(Config, SearchPatchKeys) {
  tinynas_test::TempDir dir;
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  const Experiment off = load_experiment(dir.write("off.yaml", "space: " + space + "\n"));
  EXPECT_FALSE(off.search.patch);
  const Experiment on = load_experiment(dir.write("on.yaml", "space: " + space + "\nsearch: {patch: true, max_patches: 3}\n"));
  EXPECT_TRUE(on.search.patch);
  EXPECT_EQ(on.search.max_patches, 3);
  for (const auto& [search, needle] : std::vector<std::pair<std::string, std::string>>{
           {"{patch: maybe}", "patch"}, {"{max_patches: 0}", "max_patches"}, {"{patches: 2}", "unknown key 'patches'"}}) {
    const std::string msg = tinynas_test::input_error_message(
        [&] { load_experiment(dir.write("s.yaml", "space: " + space + "\nsearch: " + search + "\n")); });
    EXPECT_NE(msg.find(needle), std::string::npos) << search << ": " << msg;
  }
}

TEST(Config, UnknownMcuListsTheKnownOnes) {
  try {
    load_mcu("stm32f999");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stm32f746"), std::string::npos) << e.what();
  }
  // A name the file system rejects (longer than a file name may be) is an unknown MCU, not a crash.
  const std::string too_long(400, 'm');
  EXPECT_NE(tinynas_test::input_error_message([&] { load_mcu(too_long); }).find("unknown MCU"), std::string::npos);
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  TempDir dir;
  EXPECT_NE(tinynas_test::input_error_message(
                [&] { load_experiment(dir.write("m.yaml", "space: " + space + "\nmcu: " + too_long + "\n")); })
                .find("unknown MCU"),
            std::string::npos);
}

TEST(Config, McuNetGridIsMcuNets) {
  const auto space = search_space::load_space(configs() + "/spaces/mcunet-imagenet.yaml");
  ASSERT_EQ(space.width_choices.size(), 9u);
  EXPECT_DOUBLE_EQ(space.width_choices[3], 0.5);  // 0.2 + 3 * 0.1 exactly, not 0.5000000000000001
  EXPECT_DOUBLE_EQ(space.width_choices.back(), 1.0);
  ASSERT_EQ(space.resolution_choices.size(), 12u);
  EXPECT_EQ(space.resolution_choices.front(), 48);
  EXPECT_EQ(space.resolution_choices.back(), 224);
}

TEST(Config, ExperimentsResolveTheirSpaceRelativeToThemselves) {
  for (const char* name : {"fashion-mnist", "fashion-mnist-progressive", "mcunet-imagenet", "cifar10"}) {
    const auto x = load_experiment(configs() + "/experiments/" + name + ".yaml");
    EXPECT_FALSE(x.space.resolution_choices.empty()) << name;
    EXPECT_EQ(x.stage1.samples, 1000) << name;
    EXPECT_FALSE(x.train.options.phases.empty()) << name;
  }
  // The default: a sandwich supernet of the Fashion-MNIST space with the shipped checkpoint.
  const auto fm = load_experiment(configs() + "/experiments/fashion-mnist.yaml");
  EXPECT_EQ(fm.train.method, "sandwich");
  ASSERT_EQ(fm.train.options.phases.size(), 1u);
  EXPECT_TRUE(fm.train.options.phases[0].sandwich);
  EXPECT_EQ(fm.train.options.phases[0].subnets_per_step, 4);
  EXPECT_EQ(fm.supernet.resolutions, (std::vector<int>{24, 32, 40}));
  EXPECT_NE(fm.supernet.checkpoint.find("supernet/pretrained/fashion-mnist/supernet.pt"), std::string::npos);
  EXPECT_EQ(fm.data.kind, "fashion-mnist");
  EXPECT_EQ(fm.data.holdout, 5000);
  // Progressive shrinking: six phases, the expand phase re-orders channels first.
  const auto ps = load_experiment(configs() + "/experiments/fashion-mnist-progressive.yaml");
  ASSERT_EQ(ps.train.options.phases.size(), 6u);
  EXPECT_TRUE(ps.train.options.phases[4].reorder_channels);
  EXPECT_EQ(ps.train.options.phases[5].expands, (std::vector<int>{3, 4, 6}));
  // The ImageNet experiment reads a folder; the default progressive schedule fills its phases.
  const auto in = load_experiment(configs() + "/experiments/mcunet-imagenet.yaml");
  EXPECT_EQ(in.data.kind, "folder");
  EXPECT_EQ(in.data.channels, 3);
  EXPECT_EQ(in.train.options.phases.front().name, "largest");
  EXPECT_EQ(load_experiment(default_experiment_path()).space.in_channels, 1);
  // CIFAR-10: RGB class folders with the small-image recipe and the data's own normalization.
  const auto cifar = load_experiment(configs() + "/experiments/cifar10.yaml");
  EXPECT_EQ(cifar.space.in_channels, 3);
  EXPECT_EQ(cifar.space.num_classes, 10);
  EXPECT_EQ(cifar.data.channels, 3);
  EXPECT_EQ(data::transform_of(cifar.data).kind, data::Transform::Kind::kSmall);
  EXPECT_TRUE(cifar.data.normalize_from_data);
  EXPECT_EQ(cifar.mcu.name, "stm32f412");
}

TEST(Config, SpaceYamlRoundTrips) {
  TempDir dir;
  const auto space = search_space::load_space(configs() + "/spaces/mcunet-imagenet.yaml");
  const auto again = search_space::load_space(dir.write("space.yaml", search_space::space_to_yaml(space)));
  EXPECT_EQ(again.width_choices, space.width_choices);
  EXPECT_EQ(again.resolution_choices, space.resolution_choices);
  EXPECT_EQ(again.base_widths, space.base_widths);
  EXPECT_EQ(again.expand_choices, space.expand_choices);
  EXPECT_EQ(again.num_classes, space.num_classes);
  // From text, as a calibration manifest holds it: the same space, errors naming the origin.
  const auto from_text = search_space::space_from_yaml(search_space::space_to_yaml(space), "manifest");
  EXPECT_EQ(from_text.name, space.name);
  EXPECT_EQ(from_text.width_choices, space.width_choices);
  EXPECT_EQ(from_text.depth_choices, space.depth_choices);
  EXPECT_THROW(search_space::space_from_yaml("kernel_choices: [4]\n", "manifest"), core::InputError);
  EXPECT_THROW(search_space::space_from_yaml("[1, 2]", "manifest"), core::InputError);
  // Found by fuzzing: names that do not survive being written and read back.
  for (const char* name : {"name: \r\n", "name:\n", "name: \"a\\tb\"\n"})
    EXPECT_THROW(search_space::space_from_yaml(name, "manifest"), core::InputError) << name;
}

// data.transform and data.normalize: the recipe for small images and the input normalization.
TEST(Config, DataTransformAndNormalization) {
  TempDir dir;
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  fs::create_directories(dir.path / "imgs/train");
  const auto load = [&](const std::string& data) {
    return load_experiment(dir.write("x.yaml", "space: " + space + "\ndata: " + data + "\n")).data;
  };
  // Defaults: the mild crop for Fashion-MNIST, ImageNet's recipe for folders; the fixed normalization.
  EXPECT_EQ(data::transform_of(load("{kind: fashion-mnist}")).kind, data::Transform::Kind::kMild);
  const auto folder = load("{kind: folder, path: imgs, channels: 3}");
  EXPECT_EQ(data::transform_of(folder).kind, data::Transform::Kind::kLarge);
  EXPECT_TRUE(folder.normalization.is_fixed());
  EXPECT_FALSE(folder.normalize_from_data);
  const auto small = load("{kind: folder, path: imgs, channels: 3, transform: {kind: small, pad: 2, cutout: 8}, normalize: data}");
  ASSERT_TRUE(small.transform.has_value());
  EXPECT_EQ(small.transform->kind, data::Transform::Kind::kSmall);
  EXPECT_EQ(small.transform->pad, 2);
  EXPECT_EQ(small.transform->cutout, 8);
  EXPECT_TRUE(small.normalize_from_data);
  EXPECT_EQ(load("{kind: folder, path: imgs, channels: 3, transform: small}").transform->pad, 4);
  const auto given = load("{kind: folder, path: imgs, channels: 3, normalize: {mean: [125, 123, 114], std: [63, 62, 67]}}");
  EXPECT_EQ(given.normalization.mean, (std::vector<double>{125, 123, 114}));
  EXPECT_EQ(given.normalization.std, (std::vector<double>{63, 62, 67}));
  for (const std::pair<const char*, const char*>& bad :
       {std::pair{"transform: tiny", "not known"}, {"transform: {kind: large, pad: 4}", "belong to the 'small'"},
        {"transform: {kind: small, pad: -1}", "pad"}, {"transform: {pad: 4}", "needs 'kind'"},
        {"normalize: always", "not known"}, {"normalize: {mean: [1, 2, 3]}", "needs both"},
        {"normalize: {mean: [1, 2], std: [1, 2]}", "one per channel"},
        {"normalize: {mean: [1, 2, 3], std: [1, 0, 3]}", "std"}}) {
    const std::string msg = tinynas_test::input_error_message(
        [&] { load(std::string("{kind: folder, path: imgs, channels: 3, ") + bad.first + "}"); });
    EXPECT_NE(msg.find("x.yaml: data"), std::string::npos) << bad.first << ": " << msg;
    EXPECT_NE(msg.find(bad.second), std::string::npos) << bad.first << ": " << msg;
  }
}

TEST(Config, BadFilesGiveInputErrorsNamingTheProblem) {
  TempDir dir;
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      search_space::load_space(path);
      ADD_FAILURE() << "accepted " << path;
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error((dir.path / "missing.yaml").string(), "does not exist");
  expect_error(dir.write("typo.yaml", "kernel_choice: [3]\n"), "unknown key 'kernel_choice'");
  expect_error(dir.write("broken.yaml", "kernel_choices: [3, 5\n"), "YAML error");
  expect_error(dir.write("even.yaml", "kernel_choices: [4]\n"), "odd");
  expect_error(dir.write("type.yaml", "in_channels: three\n"), "in_channels");
  expect_error(dir.write("range.yaml", "width_choices: {from: 1.0, to: 0.2, step: 0.1}\n"), "range");
  // Ranges that would never end or never fit in memory, and values no choice can take, fail at once.
  for (const char* range : {"{from: 0.2, to: 1.0, step: 1e-300}", "{from: 0.2, to: 1e12, step: 0.1}",
                            "{from: 0.2, to: .inf, step: 0.1}", "{from: .nan, to: 1.0, step: 0.1}",
                            "{from: 0.2, to: 1.0, step: .nan}"})
    expect_error(dir.write("runaway.yaml", std::string("width_choices: ") + range + "\n"), "width_choices");
  expect_error(dir.write("nan.yaml", "width_choices: [0.5, .nan]\n"), "finite");
  expect_error(dir.write("huge.yaml", "resolution_choices: {from: 32, to: 4294967328, step: 4096}\n"),
               "resolution_choices");
  expect_error(dir.write("wide.yaml", "resolution_choices: [32, 4294967328]\n"), "resolution_choices");
  expect_error(dir.write("fraction.yaml", "resolution_choices: {from: 32, to: 40, step: 2.5}\n"), "whole number");
  // A list as a key was a raw yaml-cpp "bad conversion" (exit 1); a repeated key kept its first value unseen;
  // an integer beyond an int is no in_channels.
  expect_error(dir.write("listkey.yaml", "? [in_channels, num_classes]\n: 3\n"), "plain names");
  expect_error(dir.write("twice.yaml", "num_classes: 10\nnum_classes: 100\n"), "'num_classes' appears twice");
  expect_error(dir.write("bigint.yaml", "in_channels: 4294967299\n"), "in_channels");
  // Values that once passed unseen: 0 channels, a negative holdout.
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  for (const char* data : {"{kind: folder, path: d, channels: 0}", "{kind: fashion-mnist, holdout: -5}"}) {
    const std::string msg = tinynas_test::input_error_message(
        [&] { load_experiment(dir.write("d.yaml", "space: " + space + "\ndata: " + data + "\n")); });
    EXPECT_NE(msg.find("d.yaml: data"), std::string::npos) << data << ": " << msg;
  }
  try {
    load_experiment(dir.write("x.yaml", "space: nowhere.yaml\n"));
    ADD_FAILURE();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere.yaml"), std::string::npos) << e.what();
  }
}

// data: kind speech_commands: a root and optional keywords; keys that would change its fixed splits,
// augmentation or input mapping are refused, naming the key.
TEST(Config, SpeechCommandsData) {
  TempDir dir;
  const std::string space = std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/fashion-mnist.yaml";
  fs::create_directories(dir.path / "speech");
  const auto load = [&](const std::string& data) {
    return load_experiment(dir.write("s.yaml", "space: " + space + "\ndata: " + data + "\n")).data;
  };
  const auto kws = load("{kind: speech_commands, path: speech, keywords: [yes, no], seed: 3}");
  EXPECT_EQ(kws.kind, "speech_commands");
  EXPECT_EQ(kws.path, (dir.path / "speech").string());
  EXPECT_EQ(kws.keywords, (std::vector<std::string>{"yes", "no"}));
  EXPECT_EQ(kws.seed, 3u);
  EXPECT_EQ(kws.channels, 1);
  EXPECT_TRUE(kws.normalization.is_fixed());
  EXPECT_FALSE(kws.transform.has_value());
  // Without keywords: the 10 standard ones; channels 1 and normalize fixed may be spelled out.
  const auto standard = load("{kind: speech_commands, path: speech, channels: 1, normalize: fixed}");
  EXPECT_EQ(standard.keywords.size(), 10u);
  EXPECT_EQ(standard.keywords.front(), "yes");
  EXPECT_EQ(standard.keywords.back(), "go");
  for (const std::pair<const char*, const char*>& bad :
       {std::pair{"{kind: speech_commands}", "'path'"},
        {"{kind: speech_commands, path: speech, transform: small}", "'transform'"},
        {"{kind: speech_commands, path: speech, keywords: yes}", "'keywords'"},
        {"{kind: speech_commands, path: speech, keywords: [yes, [no]]}", "'keywords'"},
        {"{kind: speech_commands, path: speech, keywords: []}", "'keywords'"},
        {"{kind: speech_commands, path: speech, holdout: 100}", "'holdout'"},
        {"{kind: speech_commands, path: speech, channels: 3}", "'channels'"},
        {"{kind: speech_commands, path: speech, normalize: data}", "'normalize'"},
        {"{kind: folder, path: speech, keywords: [yes]}", "'keywords'"},
        {"{kind: speech, path: speech}", "speech_commands"}}) {
    const std::string msg = tinynas_test::input_error_message([&] { load(bad.first); });
    EXPECT_NE(msg.find("s.yaml: data"), std::string::npos) << bad.first << ": " << msg;
    EXPECT_NE(msg.find(bad.second), std::string::npos) << bad.first << ": " << msg;
  }
}
