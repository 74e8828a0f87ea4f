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
  // Output channels that do not split into the groups.
  std::string msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.constant("w", {3, 2, 3, 3}, 1);
    OnnxBuilder::integer(n, "group", 2);
  });
  EXPECT_NE(msg.find("Conv 'the_node'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 groups"), std::string::npos) << msg;
  // A wrong input channel count, which ONNX's shape inference lets through.
  msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto&) { b.constant("w", {4, 3, 3, 3}, 1); });
  EXPECT_NE(msg.find("expect 3 input channels; the input has 4"), std::string::npos) << msg;
  // A dilated window that reaches past the padded input (9 rows of a 6-row input).
  msg = one_node_error("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.constant("w", {4, 4, 3, 3}, 1);
    OnnxBuilder::ints(n, "dilations", {4, 4});
  });
  EXPECT_NE(msg.find("Conv 'the_node'"), std::string::npos) << msg;
  msg = one_node_error("Sin", {}, nothing);
  EXPECT_NE(msg.find("Sin 'the_node': the engine has no such op"), std::string::npos) << msg;
  msg = one_node_error("Softmax", {}, nothing);  // opset 13: over the last axis (width)
  EXPECT_NE(msg.find("Softmax 'the_node'"), std::string::npos) << msg;
}

// Resize in mode nearest is one op whose index tables follow the coordinate transformation and the
// rounding (hand-computed: asymmetric, rounded down, scales 2 and 1.5 on a 6x6 input); a Gather of rows
// after it composes with it; other modes and resizing the channels are refused by name.
TEST(OnnxImport, ResizeInModeNearestIsOneOpAndRefusesTheRest) {
  auto resize = [](const std::vector<float>& scales, const std::string& mode, const std::string& transform,
                   bool gather_after) {
    OnnxBuilder b({1, 4, 6, 6});
    auto& n = b.node("Resize", {"x", "", b.constant("scales", {4}, scales)}, "r", "the_node");
    OnnxBuilder::text(n, "mode", mode);
    OnnxBuilder::text(n, "coordinate_transformation_mode", transform);
    OnnxBuilder::text(n, "nearest_mode", "floor");
    if (!gather_after) return b.finish("r");
    OnnxBuilder::integer(b.node("Gather", {"r", b.int64_constant("rows", {11, -1, 0})}, "y"), "axis", 2);
    return b.finish("y");
  };
  const FloatModel m = import_onnx(resize({1, 1, 2, 1.5}, "nearest", "asymmetric", false));
  ASSERT_EQ(m.graph.ops.size(), 1u);
  const Op& op = m.graph.ops[0];
  EXPECT_EQ(op.kind, OpKind::Resize);
  EXPECT_EQ(op.resize_rows, (std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5}));
  EXPECT_EQ(op.resize_cols, (std::vector<int>{0, 0, 1, 2, 2, 3, 4, 4, 5}));
  const Tensor& out = m.graph.tensors[size_t(m.graph.output)];
  EXPECT_EQ(out.h, 12);
  EXPECT_EQ(out.w, 9);
  EXPECT_EQ(out.c, 4);

  const FloatModel gathered = import_onnx(resize({1, 1, 2, 1.5}, "nearest", "asymmetric", true));
  ASSERT_EQ(gathered.graph.ops.size(), 1u);
  EXPECT_EQ(gathered.graph.ops[0].resize_rows, (std::vector<int>{5, 5, 0}));
  EXPECT_EQ(gathered.graph.ops[0].resize_cols, op.resize_cols);

  std::string msg = input_error_message([&] { import_onnx(resize({1, 2, 1, 1}, "nearest", "asymmetric", false)); });
  EXPECT_NE(msg.find("Resize 'the_node': resizes the channels"), std::string::npos) << msg;
  msg = input_error_message([&] { import_onnx(resize({1, 1, 2, 2}, "linear", "asymmetric", false)); });
  EXPECT_NE(msg.find("Resize 'the_node': mode 'linear'"), std::string::npos) << msg;
  msg = input_error_message([&] { import_onnx(resize({1, 1, 2, 2}, "nearest", "tf_crop_and_resize", false)); });
  EXPECT_NE(msg.find("tf_crop_and_resize"), std::string::npos) << msg;
}

