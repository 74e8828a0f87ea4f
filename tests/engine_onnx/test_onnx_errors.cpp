// Bad input files: missing, not ONNX, an invalid model, an op the engine cannot run.
#include <gtest/gtest.h>

#include "onnx_test_util.h"
#include "test_helpers.h"
#include "tinynas/engine/deploy.h"
#include "tinynas/engine/onnx.h"

using namespace tinynas::engine;
using tinynas_test::input_error_message;
using tinynas_test::OnnxBuilder;
using tinynas_test::TempDir;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(OnnxImportErrors, MissingFile) {
  const std::string msg = input_error_message([] { import_onnx("/nonexistent/model.onnx"); });
  EXPECT_TRUE(contains(msg, "cannot read '/nonexistent/model.onnx'")) << msg;
}

TEST(OnnxImportErrors, NotAnOnnxFile) {
  TempDir dir;
  for (const std::string& text : {std::string(), std::string("r: 48\nw: 0.5\n"), std::string("\x08\x07\x12\x03xyz", 7)}) {
    const std::string path = dir.write("model.onnx", text);
    const std::string msg = input_error_message([&] { import_onnx(path); });
    EXPECT_TRUE(contains(msg, path)) << msg;
    EXPECT_TRUE(contains(msg, "not an ONNX model") || contains(msg, "not a valid ONNX model")) << msg;
  }
}

TEST(OnnxImportErrors, InvalidModel) {
  OnnxBuilder b({1, 2, 4, 4});
  b.node("Relu", {"missing"}, "y");
  const std::string msg = input_error_message([&] { import_onnx(b.finish("y"), "hand.onnx"); });
  EXPECT_TRUE(contains(msg, "hand.onnx: not a valid ONNX model")) << msg;
}

TEST(OnnxImportErrors, UnsupportedOpInAFile) {
  TempDir dir;
  OnnxBuilder b({1, 2, 4, 4});
  b.node("Relu", {"x"}, "r", "relu");
  b.node("Sin", {"r"}, "y", "sine");
  const onnx::ModelProto model = b.finish("y");
  std::string bytes;
  ASSERT_TRUE(model.SerializeToString(&bytes));
  const std::string path = dir.write("sine.onnx", bytes);
  const std::string msg = input_error_message([&] { import_onnx(path); });
  EXPECT_EQ(msg, "'" + path + "': Sin 'sine': the engine has no such op");
}

// An input of 2^40 elements (every dimension within 2^24) once ran out of memory (bad_alloc, exit 1); a
// 4096x4096 image built a 93 MB bundle for minutes. Both fail at once now, from the shapes alone.
TEST(OnnxImportErrors, InputsBeyondAnyMcusMemoryAreRefusedBeforeAnyWork) {
  OnnxBuilder huge({1, 1, 1 << 20, 1 << 20});
  huge.node("Relu", {"x"}, "y");
  std::string msg = input_error_message([&] { import_onnx(huge.finish("y"), "huge.onnx"); });
  EXPECT_TRUE(contains(msg, "huge.onnx")) << msg;
  EXPECT_TRUE(contains(msg, "more than 2^26 elements")) << msg;

  OnnxBuilder big({1, 3, 4096, 4096});
  big.node("Relu", {"x"}, "y");
  const FloatModel m = import_onnx(big.finish("y"), "big.onnx");
  msg = input_error_message([&] { check_fits_board(m.graph, board_by_name("stm32f746")); });
  EXPECT_TRUE(contains(msg, "does not fit stm32f746")) << msg;
  EXPECT_TRUE(contains(msg, "320.0 KiB")) << msg;
}

