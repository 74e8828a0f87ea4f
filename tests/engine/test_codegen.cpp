// The code generator: a bundle built for the host prints the outputs of the host interpreter; built
// for QEMU's Cortex-M4 and M7 it prints the same bytes and counts instructions per layer; a model
// too big for a board fails its link with the board's name; bundles replace old ones atomically.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "small_network.h"
#include "test_helpers.h"
#include "tinynas/engine/codegen.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/search_space/network.h"
#include "tinynas/search_space/zoo_json.h"
#include "zoo_files.h"

using namespace tinynas;
using namespace tinynas::engine;
namespace fs = std::filesystem;

namespace {

QuantizedModel random_quantized(const Graph& g, uint64_t seed) {
  return quantize(random_float_model(g, seed), random_image_inputs(g, 4, seed + 1));
}

BundleOptions inputs_for(const QuantizedModel& qm, int n, uint64_t seed) {
  BundleOptions o;
  for (const auto& x : random_image_inputs(qm.graph, n, seed)) o.test_inputs.push_back(quantize_input(qm, x));
  return o;
}

FirmwareOutput build_and_run(const std::string& dir, const std::string& board_name) {
  const Board& board = board_by_name(board_name);
  const BuildResult build = build_bundle(dir, board);
  EXPECT_TRUE(build.ok) << build.error_summary();
  if (!build.ok) return {};
  const RunResult run = board.is_host() ? run_host(build.elf, 120) : run_in_qemu(build.elf, board, 300);
  EXPECT_TRUE(run.ok) << run.output << run.errors;
  return parse_firmware_output(run.output);
}

// The bundle of qm with two test inputs, run on the host and on both emulated cores.
struct HostAndCoreRuns {
  FirmwareOutput host;
  std::vector<std::pair<std::string, FirmwareOutput>> cores;
};
HostAndCoreRuns run_on_host_and_cores(const QuantizedModel& qm, uint64_t input_seed, int inferences = 2) {
  tinynas_test::TempDir tmp;
  const std::string dir = (tmp.path / "bundle").string();
  write_bundle(qm, inputs_for(qm, inferences, input_seed), dir);
  HostAndCoreRuns runs;
  runs.host = build_and_run(dir, "host");
  for (const char* board : {"mps2-an386", "mps2-an500"}) runs.cores.emplace_back(board, build_and_run(dir, board));
  return runs;
}

// Every core ran as many inferences as the host and printed the same outputs, bit for bit.
void expect_cores_match_host(const HostAndCoreRuns& runs) {
  for (const auto& [board, arm] : runs.cores) {
    SCOPED_TRACE(board);
    ASSERT_EQ(arm.inferences.size(), runs.host.inferences.size());
    for (size_t i = 0; i < arm.inferences.size(); ++i)
      EXPECT_EQ(arm.inferences[i].output, runs.host.inferences[i].output) << "input " << i;
  }
}

// A float as a C literal that reads back as the same float.
std::string float_literal_for_test(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9e", double(v));
  return std::string(text) + "f";
}

// Weights of +-1 at every `every`-th place and 0 elsewhere, no bias, multiplier 1/2 and shift -2: a
// quarter of the values before the shift end in binary .10, so rounding ties (and the sign term of
// negative ones) are common.
void make_rounding_ties(QuantizedOpParams& p, size_t every) {
  for (size_t i = 0; i < p.weights.size(); ++i) p.weights[i] = int8_t(i % every == 0 ? (i % 2 ? 1 : -1) : 0);
  for (int32_t& b : p.bias) b = 0;
  for (QuantizedMultiplier& m : p.requant) m = QuantizedMultiplier{1 << 30, -2};
}

}  // namespace

