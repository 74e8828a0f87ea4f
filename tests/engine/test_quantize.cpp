// Post-training quantization and the host int8 interpreter: TF-Lite's multiplier encoding, int8
// outputs close to the float reference on random-weight networks with every op kind, the arena of
// the planner, and clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "small_network.h"
#include "test_helpers.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/core/errors.h"

using namespace tinynas;
using namespace tinynas::engine;

namespace {

// A graph with every op kind the int8 engine runs.
Graph every_op_graph() {
  Graph g;
  g.name = "every-op";
  g.input = g.add_tensor(12, 12, 3);
  const int stem = g.add_tensor(6, 6, 8);
  g.ops[size_t(g.add_op(OpKind::Conv2D, g.input, stem, 3, 2))].activation = Activation::Relu6;
  const int dw = g.add_tensor(6, 6, 8);
  g.ops[size_t(g.add_op(OpKind::DepthwiseConv2D, stem, dw, 5, 1))].activation = Activation::Relu;
  const int pw = g.add_tensor(6, 6, 8);
  g.add_op(OpKind::PointwiseConv2D, dw, pw, 1, 1);
  const int sum = g.add_tensor(6, 6, 8);
  g.add_op(OpKind::Add, pw, sum, 1, 1, stem);
  const int avg = g.add_tensor(3, 3, 8);
  g.add_op(OpKind::AvgPool2D, sum, avg, 3, 2);
  const int mx = g.add_tensor(3, 3, 8);
  g.add_op(OpKind::MaxPool2D, avg, mx, 3, 1);
  const int conv = g.add_tensor(2, 2, 12);
  g.ops[size_t(g.add_op(OpKind::Conv2D, mx, conv, 3, 2))].activation = Activation::Relu6;
  const int gap = g.add_tensor(1, 1, 12);
  g.add_op(OpKind::GlobalAvgPool, conv, gap, 2, 1);
  const int fc = g.add_tensor(1, 1, 10);
  g.add_op(OpKind::FullyConnected, gap, fc);
  g.output = fc;
  g.validate();
  return g;
}

// Dequantized int8 outputs against the float reference: the largest error relative to the output's
// range, and how often the arg-max agrees.
struct Agreement {
  double max_relative_error = 0;
  double top1 = 0;
};
Agreement compare(const FloatModel& fm, const QuantizedModel& qm, const std::vector<std::vector<float>>& images) {
  Agreement a;
  Int8Interpreter interpreter(qm);
  int same = 0;
  for (const auto& x : images) {
    const auto expected = run_float(fm, x);
    const auto got = dequantize_output(qm, interpreter.run(quantize_input(qm, x)));
    const auto [lo, hi] = std::minmax_element(expected.begin(), expected.end());
    const double range = std::max(1e-6, double(*hi - *lo));
    for (size_t i = 0; i < got.size(); ++i)
      a.max_relative_error = std::max(a.max_relative_error, std::fabs(double(got[i] - expected[i])) / range);
    same += std::max_element(got.begin(), got.end()) - got.begin() == hi - expected.begin();
  }
  a.top1 = double(same) / double(images.size());
  return a;
}

// The input range comes from calibration inputs: [-3, 1] gives scale 4/255 and zero point
// round(-128 + 3 * 255 / 4) = 63 (hand-computed); the ends quantize to -128 and 127; a range that
// excludes 0 is widened to hold it (inputs in [0.5, 2] give [0, 2]: zero point -128).
TEST(Quantize, InputQuantizationFitsTheCalibrationRange) {
  const Graph g = every_op_graph();
  FloatModel m = random_float_model(g, 1);
  const size_t n = size_t(g.tensors[size_t(g.input)].elements());
  std::vector<float> a(n, 0.25f), b(n, -1.0f);
  a[0] = 1.0f;
  b[n - 1] = -3.0f;
  fit_input_quantization(m, {a, b});
  QuantizedModel qm = quantize(m, {a, b});
  const TensorQuant& in = qm.tensors[size_t(g.input)];
  EXPECT_NEAR(in.scale, 4.0 / 255.0, 1e-7);
  EXPECT_EQ(in.zero_point, 63);
  EXPECT_EQ(quantize_input(qm, {-3.0f, 1.0f, 0.0f}), (std::vector<int8_t>{-128, 127, 63}));

  std::vector<float> c(n, 0.5f);
  c[0] = 2.0f;
  fit_input_quantization(m, {c});
  qm = quantize(m, {c});
  EXPECT_NEAR(qm.tensors[size_t(g.input)].scale, 2.0 / 255.0, 1e-7);
  EXPECT_EQ(qm.tensors[size_t(g.input)].zero_point, -128);

  std::vector<float> bad(n, 0.0f);
  bad[3] = std::nanf("");
  EXPECT_NE(tinynas_test::input_error_message([&] { fit_input_quantization(m, {bad}); }).find("not finite"),
            std::string::npos);
  EXPECT_NE(tinynas_test::input_error_message([&] { fit_input_quantization(m, {}); }).find("no calibration inputs"),
            std::string::npos);
}

}  // namespace