// Windows beyond square ones keep their shape: non-square kernels and strides, dilation, groups (a
// depthwise conv with a channel multiplier is a grouped conv), and non-square pooling.
TEST(OnnxImport, NonSquareDilatedAndGroupedWindowsKeepTheirShape) {
  auto import_one = [](const std::string& op, std::vector<std::string> inputs, auto edit) {
    OnnxBuilder b({1, 4, 6, 6});
    inputs.insert(inputs.begin(), "x");
    edit(b, b.node(op, inputs, "y", "the_node"));
    return import_onnx(b.finish("y"));
  };
  FloatModel m = import_one("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.constant("w", {6, 2, 3, 2}, 1);
    OnnxBuilder::integer(n, "group", 2);
    OnnxBuilder::ints(n, "strides", {1, 2});
    OnnxBuilder::ints(n, "dilations", {2, 1});
    OnnxBuilder::ints(n, "pads", {2, 0, 2, 1});
  });
  ASSERT_EQ(m.graph.ops.size(), 1u);
  Op op = m.graph.ops[0];
  EXPECT_EQ(op.kind, OpKind::Conv2D);
  EXPECT_EQ(op.kernel_h, 3);
  EXPECT_EQ(op.kernel_w, 2);
  EXPECT_EQ(op.stride_h, 1);
  EXPECT_EQ(op.stride_w, 2);
  EXPECT_EQ(op.dilation_h, 2);
  EXPECT_EQ(op.dilation_w, 1);
  EXPECT_EQ(op.groups, 2);
  EXPECT_EQ(op.pad_h, 2);
  EXPECT_EQ(op.pad_w, 0);
  const Tensor out = m.graph.tensors[size_t(m.graph.output)];
  EXPECT_EQ(out.h, 6);  // (6 + 4 - 5) / 1 + 1
  EXPECT_EQ(out.w, 3);  // (6 + 1 - 2) / 2 + 1
  EXPECT_EQ(out.c, 6);

  m = import_one("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {  // channel multiplier 2
    b.constant("w", {8, 1, 3, 3}, 1);
    OnnxBuilder::integer(n, "group", 4);
    OnnxBuilder::ints(n, "pads", {1, 1, 1, 1});
  });
  EXPECT_EQ(m.graph.ops[0].kind, OpKind::Conv2D);
  EXPECT_EQ(m.graph.ops[0].groups, 4);

  m = import_one("Conv", {"w"}, [](OnnxBuilder& b, onnx::NodeProto& n) {  // depthwise, multiplier 1
    b.constant("w", {4, 1, 3, 3}, 1);
    OnnxBuilder::integer(n, "group", 4);
  });
  EXPECT_EQ(m.graph.ops[0].kind, OpKind::DepthwiseConv2D);

  m = import_one("MaxPool", {}, [](OnnxBuilder&, onnx::NodeProto& n) {
    OnnxBuilder::ints(n, "kernel_shape", {3, 2});
    OnnxBuilder::ints(n, "dilations", {1, 2});
  });
  op = m.graph.ops[0];
  EXPECT_EQ(op.kind, OpKind::MaxPool2D);
  EXPECT_EQ(op.kernel_h, 3);
  EXPECT_EQ(op.kernel_w, 2);
  EXPECT_EQ(op.dilation_w, 2);
  EXPECT_EQ(m.graph.tensors[size_t(m.graph.output)].w, 4);  // 6 - 3 + 1
}

}  // namespace

namespace {

// Conv (3x3, no pads of its own) on [1,3,6,6]; `pads` as a Pad node before it (ONNX order: begins of
// N, C, H, W, then ends) or, when `as_attribute`, as the conv's pads (top, left, bottom, right).
onnx::ModelProto padded_conv(const std::vector<int64_t>& pads, bool as_attribute) {
  OnnxBuilder b({1, 3, 6, 6});
  std::string x = "x";
  if (!as_attribute) {
    b.node("Pad", {"x", b.int64_constant("pads", pads)}, "p");
    x = "p";
  }
  auto& conv = b.node("Conv", {x, b.constant("w", {4, 3, 3, 3}, 1), b.constant("b", {4}, 2)}, "y");
  if (as_attribute) OnnxBuilder::ints(conv, "pads", {pads[2], pads[3], pads[6], pads[7]});
  return b.finish("y");
}

TEST(OnnxImport, PadFoldsIntoTheFollowingConv) {
  for (const auto& pads : {std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1}, {0, 0, 1, 0, 0, 0, 0, 1}, {0, 0, 0, 0, 0, 0, 0, 0}}) {
    const FloatModel with_pad = import_onnx(padded_conv(pads, false));
    const FloatModel reference = import_onnx(padded_conv(pads, true));
    ASSERT_EQ(with_pad.graph.ops.size(), 1u);
    ASSERT_EQ(with_pad.graph.tensors[size_t(with_pad.graph.output)].elements(),
              reference.graph.tensors[size_t(reference.graph.output)].elements());
    const std::vector<float> x = random_input(reference.graph, 3);
    EXPECT_LT(max_abs_diff(run_float(with_pad, x), run_float(reference, x)), 1e-6f);
  }
  // Anything but a Conv or AveragePool after a non-zero Pad, other modes and values are refused.
  OnnxBuilder b({1, 3, 6, 6});
  b.node("Pad", {"x", b.int64_constant("pads", {0, 0, 1, 1, 0, 0, 1, 1})}, "p");
  b.node("Relu", {"p"}, "y");
  std::string msg = input_error_message([&] { import_onnx(b.finish("y")); });
  EXPECT_NE(msg.find("Relu 'y': reads the output of a Pad ('p')"), std::string::npos) << msg;
  msg = one_node_error("Pad", {"pads"}, [](OnnxBuilder& b, onnx::NodeProto& n) {
    b.int64_constant("pads", {0, 0, 1, 1, 0, 0, 1, 1});
    auto* mode = n.add_attribute();
    mode->set_name("mode");
    mode->set_type(onnx::AttributeProto::STRING);
    mode->set_s("reflect");
  });
  EXPECT_NE(msg.find("Pad 'the_node': mode 'reflect': the engine pads with zeros only"), std::string::npos) << msg;
}