TEST(Codegen, HostBundlePrintsTheInterpretersOutputs) {
  const Graph g = build_graph(tinynas_test::small_network());
  const QuantizedModel qm = random_quantized(g, 11);
  const BundleOptions options = inputs_for(qm, 3, 5);
  tinynas_test::TempDir tmp;
  const std::string dir = (tmp.path / "bundle").string();
  const BundleSummary s = write_bundle(qm, options, dir);
  EXPECT_EQ(s.arena_bytes, plan_arena_bytes(g));
  for (const char* f : {"model.c", "model.h", "main.c", "Makefile", "kernels/tn_conv.c", "tn_board.h"})
    EXPECT_NE(std::find(s.files.begin(), s.files.end(), f), s.files.end()) << f;
  const FirmwareOutput out = build_and_run(dir, "host");
  ASSERT_EQ(out.inferences.size(), 3u);
  EXPECT_EQ(out.arena_bytes, s.arena_bytes);
  EXPECT_EQ(out.layers.size(), g.ops.size());
  Int8Interpreter interpreter(qm);
  for (size_t i = 0; i < 3; ++i) {
    const auto expected = interpreter.run(options.test_inputs[i]);
    EXPECT_EQ(out.inferences[i].output, expected) << "input " << i;
    EXPECT_EQ(out.inferences[i].checksum, output_checksum(expected));
  }
}

// model.h states the edges of the model: shapes, NHWC layout, scale and zero point as the quantizer
// chose them, and its float <-> int8 helpers, compiled with the host's C compiler, give what the engine
// gives (quantize_input, dequantize_output) on a sweep of values, halves and the clamp included.
TEST(Codegen, ModelHeaderStatesTheQuantizationAndItsHelpersMatchTheEngine) {
  const Graph g = build_graph(tinynas_test::small_network());
  FloatModel fm = random_float_model(g, 11);
  std::vector<std::vector<float>> inputs = random_image_inputs(g, 4, 12);
  for (auto& x : inputs)
    for (float& v : x) v = v * 3.0f + 1.0f;  // [-2, 4): an input range of its own
  fit_input_quantization(fm, inputs);
  const QuantizedModel qm = quantize(fm, inputs);
  tinynas_test::TempDir tmp;
  const std::string dir = (tmp.path / "bundle").string();
  write_bundle(qm, inputs_for(qm, 1, 5), dir);
  const std::string header = core::read_text_file(dir + "/model.h");
  const TensorQuant& in = qm.tensors[size_t(g.input)];
  const TensorQuant& out = qm.tensors[size_t(g.output)];
  EXPECT_NE(header.find("#define MODEL_INPUT_ZERO_POINT " + std::to_string(in.zero_point) + "\n"), std::string::npos);
  EXPECT_NE(header.find("#define MODEL_OUTPUT_ZERO_POINT " + std::to_string(out.zero_point) + "\n"), std::string::npos);
  EXPECT_NE(header.find("NHWC"), std::string::npos);

  // Values on both sides of every rounding half, beyond both ends, and the ends of the output.
  std::vector<float> xs;
  for (int k = -300; k <= 300; ++k)
    for (double d : {-1e-3, 0.0, 0.5, 0.5 + 1e-3})
      xs.push_back(float((k + d) * in.scale - in.zero_point * in.scale));
  std::string program = "#include <stdio.h>\n#include \"model.h\"\nstatic const float xs[] = {";
  for (size_t i = 0; i < xs.size(); ++i) program += (i ? ", " : "") + float_literal_for_test(xs[i]);
  program += "};\nint main(void) {\n  unsigned i; int q;\n"
             "  for (i = 0; i < sizeof xs / sizeof xs[0]; ++i) printf(\"%d\\n\", (int)model_quantize_input(xs[i]));\n"
             "  for (q = -128; q < 128; ++q) printf(\"%.9g\\n\", (double)model_dequantize_output((int8_t)q));\n"
             "  return 0;\n}\n";
  { std::ofstream f(dir + "/edges.c"); f << program; }
  const std::string command = "cd " + dir + " && cc -std=c99 -Wall -Wextra -Werror -I. -Ikernels edges.c -o edges && ./edges > edges.txt";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::istringstream printed(core::read_text_file(dir + "/edges.txt"));
  const std::vector<int8_t> expected = quantize_input(qm, xs);
  for (size_t i = 0; i < xs.size(); ++i) {
    int q = 0;
    printed >> q;
    ASSERT_EQ(q, int(expected[i])) << "x = " << xs[i] << ", input scale " << in.scale << ", zero point " << in.zero_point;
  }
  std::vector<int8_t> all_outputs;
  for (int q = -128; q < 128; ++q) all_outputs.push_back(int8_t(q));
  const std::vector<float> reals = dequantize_output(qm, all_outputs);
  for (size_t i = 0; i < reals.size(); ++i) {
    float r = 0;
    printed >> r;
    ASSERT_EQ(r, reals[i]) << "q = " << int(all_outputs[i]);
  }
}

