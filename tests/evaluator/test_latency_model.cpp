// The latency model: features by hand for a few layers, least squares recovering known coefficients
// from synthetic counts, the YAML round trip and its errors, and the calibration on real QEMU runs:
// the counts of two generated micro-benchmarks are reproduced by the model fit to them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <tuple>

#include "test_helpers.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/evaluator/calibration.h"
#include "tinynas/evaluator/latency_model.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"

using namespace tinynas;
using namespace tinynas::evaluator;
using engine::Graph;
using engine::OpKind;

namespace {

// The Fashion-MNIST space: gray 24-40 px images, w 0.5, 10 classes.
search_space::SearchSpace fashion_space() {
  search_space::SearchSpace s;
  s.in_channels = 1;
  s.num_classes = 10;
  s.width_choices = {0.5};
  s.resolution_choices = {24, 32, 40};
  return s;
}

// The emulated Cortex-M4 with room for any calibration subnet.
engine::McuProfile emulated_m4() {
  engine::McuProfile mcu;
  mcu.name = "qemu-m4";
  mcu.qemu_machine = "mps2-an386";
  mcu.sram_bytes = 256 * 1024;
  mcu.flash_bytes = 1024 * 1024;
  return mcu;
}

std::vector<Graph> random_graphs(const search_space::SearchSpace& space, int n, uint64_t seed) {
  std::vector<Graph> graphs;
  for (int i = 0; i < n; ++i) {
    core::Rng rng(core::derive_seed(seed, uint64_t(i)));
    graphs.push_back(engine::build_graph(space.describe(space.sample(rng))));
  }
  return graphs;
}

}  // namespace