// Conv -> Mul -> Sub -> Div by per-channel constants: folded into the conv's weights and bias.
TEST(OnnxImport, PerChannelMulSubDivFoldIntoTheConv) {
  const std::vector<float> scale = {0.5f, -2.0f, 1.5f, 3.0f}, shift = {0.1f, -0.2f, 0.3f, 0.0f}, divisor = {2.0f, 4.0f, -1.0f, 0.5f};
  auto model = [&](bool arithmetic) {
    OnnxBuilder b({1, 3, 6, 6});
    b.node("Conv", {"x", b.constant("w", {4, 3, 3, 3}, 1), b.constant("b", {4}, 2)}, "c");
    if (!arithmetic) return b.finish("c");
    b.node("Mul", {"c", b.constant("scale", {4, 1, 1}, scale)}, "m");
    b.node("Sub", {"m", b.constant("shift", {1, 4, 1, 1}, shift)}, "s");
    b.node("Div", {"s", b.constant("divisor", {4, 1, 1}, divisor)}, "y");
    return b.finish("y");
  };
  const FloatModel folded = import_onnx(model(true));
  const FloatModel conv = import_onnx(model(false));
  ASSERT_EQ(folded.graph.ops.size(), 1u);
  const std::vector<float> x = random_input(conv.graph, 4);
  std::vector<float> want = run_float(conv, x);
  for (size_t i = 0; i < want.size(); ++i) want[i] = (want[i] * scale[i % 4] - shift[i % 4]) / divisor[i % 4];
  EXPECT_LT(max_abs_diff(run_float(folded, x), want), 1e-5f);

  // A constant minus an activation; two activations are refused.
  OnnxBuilder b({1, 2, 3, 3});
  b.node("Sub", {b.constant("c", {}, std::vector<float>{1.0f}), "x"}, "y");
  const FloatModel reversed = import_onnx(b.finish("y"));
  const std::vector<float> x2 = random_input(reversed.graph, 5);
  std::vector<float> want2 = x2;
  for (float& v : want2) v = 1.0f - v;
  EXPECT_LT(max_abs_diff(run_float(reversed, x2), want2), 1e-6f);
  const std::string msg = one_node_error("Div", {"x"}, [](OnnxBuilder&, onnx::NodeProto&) {});
  EXPECT_NE(msg.find("Div 'the_node': both operands are activations; the engine divides by a constant only"),
            std::string::npos) << msg;
}

TEST(OnnxImport, ReduceMeanOverHeightAndWidthIsAGlobalAveragePool) {
  auto model = [](const std::string& op, int64_t keepdims) {
    OnnxBuilder b({1, 3, 5, 4});
    auto& node = b.node(op, {"x"}, "y");
    if (op == "ReduceMean") {
      OnnxBuilder::ints(node, "axes", {-1, 2});
      OnnxBuilder::integer(node, "keepdims", keepdims);
    }
    return b.finish("y", keepdims ? 4 : 2);
  };
  const FloatModel reference = import_onnx(model("GlobalAveragePool", 1));
  const std::vector<float> x = random_input(reference.graph, 6);
  for (const int64_t keepdims : {0, 1}) {
    const FloatModel m = import_onnx(model("ReduceMean", keepdims));
    ASSERT_EQ(m.graph.ops.size(), 1u);
    EXPECT_EQ(m.graph.ops[0].kind, OpKind::GlobalAvgPool);
    EXPECT_LT(max_abs_diff(run_float(m, x), run_float(reference, x)), 1e-6f);
  }
  const std::string msg = one_node_error("ReduceMean", {}, [](OnnxBuilder&, onnx::NodeProto& n) { OnnxBuilder::ints(n, "axes", {1}); });
  EXPECT_NE(msg.find("ReduceMean 'the_node': axes [1]"), std::string::npos) << msg;
}