// Found by fuzzing (scripts/fuzz.sh): a Conv with 4-D weights on a 3-D input and no kernel_shape
// attribute made ONNX's own shape inference read past its arrays and crash the process (SIGSEGV).
// Such a model is now an input error naming the node, and so is an op the engine lacks (ConvInteger was
// the fuzzer's op) before ONNX's inference of it runs.
TEST(OnnxImportErrors, ConvWeightsOfAnotherRankThanTheInputAreAnErrorNotACrash) {
  for (const std::string op : {"Conv", "ConvInteger"}) {
    OnnxBuilder b({1, 3, 3});
    b.constant("w", {1, 3, 2, 2}, 1);
    b.node(op, {"x", "w"}, "y", "rank_mismatch");
    const std::string msg = input_error_message([&] { import_onnx(b.finish("y"), "fuzzed.onnx"); });
    if (op == "Conv") {
      EXPECT_TRUE(contains(msg, "fuzzed.onnx: shape inference failed")) << msg;
      EXPECT_TRUE(contains(msg, "node name: rank_mismatch")) << msg;
      EXPECT_TRUE(contains(msg, "kernel_shape has incorrect size")) << msg;
    } else {
      EXPECT_EQ(msg, "fuzzed.onnx: ConvInteger 'rank_mismatch': the engine has no such op");
    }
  }
}

// Found by fuzzing: a stride of 0 made ONNX's shape inference divide by zero (SIGFPE). Strides, window
// sizes and dilations below 1 and negative pads are refused, naming the node, before it runs.
TEST(OnnxImportErrors, ZeroStridesAndNegativePadsAreAnErrorNotACrash) {
  const std::vector<std::pair<std::string, std::vector<int64_t>>> bad = {
      {"strides", {0, 1}}, {"dilations", {1, 0}}, {"kernel_shape", {0, 3}}, {"pads", {0, -1, 0, 0}}};
  for (const std::string op : {"Conv", "MaxPool", "AveragePool"}) {
    for (const auto& [name, values] : bad) {
      if (name == "dilations" && op == "AveragePool") continue;  // no such attribute
      OnnxBuilder b({1, 3, 8, 8});
      std::vector<std::string> inputs = {"x"};
      if (op == "Conv") inputs.push_back(b.constant("w", {4, 3, 3, 3}, 1));
      onnx::NodeProto& node = b.node(op, inputs, "y", "bad_window");
      if (op != "Conv" && name != "kernel_shape") OnnxBuilder::ints(node, "kernel_shape", {3, 3});
      OnnxBuilder::ints(node, name.c_str(), values);
      const std::string msg = input_error_message([&] { import_onnx(b.finish("y"), "fuzzed.onnx"); });
      EXPECT_TRUE(contains(msg, "fuzzed.onnx: " + op + " 'bad_window': " + name + " must lie in")) << msg;
    }
  }
}

// Found by fuzzing: Gemm of opset 6 (the version of ONNX's older model zoo) on a vector or a scalar
// made ONNX's shape inference read dims its input does not have (SIGSEGV inside libonnx). Gemm's inputs
// are checked for rank 2 before its inference function runs, at every opset.
TEST(OnnxImportErrors, GemmOfAVectorIsAnErrorNotACrash) {
  for (int opset : {6, 13}) {
    for (const std::vector<int64_t>& b_dims : std::vector<std::vector<int64_t>>{{4}, {}}) {
      OnnxBuilder b({1, 3}, opset);
      b.constant("b", b_dims, 1);
      b.constant("c", {1}, 2);
      b.node("Gemm", {"x", "b", "c"}, "y", "vector_gemm");
      const std::string msg = input_error_message([&] { import_onnx(b.finish("y", 2), "fuzzed.onnx"); });
      EXPECT_TRUE(contains(msg, "fuzzed.onnx: shape inference failed")) << msg;
      EXPECT_TRUE(contains(msg, "vector_gemm")) << msg;
      EXPECT_TRUE(contains(msg, "rank 2")) << msg;
    }
  }
}

// Found by fuzzing: a Reshape target whose dims multiply past int64 overflowed (UB) while the -1 was
// inferred. Dims below -1, two -1s and overflowing products are refused, naming the node.
TEST(OnnxImportErrors, ReshapeTargetsThatCannotBeAShapeAreAnError) {
  const std::vector<std::vector<int64_t>> bad = {{211106232532995, 1095216660483}, {1, -1, -1}, {1, -2, 24}};
  for (const auto& target : bad) {
    OnnxBuilder b({1, 3, 4, 4});
    b.node("Reshape", {"x", b.int64_constant("target", target)}, "y", "bad_reshape");
    const std::string msg = input_error_message([&] { import_onnx(b.finish("y"), "fuzzed.onnx"); });
    EXPECT_TRUE(contains(msg, "fuzzed.onnx")) << msg;
    EXPECT_TRUE(contains(msg, "bad_reshape") || contains(msg, "shape inference failed")) << msg;
  }
}