TEST(Codegen, CortexMRunsAreBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  // A zoo network with random weights (reduced resolution keeps the run short) and every op kind of
  // the search space: stem, expand, depthwise 3/5/7, project, residual adds, pooling, classifier.
  search_space::NetworkDesc net = search_space::load_zoo_json(tinynas_test::zoo_path("mcunet-320kb-1mb_imagenet.json"));
  net.resolution = 48;
  net.num_classes = 10;
  const Graph g = build_graph(net);
  const HostAndCoreRuns runs = run_on_host_and_cores(random_quantized(g, 3), 9);
  const FirmwareOutput& host = runs.host;
  ASSERT_EQ(host.inferences.size(), 2u);
  for (const auto& [board, arm] : runs.cores) {
    SCOPED_TRACE(board);
    ASSERT_EQ(arm.inferences.size(), 2u);
    for (size_t i = 0; i < 2; ++i) EXPECT_EQ(arm.inferences[i].output, host.inferences[i].output) << "input " << i;
    ASSERT_EQ(arm.layers.size(), g.ops.size());
    uint64_t sum = 0;
    for (const auto& l : arm.layers) {
      EXPECT_GT(l.instructions, 0u) << l.kernel;
      sum += l.instructions;
    }
    // The whole invoke is the layers plus the timing itself (a few instructions per layer).
    EXPECT_GE(arm.inferences[1].instructions + 40, sum);
    EXPECT_LE(arm.inferences[1].instructions, sum + 200 * arm.layers.size());
    EXPECT_GT(arm.stack_peak_bytes, 0u);
    EXPECT_LT(arm.stack_peak_bytes, 1024u);  // the bound the README states
  }
}

