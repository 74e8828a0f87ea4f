// Import of hand-written ONNX graphs: what folds into which engine op, that folded and unfolded forms
// compute the same, and the errors for what the engine cannot run.
#include <gtest/gtest.h>

#include "onnx_test_util.h"
#include "test_helpers.h"
#include "tinynas/engine/onnx.h"

using namespace tinynas::engine;
using tinynas_test::input_error_message;
using tinynas_test::max_abs_diff;
using tinynas_test::OnnxBuilder;
using tinynas_test::random_input;

namespace {

// Conv (3x3, pads 1) -> BatchNormalization -> Relu; with `second_reader` the conv output is also read
// by another node, so that neither the BN nor the Relu can fold into the conv.
onnx::ModelProto conv_bn_relu(bool second_reader) {
  OnnxBuilder b({1, 3, 8, 8});
  OnnxBuilder::ints(b.node("Conv", {"x", b.constant("w", {4, 3, 3, 3}, 1), b.constant("b", {4}, 2)}, "c"), "pads",
                    {1, 1, 1, 1});
  b.node("BatchNormalization",
         {"c", b.constant("gamma", {4}, 3, 0.5f, 1.5f), b.constant("beta", {4}, 4), b.constant("mean", {4}, 5),
          b.constant("var", {4}, 6, 0.5f, 2.0f)},
         "n");
  b.node("Relu", {"n"}, "y");
  if (second_reader) b.node("Identity", {"c"}, "c_copy");
  return b.finish("y");
}

TEST(OnnxImport, BatchNormAndReluFoldIntoTheConv) {
  const FloatModel folded = import_onnx(conv_bn_relu(false));
  ASSERT_EQ(folded.graph.ops.size(), 1u);
  EXPECT_EQ(folded.graph.ops[0].kind, OpKind::Conv2D);
  EXPECT_EQ(folded.graph.ops[0].activation, Activation::Relu);
  EXPECT_EQ(folded.op_names[0], "c");

  // With a second reader the BN becomes a 1x1 depthwise conv that takes the Relu.
  const FloatModel unfolded = import_onnx(conv_bn_relu(true));
  ASSERT_EQ(unfolded.graph.ops.size(), 2u);
  EXPECT_EQ(unfolded.graph.ops[0].activation, Activation::None);
  EXPECT_EQ(unfolded.graph.ops[1].kind, OpKind::DepthwiseConv2D);
  EXPECT_EQ(unfolded.graph.ops[1].activation, Activation::Relu);

  const std::vector<float> x = random_input(folded.graph, 7);
  EXPECT_LT(max_abs_diff(run_float(folded, x), run_float(unfolded, x)), 1e-5f);
}

TEST(OnnxImport, DepthwiseConvWithClipIsOneRelu6Op) {
  OnnxBuilder b({1, 4, 6, 6});
  auto& conv = b.node("Conv", {"x", b.constant("w", {4, 1, 3, 3}, 1), b.constant("b", {4}, 2)}, "c");
  OnnxBuilder::integer(conv, "group", 4);
  OnnxBuilder::ints(conv, "pads", {1, 1, 1, 1});
  b.node("Clip", {"c", b.constant("lo", {}, std::vector<float>{0.0f}), b.constant("hi", {}, std::vector<float>{6.0f})}, "y");
  const onnx::ModelProto model = b.finish("y");
  const FloatModel m = import_onnx(model);
  ASSERT_EQ(m.graph.ops.size(), 1u);
  EXPECT_EQ(m.graph.ops[0].kind, OpKind::DepthwiseConv2D);
  EXPECT_EQ(m.graph.ops[0].activation, Activation::Relu6);

  // The same network built directly on the engine graph: ONNX's [C][1][k][k] is the engine's layout.
  FloatModel direct;
  Graph& g = direct.graph;
  g.input = g.add_tensor(6, 6, 4);
  g.output = g.add_tensor(6, 6, 4);
  g.ops[size_t(g.add_op(OpKind::DepthwiseConv2D, g.input, g.output, 3, 1))].activation = Activation::Relu6;
  direct.params.resize(1);
  direct.op_names = {"direct"};
  for (const auto& t : model.graph().initializer()) {
    const std::vector<double> v = onnx_tensor_values(t);
    if (t.name() == "w") direct.params[0].weights.assign(v.begin(), v.end());
    if (t.name() == "b") direct.params[0].bias.assign(v.begin(), v.end());
  }
  const std::vector<float> x = random_input(g, 3);
  EXPECT_LT(max_abs_diff(run_float(m, x), run_float(direct, x)), 1e-6f);
}

// [1,3,4,4] -> a flattening op -> a fully connected layer of 5 outputs.
onnx::ModelProto flatten_then_linear(const std::string& flatten, const std::string& linear) {
  OnnxBuilder b({1, 3, 4, 4});
  OnnxBuilder::ints(b.node("MaxPool", {"x"}, "p"), "kernel_shape", {1, 1});  // an engine op before the flatten
  if (flatten == "Flatten") b.node("Flatten", {"p"}, "f");
  else b.node("Reshape", {"p", b.int64_constant("shape", {1, -1})}, "f");
  const std::string w = b.constant("w", {48, 5}, 1), bias = b.constant("b", {5}, 2);
  if (linear == "Gemm") {
    b.node("Gemm", {"f", w, bias}, "y");
  } else {
    b.node("MatMul", {"f", w}, "m");
    b.node("Add", {"m", bias}, "y");
  }
  return b.finish("y", 2);
}

TEST(OnnxImport, FlattenReshapeGemmAndMatMulAddAgree) {
  const FloatModel reference = import_onnx(flatten_then_linear("Flatten", "Gemm"));
  ASSERT_EQ(reference.graph.ops.size(), 2u);
  EXPECT_EQ(reference.graph.ops[1].kind, OpKind::FullyConnected);
  const std::vector<float> x = random_input(reference.graph, 5);
  for (const auto& [flatten, linear] : {std::pair{"Reshape", "Gemm"}, {"Flatten", "MatMul"}, {"Reshape", "MatMul"}}) {
    SCOPED_TRACE(std::string(flatten) + " + " + linear);
    const FloatModel m = import_onnx(flatten_then_linear(flatten, linear));
    ASSERT_EQ(m.graph.ops.size(), 2u);  // the bias Add folds into the fully connected layer
    EXPECT_LT(max_abs_diff(run_float(m, x), run_float(reference, x)), 1e-6f);
  }
  // The weights read the engine's NHWC input: ONNX row k = (c * 4 + y) * 4 + x of B sits at engine
  // index (y * 4 + x) * 3 + c.
  const onnx::ModelProto model = flatten_then_linear("Flatten", "Gemm");
  std::vector<double> b;
  for (const auto& t : model.graph().initializer())
    if (t.name() == "w") b = onnx_tensor_values(t);
  const auto& w = reference.params[1].weights;
  for (int n = 0; n < 5; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int xx = 0; xx < 4; ++xx)
          ASSERT_EQ(w[size_t(n * 48 + (y * 4 + xx) * 3 + c)], float(b[size_t(((c * 4 + y) * 4 + xx) * 5 + n)]));
}

TEST(OnnxImport, ReluOnATensorWithTwoReadersStaysSeparate) {
  OnnxBuilder b({1, 2, 5, 5});
  b.node("Conv", {"x", b.constant("w", {2, 2, 1, 1}, 1)}, "c");
  b.node("Relu", {"c"}, "r");
  b.node("Add", {"r", "c"}, "y");
  const FloatModel m = import_onnx(b.finish("y"));
  ASSERT_EQ(m.graph.ops.size(), 3u);
  EXPECT_EQ(m.graph.ops[0].kind, OpKind::PointwiseConv2D);
  EXPECT_EQ(m.graph.ops[0].activation, Activation::None);
  EXPECT_EQ(m.graph.ops[1].activation, Activation::Relu);
  const auto t = run_float_all(m, random_input(m.graph, 2));
  const auto& conv = t[size_t(m.graph.ops[0].output)];
  const auto& y = t[size_t(m.graph.output)];
  for (size_t i = 0; i < y.size(); ++i) EXPECT_FLOAT_EQ(y[i], std::max(conv[i], 0.0f) + conv[i]);
}

// A one-node model on a [1,4,6,6] input; `edit` sets the node up.
template <typename Edit>
std::string one_node_error(const std::string& op, std::vector<std::string> inputs, Edit edit) {
  OnnxBuilder b({1, 4, 6, 6});
  inputs.insert(inputs.begin(), "x");
  edit(b, b.node(op, inputs, "y", "the_node"));
  return input_error_message([&] { import_onnx(b.finish("y")); });
}

TEST(OnnxImport, RefusesWhatTheEngineCannotRun) {
  auto nothing = [](OnnxBuilder&, onnx::NodeProto&) {};
  // Grouped convolution other than depthwise.
  std::string msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.constant("w", {4, 2, 3, 3}, 1);
    OnnxBuilder::integer(n, "group", 2);
  });
  EXPECT_NE(msg.find("Conv 'the_node'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("group 2"), std::string::npos) << msg;
  // A wrong input channel count, which ONNX's shape inference lets through.
  msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto&) { b.constant("w", {4, 3, 3, 3}, 1); });
  EXPECT_NE(msg.find("expect 3 input channels; the input has 4"), std::string::npos) << msg;
  msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto&) { b.constant("w", {4, 4, 3, 1}, 1); });
  EXPECT_NE(msg.find("non-square kernel 3x1"), std::string::npos) << msg;
  msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.constant("w", {4, 4, 3, 3}, 1);
    OnnxBuilder::ints(n, "dilations", {2, 2});
  });
  EXPECT_NE(msg.find("dilations"), std::string::npos) << msg;
  msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.constant("w", {4, 4, 3, 3}, 1);
    OnnxBuilder::ints(n, "strides", {1, 2});
  });
  EXPECT_NE(msg.find("one stride for both dimensions"), std::string::npos) << msg;
  msg = one_node_error("Sigmoid", {}, nothing);
  EXPECT_NE(msg.find("Sigmoid 'the_node': the engine has no such op"), std::string::npos) << msg;
  msg = one_node_error("Softmax", {}, nothing);  // opset 13: over the last axis (width)
  EXPECT_NE(msg.find("Softmax 'the_node'"), std::string::npos) << msg;
  msg = one_node_error("MaxPool", {}, [](OnnxBuilder&, onnx::NodeProto& n) { OnnxBuilder::ints(n, "kernel_shape", {3, 2}); });
  EXPECT_NE(msg.find("MaxPool 'the_node': non-square kernel"), std::string::npos) << msg;
}

}  // namespace