// Squeeze, Unsqueeze and Transpose that only add, drop or move axes of size 1 change no data: the
// [1,C,1,1] <-> [1,C] forms around a classifier. One that reorders data is refused.
TEST(OnnxImport, SqueezeUnsqueezeAndTransposeOfSizeOneAxesAreAliases) {
  auto model = [](bool layout_ops) {
    OnnxBuilder b({1, 3, 4, 4});
    b.node("GlobalAveragePool", {"x"}, "g");
    if (layout_ops) {
      b.node("Squeeze", {"g", b.int64_constant("axes", {2, 3})}, "s");
      b.node("Gemm", {"s", b.constant("w", {3, 5}, 1)}, "f");
      b.node("Unsqueeze", {"f", b.int64_constant("axes2", {2, 3})}, "u");
      OnnxBuilder::ints(b.node("Transpose", {"u"}, "y"), "perm", {0, 1, 3, 2});
    } else {
      b.node("Flatten", {"g"}, "s");
      b.node("Gemm", {"s", b.constant("w", {3, 5}, 1)}, "y");
    }
    return b.finish("y", layout_ops ? 4 : 2);
  };
  const FloatModel m = import_onnx(model(true));
  const FloatModel reference = import_onnx(model(false));
  EXPECT_EQ(m.graph.ops.size(), 2u);
  const std::vector<float> x = random_input(m.graph, 9);
  EXPECT_LT(max_abs_diff(run_float(m, x), run_float(reference, x)), 1e-6f);

  const std::string msg = one_node_error("Transpose", {}, [](OnnxBuilder&, onnx::NodeProto& n) {
    OnnxBuilder::ints(n, "perm", {0, 1, 3, 2});
  });
  EXPECT_NE(msg.find("Transpose 'the_node': perm [0,1,3,2] of [1,4,6,6] reorders the data"), std::string::npos) << msg;
}

// A Reshape target computed from the input's shape with Slice, Squeeze, Unsqueeze, Cast, Mul and Concat
// folds to a constant; the same ops on an activation are refused.
TEST(OnnxImport, ShapeArithmeticFoldsToConstants) {
  OnnxBuilder b({1, 3, 4, 4});
  b.node("Shape", {"x"}, "shape");
  b.node("Slice", {"shape", b.int64_constant("start", {1}), b.int64_constant("end", {4})}, "chw");  // [3, 4, 4]
  b.node("Unsqueeze", {"chw", b.int64_constant("axes0", {0})}, "chw2");                            // [[3, 4, 4]]
  b.node("Squeeze", {"chw2", b.int64_constant("axes1", {0})}, "chw3");                               // [3, 4, 4]
  auto& cast = b.node("Cast", {"chw3"}, "chw_f");
  OnnxBuilder::integer(cast, "to", onnx::TensorProto::FLOAT);
  b.node("Mul", {"chw_f", b.constant("ones", {3}, std::vector<float>{1.0f, 1.0f, 1.0f})}, "chw_m");
  auto& back = b.node("Cast", {"chw_m"}, "chw_i");
  OnnxBuilder::integer(back, "to", onnx::TensorProto::INT64);
  b.node("Slice", {"chw_i", b.int64_constant("s0", {0}), b.int64_constant("e0", {1})}, "c");  // [3]
  b.node("Mul", {"c", b.int64_constant("pixels", {16})}, "n");                                    // [48]
  OnnxBuilder::integer(b.node("Concat", {b.int64_constant("one", {1}), "n"}, "target"), "axis", 0);  // [1, 48]
  b.node("Reshape", {"x", "target"}, "r");
  b.node("Gemm", {"r", b.constant("w", {48, 5}, 1)}, "y");
  const FloatModel m = import_onnx(b.finish("y", 2));

  OnnxBuilder flat({1, 3, 4, 4});
  flat.node("Flatten", {"x"}, "r");
  flat.node("Gemm", {"r", flat.constant("w", {48, 5}, 1)}, "y");
  const FloatModel reference = import_onnx(flat.finish("y", 2));
  const std::vector<float> x = random_input(m.graph, 8);
  EXPECT_LT(max_abs_diff(run_float(m, x), run_float(reference, x)), 1e-6f);

  const std::string msg = one_node_error("Cast", {}, [](OnnxBuilder&, onnx::NodeProto& n) {
    OnnxBuilder::integer(n, "to", onnx::TensorProto::FLOAT);
  });
  EXPECT_NE(msg.find("Cast 'the_node': the engine runs this op on constants only"), std::string::npos) << msg;
}

}  // namespace
