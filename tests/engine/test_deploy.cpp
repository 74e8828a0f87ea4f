// engine::deploy: the typed result of one call against the engine's own planner, Flash model and
// integer reference; on the emulated core, the run's instructions, stack peak and bit-identity.
#include <gtest/gtest.h>

#include <filesystem>

#include "small_network.h"
#include "test_helpers.h"
#include "zoo_files.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/core/errors.h"
#include "tinynas/engine/audio_frontend.h"
#include "tinynas/engine/deploy.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/planner.h"
#include "tinynas/search_space/cost.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::TempDir;

namespace {

namespace fs = std::filesystem;

struct Fixture {
  FloatModel model;
  DeployOptions options;
};

Fixture deployment(const search_space::NetworkDesc& net, const std::string& out) {
  Fixture f;
  f.model = random_float_model(build_graph(net), 3);
  f.options.out = out;
  f.options.calibration_inputs = random_image_inputs(f.model.graph, 8, 4);
  const QuantizedModel qm = quantize(f.model, f.options.calibration_inputs);
  for (const auto& x : random_image_inputs(f.model.graph, 2, 5)) f.options.bundle.test_inputs.push_back(quantize_input(qm, x));
  return f;
}

Fixture small_deployment(const std::string& out) {
  Fixture f = deployment(tinynas_test::small_network(), out);
  f.model.graph.name = "small";
  return f;
}

}  // namespace

TEST(Deploy, WritesAndBuildsForTheHostWithThePlannersFigures) {
  TempDir dir;
  Fixture f = small_deployment((dir.path / "bundle").string());
  f.options.board = &board_by_name("host");
  const Deployment d = deploy(f.model, f.options);
  EXPECT_EQ(d.bundle_dir, f.options.out);
  EXPECT_EQ(d.bundle.arena_bytes, plan_arena_bytes(f.model.graph));
  EXPECT_EQ(d.flash_model.total(), estimate_flash(f.model.graph, 0).total());
  EXPECT_EQ(d.bundle.macs, search_space::compute_macs(tinynas_test::small_network()));
  EXPECT_TRUE(d.built);
  EXPECT_TRUE(fs::is_regular_file(d.build.elf));
  EXPECT_EQ(d.arena_symbol_bytes, -1);  // no ELF symbol table is read for the host
  EXPECT_FALSE(d.run.has_value());
  EXPECT_TRUE(fs::is_regular_file(d.report_path));
  EXPECT_TRUE(fs::is_regular_file(fs::path(f.options.out) / "model.c"));
}

TEST(Deploy, WithoutABoardOnlyWritesTheBundle) {
  TempDir dir;
  Fixture f = small_deployment((dir.path / "bundle").string());
  const Deployment d = deploy(f.model, f.options);
  EXPECT_FALSE(d.built);
  EXPECT_FALSE(fs::exists(fs::path(f.options.out) / "build"));
  EXPECT_TRUE(fs::is_regular_file(d.report_path));
}