// The convolutions' matrix multiply on the cores runs assembly steps of 8 pixels; its row lengths
// (4 values a group) enter the step's loop at every one of its four groups, with odd and even channel
// counts, both activations and stride-2 standard convolutions. The two inputs and the stride-2 maps
// after them leave every last, partial step of 1 to 7 pixels (9x11: 3, 5x6: 6, 3x3: 1, 2x2: 4;
// 5x9: 5, 3x5: 7, 2x3: 6, 1x2: 2). The output is the last convolution's map itself, so no pooling
// hides a wrong value.
TEST(Codegen, CortexMConvolutionShapesAreBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  struct Layer {
    OpKind kind;
    int kernel, stride, out_c;
    Activation act;
  };
  // Groups of 4 row values: 7, 2, 5, 3, 10, 13, 2, 4, 54 (every remainder modulo 4), then 3 and 4.
  const std::vector<Layer> layers = {{OpKind::Conv2D, 3, 1, 8, Activation::Relu6},
                                     {OpKind::PointwiseConv2D, 1, 1, 20, Activation::Relu6},
                                     {OpKind::PointwiseConv2D, 1, 1, 12, Activation::None},
                                     {OpKind::PointwiseConv2D, 1, 1, 40, Activation::Relu6},
                                     {OpKind::PointwiseConv2D, 1, 1, 52, Activation::Relu6},
                                     {OpKind::PointwiseConv2D, 1, 1, 7, Activation::None},
                                     {OpKind::PointwiseConv2D, 1, 1, 16, Activation::Relu6},
                                     {OpKind::PointwiseConv2D, 1, 1, 24, Activation::None},
                                     {OpKind::Conv2D, 3, 2, 10, Activation::None},
                                     {OpKind::PointwiseConv2D, 1, 1, 13, Activation::Relu6},
                                     {OpKind::Conv2D, 3, 2, 9, Activation::None},
                                     {OpKind::PointwiseConv2D, 1, 1, 11, Activation::None},
                                     {OpKind::Conv2D, 3, 2, 6, Activation::Relu6}};
  for (const auto& [in_h, in_w, seed] : {std::tuple{9, 11, 11}, std::tuple{5, 9, 13}}) {
    SCOPED_TRACE(std::to_string(in_h) + "x" + std::to_string(in_w));
    Graph g;
    g.name = "convolution shapes";
    g.input = g.add_tensor(in_h, in_w, 3);
    int x = g.input;
    for (const Layer& l : layers) {
      const Tensor& in = g.tensors[size_t(x)];
      const int h = search_space::conv_out_size(in.h, l.stride), w = search_space::conv_out_size(in.w, l.stride);
      const int y = g.add_tensor(h, w, l.out_c);
      g.ops[size_t(g.add_op(l.kind, x, y, l.kernel, l.stride))].activation = l.act;
      x = y;
    }
    g.output = x;
    const Tensor& out = g.tensors[size_t(x)];
    const HostAndCoreRuns runs = run_on_host_and_cores(random_quantized(g, seed), seed + 1);
    const FirmwareOutput& host = runs.host;
    ASSERT_EQ(host.inferences.size(), 2u);
    ASSERT_EQ(host.inferences[0].output.size(), size_t(out.h * out.w * out.c));
    expect_cores_match_host(runs);
  }
}

// 3x3 depthwise layers with 3x3 outputs run assembly output blocks on the cores (stride 2 over a 6x6
// map, then stride 1 over the 3x3 map, in place or not as the planner chooses), two channels a
// plane fill with an odd channel count. The second run makes rounding ties common in the last
// layer (a few weights of +-1, multiplier 1/2, shift -2), so the negative ties' sign term is exercised.
TEST(Codegen, CortexMSmallMapDepthwiseIsBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  for (const bool ties : {false, true}) {
    SCOPED_TRACE(ties ? "ties" : "random");
    Graph g;
    g.name = "small-map depthwise";
    g.input = g.add_tensor(6, 6, 13);
    const int middle = g.add_tensor(3, 3, 13);
    g.output = g.add_tensor(3, 3, 13);
    g.add_op(OpKind::DepthwiseConv2D, g.input, middle, 3, 2);
    g.add_op(OpKind::DepthwiseConv2D, middle, g.output, 3, 1);
    QuantizedModel qm = random_quantized(g, 31);
    if (ties) make_rounding_ties(qm.params.back(), 5);
    const int inferences = 12;
    const HostAndCoreRuns runs = run_on_host_and_cores(qm, 32, inferences);
    const FirmwareOutput& host = runs.host;
    ASSERT_EQ(host.inferences.size(), size_t(inferences));
    ASSERT_EQ(host.inferences[0].output.size(), size_t(3 * 3 * 13));
    expect_cores_match_host(runs);
  }
}