TEST(Quantize, MultiplierEncodingIsTfLites) {
  auto m = quantize_multiplier(0.5);
  EXPECT_EQ(m.multiplier, 1 << 30);
  EXPECT_EQ(m.shift, 0);
  m = quantize_multiplier(1.0);
  EXPECT_EQ(m.multiplier, 1 << 30);
  EXPECT_EQ(m.shift, 1);
  m = quantize_multiplier(0.75);
  EXPECT_EQ(m.multiplier, 1610612736);
  EXPECT_EQ(m.shift, 0);
  m = quantize_multiplier(0.001);
  EXPECT_EQ(m.shift, -9);  // 0.001 = 0.512 * 2^-9
  EXPECT_EQ(m.multiplier, int32_t(std::llround(0.512 * double(int64_t(1) << 31))));
  m = quantize_multiplier(1e-12);  // below 2^-31: zero
  EXPECT_EQ(m.multiplier, 0);
  EXPECT_EQ(m.shift, 0);
  m = quantize_multiplier(0.0);
  EXPECT_EQ(m.multiplier, 0);
  // Rounding up to 2^31 renormalizes.
  m = quantize_multiplier(0.99999999999);
  EXPECT_EQ(m.multiplier, 1 << 30);
  EXPECT_EQ(m.shift, 1);
}

TEST(Quantize, EveryOpKindTracksTheFloatReference) {
  const Graph g = every_op_graph();
  const FloatModel fm = random_float_model(g, 42);
  const auto calibration = random_image_inputs(g, 16, 1);
  const QuantizedModel qm = quantize(fm, calibration);
  // Pools keep their input's quantization; ReLU6 outputs use the range [0, min(max, 6)].
  EXPECT_EQ(qm.tensors[size_t(g.ops[4].output)].scale, qm.tensors[size_t(g.ops[4].input)].scale);
  EXPECT_EQ(qm.tensors[size_t(g.ops[7].output)].zero_point, qm.tensors[size_t(g.ops[7].input)].zero_point);
  EXPECT_EQ(qm.tensors[size_t(g.ops[0].output)].zero_point, -128);
  EXPECT_EQ(qm.params[0].act_min, -128);
  const Agreement a = compare(fm, qm, random_image_inputs(g, 24, 2));
  EXPECT_LT(a.max_relative_error, 0.08);
  EXPECT_GE(a.top1, 0.8);
}

// MobileNetV3's squeeze-and-excite with hard-swish, then each element-wise function in turn: the int8
// tables and the per-channel mul track the float reference.
TEST(Quantize, SqueezeExciteAndElementwiseFunctionsTrackTheFloatReference) {
  for (const UnaryFunction f : {UnaryFunction::Sigmoid, UnaryFunction::HardSigmoid, UnaryFunction::HardSwish,
                                UnaryFunction::Tanh, UnaryFunction::LeakyRelu, UnaryFunction::Elu, UnaryFunction::Selu,
                                UnaryFunction::Softplus}) {
    SCOPED_TRACE(to_string(f));
    Graph g;
    g.name = "squeeze-excite";
    g.input = g.add_tensor(8, 8, 3);
    auto unary = [&](int in, UnaryFunction fn, float alpha, float beta) {
      const Tensor t = g.tensors[size_t(in)];
      const int out = g.add_tensor(t.h, t.w, t.c);
      Op& op = g.ops[size_t(g.add_op(OpKind::Unary, in, out))];
      op.unary = fn;
      op.alpha = alpha;
      op.beta = beta;
      return out;
    };
    const int conv = g.add_tensor(8, 8, 6);
    g.add_op(OpKind::Conv2D, g.input, conv, 3, 1);
    const int act = unary(conv, UnaryFunction::HardSwish, 0, 0);
    const int pooled = g.add_tensor(1, 1, 6);
    g.add_op(OpKind::GlobalAvgPool, act, pooled, 8);
    const int squeezed = g.add_tensor(1, 1, 6);
    g.add_op(OpKind::PointwiseConv2D, pooled, squeezed, 1, 1);
    const int gate = unary(squeezed, UnaryFunction::HardSigmoid, 1.0f / 6.0f, 0.5f);
    const int excited = g.add_tensor(8, 8, 6);
    g.add_op(OpKind::Mul, act, excited, 1, 1, gate);
    const int tested = unary(excited, f, f == UnaryFunction::HardSigmoid ? 0.2f : 0.1f, 0.5f);
    const int gap = g.add_tensor(1, 1, 6);
    g.add_op(OpKind::GlobalAvgPool, tested, gap, 8);
    g.output = g.add_tensor(1, 1, 10);
    g.add_op(OpKind::FullyConnected, gap, g.output);
    g.validate();
    const FloatModel fm = random_float_model(g, 5);
    // Evaluated on the calibration images: no value falls outside its calibrated range, so what is
    // left is the rounding of each int8 step.
    const auto images = random_image_inputs(g, 24, 6);
    const QuantizedModel qm = quantize(fm, images);
    EXPECT_EQ(qm.params[1].table.size(), 256u);
    const Agreement a = compare(fm, qm, images);
    std::printf("%s: max error %.4f of the output range, top-1 agreement %.2f\n", to_string(f), a.max_relative_error, a.top1);
    EXPECT_LT(a.max_relative_error, 0.05);
    EXPECT_GE(a.top1, 0.9);
  }
}