TEST(Deploy, RefusesAnEmulatorThatIsNotAQemuMachine) {
  TempDir dir;
  Fixture f = small_deployment((dir.path / "bundle").string());
  f.options.emulator = &board_by_name("stm32f746");
  EXPECT_NE(tinynas_test::input_error_message([&] { deploy(f.model, f.options); }).find("not a QEMU machine"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(f.options.out));  // refused before anything is written
}

class DeployQemu : public ::testing::TestWithParam<std::string> {};

// The small network, and ResNet-8 (basic blocks: a 1x1 stride-2 conv, adds with a ReLU clamp).
TEST_P(DeployQemu, RunsOnTheEmulatedCoreBitIdenticalWithinTheStackBound) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  TempDir dir;
  const std::string out = (dir.path / "bundle").string();
  Fixture f = GetParam() == "small" ? small_deployment(out)
                                    : deployment(search_space::load_zoo_json(tinynas_test::resnet8_path()), out);
  f.options.board = &board_by_name("mps2-an386");
  f.options.emulator = &board_by_name("mps2-an386");
  const Deployment d = deploy(f.model, f.options);
  ASSERT_TRUE(d.run.has_value());
  EXPECT_EQ(d.arena_symbol_bytes, d.bundle.arena_bytes);
  EXPECT_GT(d.build.flash_bytes(), d.bundle.constant_bytes);
  EXPECT_EQ(d.run->output.inferences.size(), f.options.bundle.test_inputs.size());
  // The run's outputs are the integer reference's (deploy throws otherwise); check it independently.
  Int8Interpreter reference(d.model);
  for (size_t i = 0; i < f.options.bundle.test_inputs.size(); ++i)
    EXPECT_EQ(d.run->output.inferences[i].output, reference.run(f.options.bundle.test_inputs[i]));
  EXPECT_EQ(d.run->instructions, d.run->output.inferences.back().instructions);
  EXPECT_GT(d.run->instructions, uint64_t(d.bundle.macs));
  EXPECT_GT(d.run->stack_peak_bytes, 0);
  EXPECT_LE(d.run->stack_peak_bytes, kStackBoundBytes);
  EXPECT_NE(run_totals(d).find("total: " + std::to_string(d.run->instructions) + " instructions"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Networks, DeployQemu, ::testing::Values("small", "resnet8"));

// Patch-based firmware: the zoo's 48x48 MCUNet with its first blocks run in 3x3 patches, and ResNet-8
// (strided 1x1 shortcuts read part of a patch buffer) in 2x2: on the emulated Cortex-M7 both give the
// layer-wise integer reference's outputs; the arena is the patch schedule's, smaller than layer by layer,
// and the stage's layers report the MACs of every patch.
TEST(DeployPatches, RunOnTheEmulatedCoreBitIdenticalToTheLayerWiseReference) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  for (const auto& [net, schedule] :
       {std::pair{search_space::load_zoo_json(tinynas_test::zoo_path("mcunet-10fps_imagenet.json")), PatchSchedule{2, 3}},
        std::pair{search_space::load_zoo_json(tinynas_test::resnet8_path()), PatchSchedule{2, 2}}}) {
    SCOPED_TRACE(net.name);
    TempDir dir;
    Fixture f = deployment(net, (dir.path / "bundle").string());
    f.options.bundle.patch = schedule;
    f.options.board = &board_by_name("mps2-an500");
    f.options.emulator = &board_by_name("mps2-an500");
    const Deployment d = deploy(f.model, f.options);
    ASSERT_TRUE(d.run.has_value());
    const PatchStage stage = plan_patch_stage(f.model.graph, schedule);
    EXPECT_EQ(d.bundle.arena_bytes, plan_arena_bytes(f.model.graph, stage));
    EXPECT_LT(d.bundle.arena_bytes, plan_arena_bytes(f.model.graph));
    EXPECT_EQ(d.arena_symbol_bytes, d.bundle.arena_bytes);
    Int8Interpreter reference(d.model);
    for (size_t i = 0; i < f.options.bundle.test_inputs.size(); ++i)
      EXPECT_EQ(d.run->output.inferences[i].output, reference.run(f.options.bundle.test_inputs[i]));
    ASSERT_EQ(d.run->output.layers.size(), f.model.graph.ops.size());
    int64_t total = 0;
    for (size_t l = 0; l < d.run->output.layers.size(); ++l) {
      EXPECT_EQ(d.run->output.layers[l].macs, executed_op_macs(f.model.graph, &stage, int(l)));
      total += d.run->output.layers[l].macs;
    }
    EXPECT_EQ(total, d.bundle.macs);
    EXPECT_LE(d.run->stack_peak_bytes, kStackBoundBytes);
  }
}

namespace {

// A 224x224 RGB network whose stem output (112x112x16) and input together need more than the
// STM32F746's 320 KB layer by layer.
search_space::NetworkDesc wide_input_network() {
  search_space::NetworkDesc n;
  n.name = "wide-input";
  n.resolution = 224;
  n.in_channels = 3;
  n.stem_out = 16;
  n.stem_kernel = 3;
  n.stem_stride = 2;
  n.blocks = {search_space::BlockDesc{16, 16, 16, 3, 2, false, false}, search_space::BlockDesc{16, 24, 48, 5, 2, true, false},
              search_space::BlockDesc{24, 24, 72, 3, 1, true, true}, search_space::BlockDesc{24, 32, 96, 3, 2, true, false}};
  n.feature_mix_out = 64;
  n.num_classes = 10;
  return n;
}

}  // namespace

// Too big for the STM32F746 layer by layer, it fits patch by patch: the firmware links for the board
// (its arena in the ELF is the patch plan's) and runs on the emulated Cortex-M7 bit-identical to the
// layer-wise integer reference.
TEST(DeployPatches, TooBigLayerByLayerFitsTheStm32f746PatchByPatch) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  TempDir dir;
  Fixture f = deployment(wide_input_network(), (dir.path / "bundle").string());
  const Board& board = board_by_name("stm32f746");
  EXPECT_THROW(check_fits_board(f.model.graph, board), core::InputError);
  f.options.bundle.patch = choose_patch_schedule(f.model.graph, 0.15).schedule;
  ASSERT_FALSE(f.options.bundle.patch.layer_wise());
  EXPECT_NO_THROW(check_fits_board(f.model.graph, board, f.options.bundle.patch));
  f.options.board = &board;
  f.options.emulator = &board_by_name("mps2-an500");
  const Deployment d = deploy(f.model, f.options);
  ASSERT_TRUE(d.built);
  EXPECT_EQ(d.arena_symbol_bytes, d.bundle.arena_bytes);
  EXPECT_LE(d.build.ram_bytes(), board.sram_bytes);
  EXPECT_GT(plan_arena_bytes(f.model.graph) + kStackBoundBytes, board.sram_bytes);
  ASSERT_TRUE(d.run.has_value());
  Int8Interpreter reference(d.model);
  for (size_t i = 0; i < f.options.bundle.test_inputs.size(); ++i)
    EXPECT_EQ(d.run->output.inferences[i].output, reference.run(f.options.bundle.test_inputs[i]));
}