// 3x3 depthwise layers beyond the small-map paths run assembly plane fills, multiply and
// requantization passes on the cores: stride 1 with outputs of at most 33 columns over the fixed-width
// plane, their pairs run straight (entered at 10, 9, 16, 5, 8 and 9 pairs a row; odd widths of 16, 4 and
// 8 pairs and a single output) and wider rows in the four-pair loop (widths 36 and 35: 18 and 17
// pairs, the plane rounded up to an even width); rows of at most 32 input values filled straight (all
// eight groups, fewer, with last pairs and single values or none), longer ones in the fill's loop; one
// block of sums per channel for the narrow maps, blocks of 12 and 6 or 11 and 7 rows for the wider ones, whose sum
// counts leave 4, 2 and 1 past the requantization's groups of 8; stride 2 with even and odd output
// widths (a single output ending each row). The second case makes rounding ties common in every layer
// (a few weights of +-1, multiplier 1/2, shift -2).
TEST(Codegen, CortexMRowDepthwiseIsBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  struct Case {
    int width;
    bool ties;
  };
  for (const Case& c : {Case{20, false}, Case{18, true}, Case{32, false}, Case{33, false}, Case{36, false},
                        Case{35, false}}) {
    SCOPED_TRACE(c.width);
    const int half = (c.width + 1) / 2;
    Graph g;
    g.name = "row depthwise";
    g.input = g.add_tensor(18, c.width, 13);
    const int wide = g.add_tensor(18, c.width, 13);
    const int strided = g.add_tensor(9, half, 13);
    g.output = g.add_tensor(9, half, 13);
    g.add_op(OpKind::DepthwiseConv2D, g.input, wide, 3, 1);
    g.add_op(OpKind::DepthwiseConv2D, wide, strided, 3, 2);
    g.add_op(OpKind::DepthwiseConv2D, strided, g.output, 3, 1);
    QuantizedModel qm = random_quantized(g, 41);
    if (c.ties)
      for (QuantizedOpParams& dw : qm.params) make_rounding_ties(dw, 5);
    const int inferences = 4;
    const HostAndCoreRuns runs = run_on_host_and_cores(qm, 42, inferences);
    const FirmwareOutput& host = runs.host;
    ASSERT_EQ(host.inferences.size(), size_t(inferences));
    ASSERT_EQ(host.inferences[0].output.size(), size_t(9 * half * 13));
    expect_cores_match_host(runs);
  }
}

// Stride-2 3x3 depthwise layers with whole groups of four channels run the cores' four-channel assembly
// straight from the input (the host build its plane path): a map with padding on every side whose rows
// hold an even number of windows after the left pair, and one with an odd number (a last window alone)
// and a bottom row past the map; the second case makes rounding ties common.
TEST(Codegen, CortexMStrideTwoDepthwiseQuadsAreBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  struct Case {
    int in_h, in_w, channels, out_h, out_w;
    bool ties;
  };
  for (const Case& c : {Case{20, 20, 16, 10, 10, false}, Case{19, 17, 8, 10, 9, true}}) {
    SCOPED_TRACE(c.in_w);
    Graph g;
    g.name = "stride-2 depthwise quads";
    g.input = g.add_tensor(c.in_h, c.in_w, c.channels);
    g.output = g.add_tensor(c.out_h, c.out_w, c.channels);
    g.add_op(OpKind::DepthwiseConv2D, g.input, g.output, 3, 2);
    QuantizedModel qm = random_quantized(g, 43);
    if (c.ties)
      for (QuantizedOpParams& dw : qm.params) make_rounding_ties(dw, 7);
    const int inferences = 3;
    const HostAndCoreRuns runs = run_on_host_and_cores(qm, 44, inferences);
    ASSERT_EQ(runs.host.inferences.size(), size_t(inferences));
    ASSERT_EQ(runs.host.inferences[0].output.size(), size_t(c.out_h * c.out_w * c.channels));
    expect_cores_match_host(runs);
  }
}