TEST(LatencyFeatures, HandComputedForEachKind) {
  Graph g;
  const int t0 = g.add_tensor(20, 20, 16);
  const int t1 = g.add_tensor(20, 20, 48);
  const int t2 = g.add_tensor(10, 10, 48);
  const int t3 = g.add_tensor(10, 10, 48);
  g.input = t0;
  g.output = t3;
  g.add_op(OpKind::PointwiseConv2D, t0, t1);
  g.add_op(OpKind::DepthwiseConv2D, t1, t2, 3, 2);
  g.add_op(OpKind::Add, t2, t3, 1, 1, t2);
  EXPECT_EQ(latency_kind(g, g.ops[0]), "pointwise");
  EXPECT_EQ(latency_kind(g, g.ops[1]), "depthwise_k3_s2");
  EXPECT_EQ(latency_kind(g, g.ops[2]), "add");
  // Pointwise, 16 input channels (whole groups, 12 or more: six-pixel steps): 400 = 66 * 6 + 4 px.
  // The last 4 px: one eight-pixel step of 4 columns, 4 * 16 * 48 MACs, 48 (step, channel) pairs,
  // 4 * 16 values widened and (8 - 4) * 16 zeroed, 4 groups leave none to the loop's entry, 48
  // channels, 4 * 48 outputs, 48 pairs through the loop, 4 weight words a pair. The six-pixel steps:
  // 66, 66 * 48 pairs, 66 * 6 * 16 * 48 MACs, one pass of the 16-group loop a pair (3 groups after the
  // first), 66 * 4 groups widened.
  EXPECT_EQ(latency_features(g, g.ops[0]),
            (std::vector<double>{1, 4 * 16 * 48, 48, 1, 64, 64, 0, 48, 4 * 48, 48, 48 * 4, 66, 66 * 48,
                                 66 * 6 * 16 * 48, 66 * 48, 66 * 4}));
  // Eight input channels (two groups) keep eight-pixel steps. Partial last steps: 9 px = 8 + 1 (1
  // column computed), 10 = 8 + 2 (4 columns), 13 = 8 + 5 (8); (steps * 8 - pixels) * 8 slots zeroed;
  // only the last step enters the loop.
  for (const auto& [h, w, columns] : {std::tuple{3, 3, 9}, std::tuple{2, 5, 12}, std::tuple{1, 13, 16}}) {
    Graph small;
    small.input = small.add_tensor(h, w, 8);
    small.output = small.add_tensor(h, w, 48);
    small.add_op(OpKind::PointwiseConv2D, small.input, small.output);
    EXPECT_EQ(latency_features(small, small.ops[0]),
              (std::vector<double>{1, double(columns * 8 * 48), 2 * 48, 2, double(h * w * 8), double((16 - h * w) * 8),
                                   double(2 * 48 * 2), 48, double(h * w * 48), 48, double(2 * 48 * 2), 0, 0, 0, 0, 0}));
  }
  // Six-pixel steps with what they leave: 9 px = 6 + 3 (a step of 4 columns), 10 = 6 + 4 (4), 13 =
  // 12 + 1 (1 column), 6 = 6 (none); 72 input channels (18 groups) pass the 16-group loop twice.
  struct SixCase {
    int h, w, in_c, six_steps, left, columns;
  };
  for (const SixCase& c : {SixCase{3, 3, 16, 1, 3, 4}, SixCase{2, 5, 16, 1, 4, 4}, SixCase{1, 13, 16, 2, 1, 1},
                           SixCase{2, 3, 16, 1, 0, 0}, SixCase{2, 3, 72, 1, 0, 0}}) {
    SCOPED_TRACE(std::to_string(c.h * c.w) + " px, " + std::to_string(c.in_c) + " channels");
    Graph six;
    six.input = six.add_tensor(c.h, c.w, c.in_c);
    six.output = six.add_tensor(c.h, c.w, 48);
    six.add_op(OpKind::PointwiseConv2D, six.input, six.output);
    const double eight_steps = c.left ? 1 : 0, groups = c.in_c / 4, passes = c.in_c == 72 ? 2 : 1;
    EXPECT_EQ(latency_features(six, six.ops[0]),
              (std::vector<double>{1, double(c.columns * c.in_c * 48), 48 * eight_steps, eight_steps,
                                   double(c.left * c.in_c), double((8 - c.left) * c.in_c) * eight_steps, 0, 48,
                                   double(c.left * 48), 48 * eight_steps, 48 * groups * eight_steps,
                                   double(c.six_steps), double(c.six_steps * 48),
                                   double(c.six_steps * 6 * c.in_c * 48), c.six_steps * 48 * passes,
                                   c.six_steps * groups}));
  }
  // Depthwise 3x3 s2, pad 1, 48 channels, 100 outputs per channel (more than the small-map path takes):
  // the four-channel path, 12 groups. Rows 1-9 read in place (windows up to input row 2 * 9 + 1 = 19
  // and column 19), each a left pair and (10 - 2) / 2 = 4 pairs; row 0 (over the top padding) gathered:
  // 3 rows of 2 * 10 + 1 words, 5 pairs. 12 * (9 * 5 + 5) = 600 pairs, 12 * 9 left ones, no single
  // windows, 12 * 10 rows, 12 * 63 words.
  EXPECT_EQ(latency_features(g, g.ops[1]), (std::vector<double>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12,
                                                                600, 108, 0, 120, 12 * 63}));
  // With 46 channels (not whole groups of four) the plane path: 100 * 46 * 9 MACs; plane
  // max(9*2+3, 21)^2 = 441; 18400 inputs; 20 * 46 rows copied; 46 channels * one pass (10 rows of 10
  // sums fit 1600 bytes); 4600 outputs, none odd; 46 channels.
  {
    Graph p46;
    p46.input = p46.add_tensor(20, 20, 46);
    p46.output = p46.add_tensor(10, 10, 46);
    p46.add_op(OpKind::DepthwiseConv2D, p46.input, p46.output, 3, 2);
    EXPECT_EQ(latency_features(p46, p46.ops[0]), (std::vector<double>{1, 41400, 441, 18400, 920, 46, 4600, 0, 46, 0,
                                                                      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  }
  // Without padding on the left and an odd width: 21x19 -> 10x9, rows 0-9 all in place (windows up to
  // row 20 and column 18), each 4 pairs and a single; 2 groups.
  {
    Graph q;
    q.input = q.add_tensor(21, 19, 8);
    q.output = q.add_tensor(10, 9, 8);
    q.add_op(OpKind::DepthwiseConv2D, q.input, q.output, 3, 2);
    q.ops[0].pad_h = q.ops[0].pad_w = 0;
    EXPECT_EQ(latency_features(q, q.ops[0]), (std::vector<double>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                                                                  2 * 10 * 4, 0, 2 * 10, 2 * 10, 0}));
  }
  EXPECT_EQ(latency_features(g, g.ops[2]), (std::vector<double>{1, 4800}));
  for (const auto& op : g.ops)
    EXPECT_EQ(latency_features(g, op).size(), latency_feature_names(latency_kind(g, op)).size());
  // A 5x5 depthwise on a 6x6 map (36 outputs per channel): the small-map features only, beside the
  // plane max((6 - 1) + 5, 6 + 2)^2 = 100: 36 * 32 * 25 MACs, 36 * 32 outputs, 32 channels, 6 * 6 * 32
  // inputs.
  Graph h;
  h.input = h.add_tensor(6, 6, 32);
  h.output = h.add_tensor(6, 6, 32);
  h.add_op(OpKind::DepthwiseConv2D, h.input, h.output, 5, 1);
  EXPECT_EQ(latency_features(h, h.ops[0]),
            (std::vector<double>{1, 0, 100, 0, 0, 0, 0, 0, 0, 36 * 32 * 25, 36 * 32, 32, 36 * 32, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0}));
  // 3x3 kernels with 3x3 outputs, stride 2 over 6x6 and stride 1 over 3x3 (padding 1): the fixed
  // geometry, one layer and its 40 channels, beside planes of 7 x 7 and 5 x 5; stride 2 over 5x5 (also
  // 3x3 outputs) is not one of them and takes the small-map features.
  Graph f;
  f.input = f.add_tensor(6, 6, 40);
  const int middle = f.add_tensor(3, 3, 40);
  f.output = f.add_tensor(3, 3, 40);
  f.add_op(OpKind::DepthwiseConv2D, f.input, middle, 3, 2);
  f.add_op(OpKind::DepthwiseConv2D, middle, f.output, 3, 1);
  EXPECT_EQ(latency_features(f, f.ops[0]),
            (std::vector<double>{1, 0, 49, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 40, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(latency_features(f, f.ops[1]),
            (std::vector<double>{1, 0, 25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 40, 0, 0, 0, 0, 0, 0, 0}));
  Graph odd;
  odd.input = odd.add_tensor(5, 5, 8);
  odd.output = odd.add_tensor(3, 3, 8);
  odd.add_op(OpKind::DepthwiseConv2D, odd.input, odd.output, 3, 2);
  EXPECT_EQ(latency_features(odd, odd.ops[0]),
            (std::vector<double>{1, 0, 49, 0, 0, 0, 0, 0, 0, 9 * 8 * 9, 9 * 8, 8, 5 * 5 * 8, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  // 3x3 stride 1 beyond the small maps: the assembly passes over 10x10 (5 output pairs a row) and over
  // 9x9 (4 pairs and a single output a row), no output counted to the C passes, both over the plane of
  // fixed width 36 for outputs of at most 33 columns; 40x40 over a plane of its own width, 42. Each: 9
  // MACs an output, plane (n + 2) rows of 36 (42), n * n * 8 inputs, n * 8 rows, passes: 8 channels times
  // one (n rows of n sums fit 1600 bytes; 40 columns: 10 rows, four passes), n * n * 8 outputs, n * 8 odd
  // last columns when n is odd, 8 channels.
  Graph even;
  even.input = even.add_tensor(10, 10, 8);
  even.output = even.add_tensor(10, 10, 8);
  even.add_op(OpKind::DepthwiseConv2D, even.input, even.output, 3, 1);
  Graph nine;
  nine.input = nine.add_tensor(9, 9, 8);
  nine.output = nine.add_tensor(9, 9, 8);
  nine.add_op(OpKind::DepthwiseConv2D, nine.input, nine.output, 3, 1);
  EXPECT_EQ(latency_kind(even, even.ops[0]), "depthwise_k3_s1");
  EXPECT_EQ(latency_features(even, even.ops[0]),
            (std::vector<double>{1, 800 * 9, 12 * 36, 800, 80, 8, 800, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(latency_features(nine, nine.ops[0]),
            (std::vector<double>{1, 648 * 9, 11 * 36, 648, 72, 8, 648, 72, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  Graph wide;
  wide.input = wide.add_tensor(40, 40, 8);
  wide.output = wide.add_tensor(40, 40, 8);
  wide.add_op(OpKind::DepthwiseConv2D, wide.input, wide.output, 3, 1);
  EXPECT_EQ(latency_features(wide, wide.ops[0]), (std::vector<double>{1, 12800 * 9, 42 * 42, 12800, 320, 8 * 4, 12800, 0,
                                                                      8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(LatencyModelFit, RecoversKnownCoefficientsFromSyntheticCounts) {
  // Counts made from known coefficients per kind; the fit must give them back and predict exactly.
  const search_space::SearchSpace space = fashion_space();
  std::map<std::string, std::vector<double>> truth;
  std::vector<LayerSample> samples;
  const auto graphs = random_graphs(space, 40, 1);
  for (const auto& g : graphs)
    for (const auto& op : g.ops) {
      const std::string kind = latency_kind(g, op);
      if (!truth.count(kind)) {
        std::vector<double> c;
        for (size_t i = 0; i < latency_feature_names(kind).size(); ++i) c.push_back(100.0 / double(i + 1) + 0.5 * i);
        truth[kind] = c;
      }
      const auto f = latency_features(g, op);
      double y = 0;
      for (size_t i = 0; i < f.size(); ++i) y += f[i] * truth[kind][i];
      samples.push_back({kind, f, y});
    }
  const LatencyModel m = fit_latency_model(samples);
  for (const auto& [kind, c] : truth) {
    ASSERT_TRUE(m.kinds.count(kind)) << kind;
    const auto& k = m.kinds.at(kind);
    EXPECT_LT(k.rms_relative_error, 1e-9) << kind;
    // Identifiable kinds give the coefficients back; collinear features (e.g. outputs = inputs of a
    // stride-1 depthwise with fixed shapes) can trade off, but predictions stay exact.
    if (kind == "pointwise" || kind == "add") {
      for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(k.coefficients[i], c[i], 1e-6 * std::abs(c[i])) << kind << " " << i;
    }
  }
  for (const auto& g : random_graphs(space, 5, 2)) {
    double expected = 0;
    for (const auto& op : g.ops) {
      const auto f = latency_features(g, op);
      for (size_t i = 0; i < f.size(); ++i) expected += f[i] * truth.at(latency_kind(g, op))[i];
    }
    EXPECT_NEAR(m.predict(g), expected, 1e-6 * expected);
  }
}

TEST(LatencyModelFit, SavesAndLoadsAndNamesErrors) {
  tinynas_test::TempDir tmp;
  LatencyModel m;
  m.mcu = "qemu-m4";
  m.clock_hz = 100e6;
  m.source = "test";
  m.kinds["add"] = {{12.5, 3.25}, 7, 0.01};
  m.kinds["pointwise"] = {{100, 1.0 / 3.0, 20, 4, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 9, 0.02};
  m.validation_subnets = 20;
  m.validation_mape_percent = 1.5;
  m.validation_max_error_percent = 3.0;
  const std::string path = (tmp.path / "m.yaml").string();
  save_latency_model(path, m);
  const LatencyModel back = load_latency_model(path);
  EXPECT_EQ(back.mcu, "qemu-m4");
  EXPECT_EQ(back.clock_hz, 100e6);
  EXPECT_EQ(back.kinds.at("pointwise").coefficients, m.kinds.at("pointwise").coefficients);  // 17 digits
  EXPECT_EQ(back.kinds.at("add").samples, 7);
  EXPECT_EQ(back.validation_mape_percent, 1.5);
  // Predictions in milliseconds use the clock; a kind the model lacks is an InputError naming it.
  Graph g;
  const int a = g.add_tensor(4, 4, 8), b = g.add_tensor(4, 4, 8);
  g.input = a;
  g.output = b;
  g.add_op(OpKind::Add, a, b, 1, 1, a);
  EXPECT_DOUBLE_EQ(back.predict(g), 12.5 + 3.25 * 128);
  EXPECT_DOUBLE_EQ(back.predict_ms(g), (12.5 + 3.25 * 128) / 100e6 * 1000);
  g.ops[0].kind = OpKind::GlobalAvgPool;
  g.ops[0].input2 = -1;
  EXPECT_NE(tinynas_test::input_error_message([&] { back.predict(g); }).find("global_avgpool"), std::string::npos);
  EXPECT_THROW(load_latency_model((tmp.path / "missing.yaml").string()), core::InputError);
  const std::string bad = tmp.write("bad.yaml", "mcu: x\nunit: seconds\nclock_hz: 1\nkinds: {}\n");
  const std::string message = tinynas_test::input_error_message([&] { load_latency_model(bad); });
  EXPECT_NE(message.find("bad.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("unit"), std::string::npos) << message;
}

TEST(Calibration, SplitsASerialLogIntoRuns) {
  const std::string one =
      "tinynas-firmware board=stm32f746 model=subnet-000 arena=100 layers=1 inputs=1\r\n"
      "inference 0 class 3 label -1 checksum 5 instructions 900\r\noutput 0 1 2\r\n"
      "layer 0 tn_add_s8 macs 0 instructions 800\r\nstack_peak 500\r\ndone\r\n";
  std::string two = one;
  two.replace(two.find("subnet-000"), 10, "subnet-001");
  const auto runs = split_serial_log("boot noise\n" + one + two);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].first, "subnet-000");
  EXPECT_EQ(runs[1].first, "subnet-001");
  EXPECT_EQ(runs[1].second.layers.at(0).instructions, 800u);
  EXPECT_THROW(split_serial_log("nothing here\n"), core::InputError);
  EXPECT_THROW(split_serial_log(one.substr(0, one.find("layer 0"))), core::InputError);  // a cut-off run
}

TEST(Calibration, QemuCountsOfTwoMicroBenchmarksAreReproduced) {
  if (!engine::arm_toolchain_available() || !engine::qemu_available())
    GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  tinynas_test::TempDir tmp;
  const search_space::SearchSpace space = fashion_space();
  const engine::McuProfile mcu = emulated_m4();
  const auto archs = calibration_archs(space, mcu, 2, 5);
  ASSERT_EQ(archs.size(), 2u);
  const engine::Board& board = engine::board_by_name("mps2-an386");
  std::vector<SubnetMeasurement> measured(2);
  for (size_t i = 0; i < 2; ++i) {
    const std::string dir = (tmp.path / ("subnet-" + std::to_string(i))).string();
    measured[i].graph = write_calibration_bundle(space, archs[i], dir);
    measured[i].run = engine::parse_firmware_output(run_calibration_bundle(dir, board, 300));
    measured[i].measured = double(measured[i].run.inferences.back().instructions);
  }
  std::vector<SubnetMeasurement> validate = measured;
  const LatencyModel m = fit_and_validate(measured, validate);
  // Fit and checked on the same two runs: the model reproduces their totals closely, and every layer
  // of a kind measured more than a few times within a few percent.
  EXPECT_EQ(m.validation_subnets, 2);
  EXPECT_LT(m.validation_mape_percent, 2.0) << m.validation_max_error_percent;
  for (const auto& s : measured) {
    const auto samples = layer_samples(s.graph, s.run);
    for (size_t i = 0; i < samples.size(); ++i) {
      const auto& k = m.kinds.at(samples[i].kind);
      if (k.samples < 8) continue;
      EXPECT_NEAR(m.predict_op(s.graph, s.graph.ops[i]), samples[i].count, 0.1 * samples[i].count)
          << s.graph.name << " layer " << i << " " << samples[i].kind;
    }
  }
}

// Patch-based firmware: each layer of the patch stage reports its instructions over every patch and row
// and the MACs of every patch; its features are the sum over those calls, so one model fit to layer-wise
// and patch runs of the same subnets predicts both, recomputation included.
TEST(Calibration, PatchRunsAreMeasuredAndPredictedWithTheirRecomputation) {
  if (!engine::arm_toolchain_available() || !engine::qemu_available())
    GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  tinynas_test::TempDir tmp;
  const search_space::SearchSpace space = fashion_space();
  const auto archs = calibration_archs(space, emulated_m4(), 2, 5);
  const engine::Board& board = engine::board_by_name("mps2-an386");
  std::vector<SubnetMeasurement> measured;
  for (size_t i = 0; i < 2; ++i) {
    const engine::Graph g = engine::build_graph(space.describe(archs[i]));
    const std::vector<engine::PatchSchedule> schedules = engine::candidate_patch_schedules(g, 3);
    ASSERT_FALSE(schedules.empty());
    for (const engine::PatchSchedule& patch : {engine::PatchSchedule{}, schedules[schedules.size() / 2]}) {
      SubnetMeasurement m;
      const std::string dir = (tmp.path / ("subnet-" + std::to_string(measured.size()))).string();
      m.graph = write_calibration_bundle(space, archs[i], dir, patch);
      m.patch = patch;
      m.run = engine::parse_firmware_output(run_calibration_bundle(dir, board, 300));
      m.measured = double(m.run.inferences.back().instructions);
      measured.push_back(m);
    }
  }
  // The patch runs execute more MACs, and their layers say so.
  for (size_t k = 1; k < measured.size(); k += 2) {
    const engine::PatchStage stage = engine::plan_patch_stage(measured[k].graph, measured[k].patch);
    const auto samples = layer_samples(measured[k].graph, measured[k].run, &stage);
    EXPECT_EQ(samples.size(), measured[k].graph.ops.size());
    EXPECT_THROW(layer_samples(measured[k].graph, measured[k].run), core::InputError);  // not a layer-wise run
    EXPECT_GT(measured[k].measured, measured[k - 1].measured) << engine::to_string(measured[k].patch);
  }
  std::vector<SubnetMeasurement> validate = measured;
  const LatencyModel m = fit_and_validate(measured, validate);
  EXPECT_LT(m.validation_mape_percent, 3.0) << m.validation_max_error_percent;
  for (const auto& v : validate) EXPECT_NEAR(v.predicted, v.measured, 0.05 * v.measured) << engine::to_string(v.patch);
  EXPECT_EQ(calibration_patch_schedule(measured[0].graph, 0), engine::PatchSchedule{});
  EXPECT_FALSE(calibration_patch_schedule(measured[0].graph, 2).layer_wise());
}

// Subnets behind the MFCC front-end: their firmware runs the front-end on the calibration clips, the run
// reports its instructions apart, and the model counts it once per inference (one constant: the
// front-end has one configuration). A model without that figure refuses such a graph.
TEST(Calibration, TheFrontEndIsMeasuredAndCountedOncePerInference) {
  if (!engine::arm_toolchain_available() || !engine::qemu_available())
    GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  tinynas_test::TempDir tmp;
  search_space::SearchSpace space = fashion_space();
  space.resolution_choices = {49};
  space.input_width = 10;
  space.frontend = "mfcc";
  space.width_choices = {0.25};
  const engine::McuProfile mcu = emulated_m4();
  const auto archs = calibration_archs(space, mcu, 2, 5);
  const engine::Board& board = engine::board_by_name("mps2-an386");
  std::vector<SubnetMeasurement> measured(2);
  for (size_t i = 0; i < 2; ++i) {
    const std::string dir = (tmp.path / ("subnet-" + std::to_string(i))).string();
    measured[i].graph = write_calibration_bundle(space, archs[i], dir);
    ASSERT_EQ(measured[i].graph.frontend, engine::Frontend::Mfcc);
    measured[i].run = engine::parse_firmware_output(run_calibration_bundle(dir, board, 300));
    measured[i].measured = double(measured[i].run.inferences.back().instructions);
    const auto samples = layer_samples(measured[i].graph, measured[i].run);
    ASSERT_EQ(samples.size(), measured[i].graph.ops.size() + 1);
    EXPECT_EQ(samples.back().kind, kFrontendMfccKind);
    EXPECT_EQ(samples.back().count, double(measured[i].run.frontend_instructions));
    EXPECT_GT(samples.back().count, 3.0e6);
  }
  std::vector<SubnetMeasurement> validate = measured;
  const LatencyModel m = fit_and_validate(measured, validate);
  const double frontend = m.kinds.at(kFrontendMfccKind).coefficients.at(0);
  const double mean = 0.5 * double(measured[0].run.frontend_instructions + measured[1].run.frontend_instructions);
  EXPECT_NEAR(frontend, mean, 1e-3 * mean);
  EXPECT_DOUBLE_EQ(m.predict_frontend(measured[0].graph), frontend);
  double layers = 0;
  for (const auto& op : measured[0].graph.ops) layers += m.predict_op(measured[0].graph, op);
  EXPECT_NEAR(m.predict(measured[0].graph), frontend + layers, 1e-9 * (frontend + layers));
  EXPECT_LT(m.validation_mape_percent, 2.0) << m.validation_max_error_percent;
  LatencyModel without = m;
  without.kinds.erase(kFrontendMfccKind);
  EXPECT_THROW(without.predict(measured[0].graph), core::InputError);
  engine::Graph plain = measured[0].graph;
  plain.frontend = engine::Frontend::None;
  EXPECT_NEAR(without.predict(plain), layers, 1e-9 * layers);
}

TEST(Calibration, ABoardsCapturedSerialOutputIsFitAndAForeignRunRefused) {
  if (!engine::arm_toolchain_available() || !engine::qemu_available())
    GTEST_SKIP() << "arm-none-eabi-gcc or qemu-system-arm missing";
  tinynas_test::TempDir tmp;
  CalibrationOptions c;
  c.space = fashion_space();
  c.mcu.name = "qemu-m4";
  c.mcu.qemu_machine = "mps2-an386";
  c.mcu.sram_bytes = 256 * 1024;
  c.mcu.flash_bytes = 1024 * 1024;
  c.fit_subnets = 2;
  c.validate_subnets = 1;
  c.seed = 4;
  c.work_dir = (tmp.path / "bundles").string();
  const BoardBundles b = write_board_bundles(c);
  EXPECT_EQ(b.subnets, 3);
  EXPECT_EQ(b.board, "mps2-an386");
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(b.dir) / "calibration.json"));
  // The bundles run here in QEMU as a user would run them on the board, their output captured in one log.
  std::string log = "boot\r\n";
  for (const char* name : {"subnet-000", "subnet-001", "subnet-002"})
    log += run_calibration_bundle((std::filesystem::path(b.dir) / name).string(), engine::board_by_name(b.board), 300);
  const LatencyModel m = fit_board_measurements(b.dir, tmp.write("serial.log", log), c.mcu);
  EXPECT_EQ(m.mcu, "qemu-m4");
  EXPECT_EQ(m.unit, "cycles");
  EXPECT_EQ(m.validation_subnets, 1);
  EXPECT_LT(m.validation_mape_percent, 10.0);
  // A run the manifest does not list is refused, naming it.
  std::string other = log;
  other.replace(other.find("model=subnet-001"), 16, "model=subnet-999");
  const std::string bad = tmp.write("bad.log", other);
  const std::string msg = tinynas_test::input_error_message([&] { fit_board_measurements(b.dir, bad, c.mcu); });
  EXPECT_NE(msg.find("subnet-999"), std::string::npos) << msg;
}