namespace {

// The small network on the MFCC front-end's 49 x 10 x 1 features.
search_space::NetworkDesc small_kws_network() {
  search_space::NetworkDesc n = tinynas_test::small_network();
  n.name = "small-kws";
  n.resolution = 49;
  n.input_width = 10;
  n.frontend = "mfcc";
  return n;
}

}  // namespace

// The audio entry point: int16 clips in; the firmware's front-end and layers on the emulated M4 give
// the integer reference's outputs for the same clips (the MFCC kernel, then the layers, in one arena);
// the front-end's instructions are reported apart, within the inference's.
TEST(DeployAudio, ClipsRunThroughTheFrontEndBitIdentical) {
  TempDir dir;
  Fixture f = deployment(small_kws_network(), (dir.path / "bundle").string());
  ASSERT_EQ(f.model.graph.frontend, Frontend::Mfcc);
  f.options.bundle.test_audio = random_audio_clips(16000, 2, 9);
  // A quiet clip as well: most mel channels at the floor.
  f.options.bundle.test_audio.push_back(std::vector<int16_t>(16000, 0));
  for (int n = 0; n < 16000; n += 7) f.options.bundle.test_audio.back()[size_t(n)] = int16_t(n % 300 - 150);
  const bool emulate = arm_toolchain_available() && qemu_available();
  f.options.board = &board_by_name(emulate ? "mps2-an386" : "host");
  if (emulate) f.options.emulator = &board_by_name("mps2-an386");
  const Deployment d = deploy(f.model, f.options);
  EXPECT_EQ(d.bundle.arena_bytes, plan_arena_bytes(f.model.graph));
  EXPECT_GE(d.bundle.arena_bytes, 32000 + 2208 + 492);  // the front-end's step (planner test)
  EXPECT_EQ(d.bundle.test_input_bytes, 3 * 32000);
  EXPECT_TRUE(fs::is_regular_file(fs::path(d.bundle_dir) / "frontend.c"));
  EXPECT_EQ(d.flash_model.frontend_bytes, 6222);
  // The interpreter's audio path is the front-end kernel followed by the feature path.
  Int8Interpreter reference(d.model), features_first(d.model);
  const AudioFrontendConfig config;
  const AudioFrontendFixed fixed = audio_frontend_fixed(config, audio_frontend_tables(config));
  const tn_mfcc_params params = fixed.params();
  for (const auto& clip : f.options.bundle.test_audio) {
    std::vector<int8_t> features(490);
    std::vector<int32_t> scratch(size_t(fixed.scratch_bytes() / 4));
    ASSERT_EQ(tn_mfcc_s8(&params, clip.data(), features.data(), scratch.data()), TN_OK);
    EXPECT_EQ(reference.run_audio(clip), features_first.run(features));
  }
  EXPECT_THROW(reference.run_audio(std::vector<int16_t>(8000, 0)), core::InputError);
  if (!emulate) return;
  ASSERT_TRUE(d.run.has_value());
  ASSERT_EQ(d.run->output.inferences.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(d.run->output.inferences[i].output, reference.run_audio(f.options.bundle.test_audio[i])) << i;
  EXPECT_EQ(d.arena_symbol_bytes, d.bundle.arena_bytes);
  // 3.55 million instructions for the front-end on the M4 (test_audio_frontend.cpp), the rest the layers.
  EXPECT_GT(d.run->output.frontend_instructions, 3000000u);
  EXPECT_LT(d.run->output.frontend_instructions, 4000000u);
  uint64_t layers = 0;
  for (const auto& l : d.run->output.layers) layers += l.instructions;
  EXPECT_GT(d.run->instructions, d.run->output.frontend_instructions + layers);
  EXPECT_LT(d.run->instructions, d.run->output.frontend_instructions + layers + 2000);
  EXPECT_LE(d.run->stack_peak_bytes, kStackBoundBytes);
  EXPECT_NE(layer_table(d.run->output).find("| front-end | tn_mfcc_s8 |"), std::string::npos);
}

// MLPerf Tiny's DS-CNN (its 10x4 stem padded 4 rows above and 5 below, as TF pads it; ReLU after every
// 1x1 conv) on the emulated Cortex-M7: the firmware gives the integer reference's outputs.
TEST(DeployAudio, DsCnnRunsBitIdenticalOnTheCortexM7) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  TempDir dir;
  Fixture f = deployment(search_space::load_zoo_json(tinynas_test::dscnn_path()), (dir.path / "bundle").string());
  ASSERT_EQ(f.model.graph.ops[0].pad_h, 4);
  f.options.bundle.test_audio = random_audio_clips(16000, 2, 21);
  f.options.board = &board_by_name("mps2-an500");
  f.options.emulator = &board_by_name("mps2-an500");
  const Deployment d = deploy(f.model, f.options);
  ASSERT_TRUE(d.run.has_value());
  ASSERT_EQ(d.run->output.inferences.size(), 2u);
  Int8Interpreter reference(d.model);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(d.run->output.inferences[i].output, reference.run_audio(f.options.bundle.test_audio[i])) << i;
  EXPECT_EQ(d.run->output.layers.size(), 11u);
  EXPECT_LE(d.run->stack_peak_bytes, kStackBoundBytes);
}

// A bundle of a front-end graph needs clips, and a model whose int8 input is the features unchanged.
TEST(DeployAudio, RefusesMissingClipsAndAnotherInputQuantization) {
  TempDir dir;
  Fixture f = deployment(small_kws_network(), (dir.path / "bundle").string());
  EXPECT_NE(tinynas_test::input_error_message([&] { deploy(f.model, f.options); }).find("clip"), std::string::npos);
  f.options.bundle.test_audio = random_audio_clips(16000, 1, 9);
  f.model.input_mean = 100.0f;  // zero point -28
  EXPECT_NE(tinynas_test::input_error_message([&] { deploy(f.model, f.options); }).find("zero point"), std::string::npos);
}

TEST(PeakSram, IsTheArenaPlusTheStackBound) {
  const Graph g = build_graph(tinynas_test::small_network());
  EXPECT_EQ(peak_sram_bytes(g), plan_arena_bytes(g) + kStackBoundBytes);
  EXPECT_EQ(kStackBoundBytes, 1024);
}