// 1x1 convolutions of 12 input channels or more (whole groups of four) run the cores' six-pixel steps:
// rows of 3, 17, 18, 33 and 16 groups enter the 16-group loop after 2, 16, 17, 32 and 15 groups (at
// every kind of entry, with one and two passes); the maps' 77 and 20 pixels leave last steps of 5 and
// 2 pixels, which run as partial eight-pixel steps. The second case makes rounding ties common.
TEST(Codegen, CortexMSixPixelPointwiseStepsAreBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  struct Case {
    int h, w;
    bool ties;
  };
  for (const Case& c : {Case{7, 11, false}, Case{4, 5, true}}) {
    SCOPED_TRACE(c.h * c.w);
    Graph g;
    g.name = "six-pixel pointwise steps";
    g.input = g.add_tensor(c.h, c.w, 12);
    int x = g.input;
    for (const int out_c : {68, 72, 132, 64, 12}) {
      const int y = g.add_tensor(c.h, c.w, out_c);
      g.add_op(OpKind::PointwiseConv2D, x, y, 1, 1);
      x = y;
    }
    g.output = x;
    QuantizedModel qm = random_quantized(g, 51);
    if (c.ties)
      for (QuantizedOpParams& pw : qm.params) make_rounding_ties(pw, 5);
    const HostAndCoreRuns runs = run_on_host_and_cores(qm, 52);
    ASSERT_EQ(runs.host.inferences.size(), 2u);
    ASSERT_EQ(runs.host.inferences[0].output.size(), size_t(c.h * c.w * 12));
    expect_cores_match_host(runs);
  }
}

// Classifiers of at most 4 outputs run an assembly loop on the cores, 8 input values a pass, a call per
// pair of rows: an even (96 inputs, 12 passes) and an odd (168, 21) number of passes, an odd output
// count (the last row paired with itself) and a single output, after a widened fully connected layer.
// The last case makes rounding ties common (a few weights of +-1, multiplier 1/2, shift -2: a quarter
// of the values before the shift end in binary .10), so the negative ties' sign term is exercised.
TEST(Codegen, CortexMClassifierShapesAreBitIdenticalToTheHost) {
  if (!arm_toolchain_available() || !qemu_available()) GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  struct Case {
    std::vector<int> features;
    bool ties;
  };
  const Case cases[] = {{{200, 96, 3}, false}, {{168, 1}, false}, {{96, 2}, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.features.front());
    Graph g;
    g.name = "classifier shapes";
    g.input = g.add_tensor(1, 1, c.features.front());
    int x = g.input;
    for (size_t i = 1; i < c.features.size(); ++i) {
      const int y = g.add_tensor(1, 1, c.features[i]);
      g.add_op(OpKind::FullyConnected, x, y);
      x = y;
    }
    g.output = x;
    QuantizedModel qm = random_quantized(g, 21);
    const int inferences = c.ties ? 48 : 2;
    if (c.ties) make_rounding_ties(qm.params.back(), 23);
    const HostAndCoreRuns runs = run_on_host_and_cores(qm, 22, inferences);
    const FirmwareOutput& host = runs.host;
    ASSERT_EQ(host.inferences.size(), size_t(inferences));
    ASSERT_EQ(host.inferences[0].output.size(), size_t(c.features.back()));
    expect_cores_match_host(runs);
  }
}

TEST(Codegen, ModelTooBigForTheBoardFailsTheLinkNamingIt) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc missing";
  // 1.2 MB of classifier weights: more than the STM32F746's 1 MB of Flash.
  Graph g;
  g.name = "too-big";
  g.input = g.add_tensor(1, 1, 1200);
  g.output = g.add_tensor(1, 1, 1000);
  g.add_op(OpKind::FullyConnected, g.input, g.output);
  const QuantizedModel qm = random_quantized(g, 1);
  tinynas_test::TempDir tmp;
  const std::string dir = (tmp.path / "bundle").string();
  write_bundle(qm, inputs_for(qm, 1, 2), dir);
  const BuildResult f746 = build_bundle(dir, board_by_name("stm32f746"));
  EXPECT_FALSE(f746.ok);
  EXPECT_TRUE(f746.does_not_fit());
  EXPECT_NE(f746.error_summary().find("STM32F746"), std::string::npos) << f746.error_summary();
  const BuildResult h743 = build_bundle(dir, board_by_name("stm32h743"));  // 2 MB of Flash
  EXPECT_TRUE(h743.ok) << h743.error_summary();
}