TEST(Quantize, SearchSpaceNetworkTracksTheFloatReference) {
  const Graph g = build_graph(tinynas_test::small_network());
  const FloatModel fm = random_float_model(g, 7);
  for (const auto calibration : {QuantizeOptions::Calibration::MinMax, QuantizeOptions::Calibration::Percentile}) {
    QuantizeOptions options;
    options.calibration = calibration;
    const QuantizedModel qm = quantize(fm, random_image_inputs(g, 16, 3), options);
    const Agreement a = compare(fm, qm, random_image_inputs(g, 24, 4));
    EXPECT_LT(a.max_relative_error, 0.1);
    EXPECT_GE(a.top1, 0.75);
  }
}

TEST(Quantize, InterpreterUsesThePlannedArena) {
  const Graph g = every_op_graph();
  const QuantizedModel qm = quantize(random_float_model(g, 1), random_image_inputs(g, 4, 5));
  Int8Interpreter interpreter(qm);
  EXPECT_EQ(interpreter.plan().arena_bytes, plan_arena_bytes(g));
  // The same input twice gives the same output (no state leaks between runs).
  const auto x = quantize_input(qm, random_image_inputs(g, 1, 6)[0]);
  EXPECT_EQ(interpreter.run(x), interpreter.run(x));
  EXPECT_THROW(interpreter.run(std::vector<int8_t>(3)), core::InputError);
}

// A softmax runs as TF-Lite's int8 softmax: its output has scale 1/256 and zero point -128 whatever the
// calibration says, its probabilities follow the float ones within a few steps, and a QDQ model that
// states another output quantization is refused.
TEST(Quantize, SoftmaxOutputHasTfLitesQuantization) {
  Graph g = every_op_graph();
  const int probs = g.add_tensor(1, 1, 10);
  g.add_op(OpKind::Softmax, g.output, probs);
  g.output = probs;
  FloatModel fm = random_float_model(g, 1);
  const auto inputs = random_image_inputs(g, 8, 1);
  const QuantizedModel qm = quantize(fm, inputs);
  EXPECT_EQ(qm.tensors[size_t(probs)].scale, 1.0f / 256.0f);
  EXPECT_EQ(qm.tensors[size_t(probs)].zero_point, -128);
  Int8Interpreter interpreter(qm);
  for (const auto& x : inputs) {
    const auto f = run_float(fm, x);
    const auto q = dequantize_output(qm, interpreter.run(quantize_input(qm, x)));
    for (size_t i = 0; i < f.size(); ++i) EXPECT_NEAR(q[i], f[i], 0.05) << i;
  }
  fm.stated_quantization[probs] = {0.01f, 0};
  const std::string message = tinynas_test::input_error_message([&] { quantize(fm, inputs); });
  EXPECT_NE(message.find("1/256"), std::string::npos) << message;
}

TEST(Quantize, RejectsWhatTheKernelsCannotRun) {
  EXPECT_THROW(quantize(random_float_model(every_op_graph(), 1), {}), core::InputError);
  // A bias out of all proportion to the weights would overflow the accumulator bound.
  FloatModel huge = random_float_model(every_op_graph(), 1);
  huge.params[0].bias[0] = 1e9f;
  const std::string bound = tinynas_test::input_error_message([&] { quantize(huge, random_image_inputs(huge.graph, 2, 1)); });
  EXPECT_NE(bound.find("accumulator"), std::string::npos) << bound;
}

TEST(Quantize, FloatInputsQuantizeToThePixelsMinus128) {
  const Graph g = every_op_graph();
  const QuantizedModel qm = quantize(random_float_model(g, 1), random_image_inputs(g, 2, 1));
  std::vector<uint8_t> pixels(size_t(g.tensors[size_t(g.input)].elements()));
  std::vector<float> x(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = uint8_t((i * 37) % 256);
    x[i] = (float(pixels[i]) - 128.0f) / 128.0f;
  }
  EXPECT_EQ(quantize_input(qm, x), quantize_pixels(pixels));
}