// An op type or name from the file reached the terminal raw: escape sequences could rewrite the screen.
TEST(OnnxImportErrors, ControlCharactersInNamesAreShownEscaped) {
  OnnxBuilder b({1, 2, 4, 4});
  b.node("Relu", {"x"}, "y", "\x1b[2Jcleared");
  b.node("\x1b]0;title\x07Op", {"y"}, "z", "n");
  const std::string msg = input_error_message([&] { import_onnx(b.finish("z"), "evil.onnx"); });
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\x07'), std::string::npos) << msg;
  EXPECT_TRUE(contains(msg, "evil.onnx")) << msg;
}

TEST(OnnxImportErrors, InputAndOutputCounts) {
  OnnxBuilder two_inputs({1, 2, 4, 4});
  OnnxBuilder::declare(two_inputs.graph.add_input(), "x2", {1, 2, 4, 4});
  two_inputs.node("Add", {"x", "x2"}, "y");
  std::string msg = input_error_message([&] { import_onnx(two_inputs.finish("y")); });
  EXPECT_TRUE(contains(msg, "the engine takes one input; the graph has 2 ('x', 'x2')")) << msg;

  OnnxBuilder two_outputs({1, 2, 4, 4});
  two_outputs.node("Relu", {"x"}, "y");
  two_outputs.node("Relu", {"x"}, "z");
  two_outputs.finish("y");
  msg = input_error_message([&] { import_onnx(two_outputs.finish("z")); });
  EXPECT_TRUE(contains(msg, "the engine has one output; the graph has 2 ('y' from Relu 'y', 'z' from Relu 'z')")) << msg;

  // Only the batch may be symbolic.
  OnnxBuilder symbolic({1, 2, 4, 4});
  symbolic.graph.mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(2)->set_dim_param("height");
  symbolic.node("Relu", {"x"}, "y");
  msg = input_error_message([&] { import_onnx(symbolic.finish("y")); });
  EXPECT_TRUE(contains(msg, "graph input 'x' (read by Relu 'y'): dimension 2 ('height') must be fixed")) << msg;
}

// A fixed batch N > 1 or a symbolic one (torch.onnx.export's dynamic_axes) runs as batch 1, also
// through the Reshape to [N, -1] of a fixed batch and the Shape -> Gather -> Unsqueeze -> Concat chain
// that x.view(x.size(0), -1) exports to with a symbolic batch.
TEST(OnnxImportErrors, AnyBatchRunsAsBatchOne) {
  for (const bool symbolic : {false, true}) {
    SCOPED_TRACE(symbolic ? "symbolic batch" : "batch 2");
    OnnxBuilder b({2, 3, 4, 4});
    auto* batch = b.graph.mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
    if (symbolic) batch->set_dim_param("batch");
    b.node("Relu", {"x"}, "r");
    if (symbolic) {
      b.node("Shape", {"r"}, "shape");
      OnnxBuilder::integer(b.node("Gather", {"shape", b.int64_constant("zero", {0})}, "n"), "axis", 0);
      OnnxBuilder::integer(b.node("Concat", {"n", b.int64_constant("rest", {-1})}, "target"), "axis", 0);
      b.node("Reshape", {"r", "target"}, "f");
    } else {
      b.node("Reshape", {"r", b.int64_constant("target", {2, -1})}, "f");
    }
    b.node("Gemm", {"f", b.constant("w", {48, 5}, 1)}, "y");
    const FloatModel m = import_onnx(b.finish("y", 2));
    const Tensor& in = m.graph.tensors[size_t(m.graph.input)];
    EXPECT_EQ(in.elements(), 48);
    EXPECT_EQ(m.graph.tensors[size_t(m.graph.output)].elements(), 5);
  }
}

}  // namespace