TEST(Codegen, BundlesReplaceOldOnesWhole) {
  const Graph g = build_graph(tinynas_test::small_network());
  tinynas_test::TempDir tmp;
  const std::string dir = (tmp.path / "bundle").string();
  const QuantizedModel first = random_quantized(g, 1), second = random_quantized(g, 2);
  write_bundle(first, inputs_for(first, 1, 1), dir);
  tmp.write("bundle/stale.txt", "from an older export");
  write_bundle(second, inputs_for(second, 1, 1), dir);
  EXPECT_FALSE(fs::exists(tmp.path / "bundle" / "stale.txt"));
  EXPECT_TRUE(fs::exists(tmp.path / "bundle" / "model.c"));
  for (const auto& e : fs::directory_iterator(tmp.path)) EXPECT_EQ(e.path().filename(), "bundle");
  EXPECT_THROW(write_bundle(first, BundleOptions{}, dir), core::InputError);
}

// An export once deleted whatever --out named: a file, or a directory of the user's files. Now only a
// new or empty directory or an earlier bundle is replaced; everything else is refused and left as it was.
TEST(Codegen, BundlesNeverReplaceAFileOrTheUsersDirectory) {
  const Graph g = build_graph(tinynas_test::small_network());
  const QuantizedModel qm = random_quantized(g, 1);
  const BundleOptions options = inputs_for(qm, 1, 1);
  tinynas_test::TempDir tmp;
  tmp.write("notes.txt", "the user's file");
  EXPECT_THROW(write_bundle(qm, options, (tmp.path / "notes.txt").string()), core::InputError);
  EXPECT_EQ(core::read_text_file((tmp.path / "notes.txt").string()), "the user's file");

  fs::create_directory(tmp.path / "project");
  tmp.write("project/main.cpp", "int main() {}");
  const std::string project = (tmp.path / "project").string();
  EXPECT_THROW(write_bundle(qm, options, project), core::InputError);
  EXPECT_THROW(check_bundle_dir(project + "/", false), core::InputError);
  EXPECT_EQ(core::read_text_file((tmp.path / "project" / "main.cpp").string()), "int main() {}");

  fs::create_symlink(tmp.path / "project", tmp.path / "link");
  EXPECT_THROW(write_bundle(qm, options, (tmp.path / "link").string()), core::InputError);
  EXPECT_TRUE(fs::exists(tmp.path / "project" / "main.cpp"));

  // The working directory (and so "."): renaming it away would pull the ground from under the caller.
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path / "project");
  EXPECT_THROW(check_bundle_dir(".", false), core::InputError);
  EXPECT_THROW(check_bundle_dir("..", true), core::InputError);
  fs::current_path(cwd);

  // --force replaces a directory of other files; an empty directory needs no force.
  BundleOptions forced = options;
  forced.replace_any_directory = true;
  write_bundle(qm, forced, project + "/.");
  EXPECT_FALSE(fs::exists(tmp.path / "project" / "main.cpp"));
  EXPECT_TRUE(fs::exists(tmp.path / "project" / "model.c"));
  fs::create_directory(tmp.path / "empty");
  write_bundle(qm, options, (tmp.path / "empty").string());
  EXPECT_TRUE(fs::exists(tmp.path / "empty" / "model.c"));
  // A killed export's temporary directory (no process has PID 2^22 + 1) is removed by the next export.
  fs::create_directories(tmp.path / "empty.tmp-4194305" / "kernels");
  write_bundle(qm, options, (tmp.path / "empty").string());
  // No temporary directory is left beside them.
  for (const auto& e : fs::directory_iterator(tmp.path))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(Codegen, ParserRejectsAnUnfinishedRun) {
  EXPECT_THROW(parse_firmware_output("tinynas-firmware board=host arena=10 layers=1 inputs=1\ninference 0 class"),
               core::RuntimeFailure);
}
