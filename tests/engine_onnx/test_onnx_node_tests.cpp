// ONNX's own backend test cases (Debian's libonnx-testdata): the node tests of the ops the importer
// covers, and every pytorch-converted and simple model. Each is imported and run on the engine's float
// reference (run_float) against the expected output, or must be refused with an InputError that names
// one of its ops.
//
// The test data gives every graph input, weights included; the engine takes one input, so inputs 1..n
// (W and B of Conv, B and C of Gemm, BatchNormalization's parameters, Clip's bounds, the scales and
// zero points of the quantization ops) are bound as constants (initializers) before the import. The
// importer runs a batch of N > 1 as batch 1 (onnx.h): the cases run item by item.
#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "onnx_test_util.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/core/errors.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::chw_to_hwc;
using tinynas_test::hwc_to_chw;
using tinynas_test::load_proto;

namespace {

// The node tests this suite covers: names starting with one of these. Every pytorch-converted and
// simple case is covered.
const std::vector<std::string> kCasePrefixes = {
    "test_conv",  "test_averagepool", "test_maxpool",  "test_globalaveragepool", "test_gemm",
    "test_clip",  "test_add",         "test_flatten",  "test_batchnorm",         "test_quantizelinear",
    "test_dequantizelinear", "test_sigmoid", "test_hardsigmoid", "test_hardswish", "test_tanh",
    "test_leakyrelu",     "test_elu",         "test_prelu",    "test_mul",               "test_selu",
    "test_softplus", "test_concat", "test_split", "test_slice", "test_gather", "test_resize", "test_upsample"};
const std::vector<std::string> kSingleCases = {"test_relu", "test_qlinearconv"};
const std::vector<std::string> kWholeFolders = {"pytorch-converted", "simple"};

// The cases the engine runs; every other covered case must be refused with a clean InputError.
const std::vector<std::string> kPassing = {
    "node/test_averagepool_1d_default", "node/test_maxpool_1d_default", "node/test_gather_1", "node/test_slice_end_out_of_bounds",
    "node/test_slice_neg", "node/test_averagepool_2d_ceil", "node/test_averagepool_2d_default", "node/test_averagepool_2d_pads",
    "node/test_averagepool_2d_pads_count_include_pad", "node/test_averagepool_2d_precomputed_pads",
    "node/test_averagepool_2d_precomputed_pads_count_include_pad", "node/test_averagepool_2d_precomputed_same_upper",
    "node/test_averagepool_2d_precomputed_strides", "node/test_averagepool_2d_same_lower",
    "node/test_averagepool_2d_same_upper", "node/test_averagepool_2d_strides", "node/test_batchnorm_epsilon",
    "node/test_batchnorm_example", "node/test_clip_default_min", "node/test_conv_with_autopad_same",
    "node/test_conv_with_strides_and_asymmetric_padding", "node/test_conv_with_strides_no_padding",
    "node/test_conv_with_strides_padding", "node/test_flatten_axis1", "node/test_flatten_default_axis",
    "node/test_flatten_negative_axis3", "node/test_gemm_alpha", "node/test_gemm_beta", "node/test_gemm_default_no_bias",
    "node/test_gemm_default_scalar_bias", "node/test_gemm_default_single_elem_vector_bias",
    "node/test_gemm_default_vector_bias", "node/test_gemm_default_zero_bias", "node/test_gemm_transposeB",
    "node/test_globalaveragepool", "node/test_globalaveragepool_precomputed", "node/test_maxpool_2d_ceil",
    "node/test_maxpool_2d_default", "node/test_maxpool_2d_dilations", "node/test_maxpool_2d_pads", "node/test_maxpool_2d_precomputed_pads",
    "node/test_maxpool_2d_precomputed_same_upper", "node/test_maxpool_2d_precomputed_strides",
    "node/test_maxpool_2d_same_lower", "node/test_maxpool_2d_same_upper", "node/test_maxpool_2d_strides", "node/test_qlinearconv",
    "node/test_relu", "node/test_elu", "node/test_elu_default", "node/test_hardsigmoid", "node/test_hardsigmoid_default",
    "node/test_hardswish", "node/test_hardswish_expanded", "node/test_leakyrelu", "node/test_leakyrelu_default",
    "node/test_sigmoid", "node/test_tanh", "node/test_selu", "node/test_selu_default", "node/test_softplus",
    "node/test_resize_downsample_scales_nearest", "node/test_resize_downsample_sizes_nearest",
    "node/test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn", "node/test_resize_upsample_scales_nearest",
    "node/test_resize_upsample_sizes_nearest", "node/test_resize_upsample_sizes_nearest_ceil_half_pixel",
    "node/test_resize_upsample_sizes_nearest_floor_align_corners",
    "node/test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric", "node/test_upsample_nearest",
    // pytorch-converted and simple
    "pytorch-converted/test_AvgPool1d", "pytorch-converted/test_AvgPool1d_stride", "pytorch-converted/test_Conv1d",
    "pytorch-converted/test_Conv1d_dilated", "pytorch-converted/test_Conv1d_groups", "pytorch-converted/test_Conv1d_pad1",
    "pytorch-converted/test_Conv1d_pad1size1", "pytorch-converted/test_Conv1d_pad2", "pytorch-converted/test_Conv1d_pad2size1",
    "pytorch-converted/test_Conv1d_stride", "pytorch-converted/test_GLU", "pytorch-converted/test_GLU_dim", "pytorch-converted/test_MaxPool1d", "pytorch-converted/test_MaxPool1d_stride",
    "pytorch-converted/test_MaxPool1d_stride_padding_dilation",
    "pytorch-converted/test_AvgPool2d", "pytorch-converted/test_AvgPool2d_stride",
    "pytorch-converted/test_BatchNorm1d_3d_input_eval", "pytorch-converted/test_BatchNorm2d_eval",
    "pytorch-converted/test_BatchNorm2d_momentum_eval", "pytorch-converted/test_Conv2d", "pytorch-converted/test_Conv2d_depthwise",
    "pytorch-converted/test_Conv2d_depthwise_padded", "pytorch-converted/test_Conv2d_depthwise_strided",
    "pytorch-converted/test_Conv2d_depthwise_with_multiplier", "pytorch-converted/test_Conv2d_dilated",
    "pytorch-converted/test_Conv2d_groups", "pytorch-converted/test_Conv2d_groups_thnn", "pytorch-converted/test_Conv2d_no_bias",
    "pytorch-converted/test_Conv2d_padding", "pytorch-converted/test_Conv2d_strided", "pytorch-converted/test_Linear", "pytorch-converted/test_Linear_no_bias",
    "pytorch-converted/test_MaxPool2d", "pytorch-converted/test_MaxPool2d_stride_padding_dilation", "pytorch-converted/test_ReLU", "pytorch-converted/test_Softmax",
    "pytorch-converted/test_softmax_lastdim", "pytorch-converted/test_ELU", "pytorch-converted/test_LeakyReLU",
    "pytorch-converted/test_LeakyReLU_with_negval", "pytorch-converted/test_PReLU_1d",
    "pytorch-converted/test_PReLU_1d_multiparam", "pytorch-converted/test_PReLU_2d",
    "pytorch-converted/test_PReLU_2d_multiparam", "pytorch-converted/test_Sigmoid", "pytorch-converted/test_Tanh",
    "pytorch-converted/test_SELU", "pytorch-converted/test_Softplus",
    "simple/test_single_relu_model",
};

std::string data_dir() { return TINYNAS_ONNX_TEST_DATA; }

std::vector<std::string> folder_cases(const std::string& folder) {
  std::vector<std::string> names;
  if (DIR* d = opendir((data_dir() + "/" + folder).c_str())) {
    while (dirent* e = readdir(d))
      if (std::string(e->d_name).rfind("test_", 0) == 0) names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Cases as "folder/name".
std::vector<std::string> covered_cases() {
  std::vector<std::string> cases;
  for (const std::string& name : folder_cases("node")) {
    const bool prefixed = std::any_of(kCasePrefixes.begin(), kCasePrefixes.end(),
                                      [&](const std::string& p) { return name.rfind(p, 0) == 0; });
    if (prefixed || std::count(kSingleCases.begin(), kSingleCases.end(), name)) cases.push_back("node/" + name);
  }
  for (const std::string& folder : kWholeFolders)
    for (const std::string& name : folder_cases(folder)) cases.push_back(folder + "/" + name);
  return cases;
}

enum class Outcome { Pass, Unsupported, Fail };

struct Result {
  Outcome outcome = Outcome::Fail;
  std::string detail;  // the core::InputError of an unsupported case, the mismatch of a failing one
};

bool is_integer(int32_t type) { return type == onnx::TensorProto::UINT8 || type == onnx::TensorProto::INT8; }

std::vector<float> as_floats(const onnx::TensorProto& t) {
  const std::vector<double> v = onnx_tensor_values(t);
  return std::vector<float>(v.begin(), v.end());
}

// The scale and zero point of an integer graph output, from the node that writes it.
std::pair<double, double> output_quantization(const onnx::ModelProto& model, const std::map<std::string, onnx::TensorProto>& bound) {
  const auto& g = model.graph();
  for (const auto& node : g.node()) {
    if (node.output(0) != g.output(0).name()) continue;
    const int first = node.op_type() == "QLinearConv" ? 6 : 1;
    const double scale = onnx_tensor_values(bound.at(node.input(first)))[0];
    const double zero_point = node.input_size() > first + 1 ? onnx_tensor_values(bound.at(node.input(first + 1)))[0] : 0.0;
    return {scale, zero_point};
  }
  ADD_FAILURE() << "no node writes the integer output";
  return {1.0, 0.0};
}

Result run_case(const std::string& name) {
  const std::string dir = data_dir() + "/" + name;
  onnx::ModelProto model = load_proto<onnx::ModelProto>(dir + "/model.onnx");
  onnx::GraphProto& g = *model.mutable_graph();
  // The graph inputs that are not initializers (older models list their weights as inputs too), in order.
  std::set<std::string> initializers;
  for (const auto& t : g.initializer()) initializers.insert(t.name());
  std::vector<onnx::TensorProto> inputs;
  for (int i = 0; i < g.input_size(); ++i) {
    if (initializers.count(g.input(i).name())) continue;
    inputs.push_back(load_proto<onnx::TensorProto>(dir + "/test_data_set_0/input_" + std::to_string(inputs.size()) + ".pb"));
    inputs.back().set_name(g.input(i).name());
  }
  if (inputs.empty()) return {Outcome::Fail, "the case has no input"};
  const onnx::TensorProto expected = load_proto<onnx::TensorProto>(dir + "/test_data_set_0/output_0.pb");

  std::map<std::string, onnx::TensorProto> bound;
  for (size_t i = 1; i < inputs.size(); ++i) {
    *g.add_initializer() = inputs[i];
    bound[inputs[i].name()] = inputs[i];
  }
  const auto& x_dims = inputs[0].dims();
  const int64_t batch = x_dims.size() >= 2 ? x_dims[0] : 1;
  const bool split = batch > 1 && expected.dims_size() >= 2 && expected.dims(0) == batch;

  FloatModel m;
  try {
    m = import_onnx(model, name);
  } catch (const core::InputError& e) {
    const std::string message = e.what();
    const bool names_an_op = std::any_of(g.node().begin(), g.node().end(), [&](const onnx::NodeProto& n) {
      return message.find(n.op_type()) != std::string::npos;
    });
    if (!names_an_op) return {Outcome::Fail, "the InputError names none of the case's ops: " + message};
    return {Outcome::Unsupported, message};
  } catch (const std::exception& e) {
    return {Outcome::Fail, std::string("not an InputError: ") + e.what()};
  }

  const Tensor& tin = m.graph.tensors[size_t(m.graph.input)];
  const Tensor& tout = m.graph.tensors[size_t(m.graph.output)];
  const std::vector<double> x_all = onnx_tensor_values(inputs[0]);
  const std::vector<float> y_all = as_floats(expected);
  const size_t items = size_t(split ? batch : 1);
  if (x_all.size() != items * size_t(tin.elements()) || y_all.size() != items * size_t(tout.elements()))
    return {Outcome::Fail, "the imported shapes do not match the test data"};
  const bool integer_output = is_integer(expected.data_type());
  const auto [out_scale, out_zero_point] = integer_output ? output_quantization(model, bound) : std::pair{1.0, 0.0};
  const double pixel_offset = inputs[0].data_type() == onnx::TensorProto::INT8 ? 128.0 : 0.0;

  for (size_t b = 0; b < items; ++b) {
    std::vector<float> x(size_t(tin.elements()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x_all[b * x.size() + i];
      // An integer input is a pixel in the model's input map (onnx.h).
      x[i] = is_integer(inputs[0].data_type()) ? float((v + pixel_offset - m.input_mean) / m.input_std) : float(v);
    }
    const std::vector<float> y = hwc_to_chw(run_float(m, chw_to_hwc(x, tin)), tout);
    for (size_t i = 0; i < y.size(); ++i) {
      const float want = y_all[b * y.size() + i];
      double got = y[i];
      bool ok = false;
      if (integer_output) {
        const double lo = expected.data_type() == onnx::TensorProto::INT8 ? -128 : 0, hi = lo + 255;
        got = std::clamp(std::nearbyint(got / out_scale) + out_zero_point, lo, hi);
        ok = std::abs(got - want) <= 1.0;  // one quantization step: the float model does not round
      } else {
        ok = std::abs(got - want) <= 1e-7 + 1e-3 * std::abs(want);  // ONNX's backend-test tolerance
      }
      if (!ok)
        return {Outcome::Fail, "item " + std::to_string(b) + " element " + std::to_string(i) + ": got " +
                                   std::to_string(got) + ", expected " + std::to_string(want)};
    }
  }
  return {Outcome::Pass, ""};
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, PassesOrIsRefusedCleanly) {
  const std::string& name = GetParam();
  const Result r = run_case(name);
  ASSERT_NE(r.outcome, Outcome::Fail) << r.detail;
  const bool expected_to_pass = std::count(kPassing.begin(), kPassing.end(), name) > 0;
  EXPECT_EQ(r.outcome == Outcome::Pass, expected_to_pass) << r.detail;
}

INSTANTIATE_TEST_SUITE_P(NodeTests, OnnxNodeTest, ::testing::ValuesIn(covered_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;  // "folder/test_x" as a test name
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// Every case of kPassing exists, and the summary (printed for the README) lists each covered case.
TEST(OnnxNodeTests, Summary) {
  const std::vector<std::string> cases = covered_cases();
  ASSERT_FALSE(cases.empty()) << "no ONNX test cases under " << data_dir() << " (package libonnx-testdata)";
  for (const std::string& name : kPassing) EXPECT_TRUE(std::count(cases.begin(), cases.end(), name)) << name;
  std::string passing, unsupported;
  std::map<std::string, std::pair<int, int>> per_folder;  // passed, cases
  for (const std::string& name : cases) {
    const Result r = run_case(name);
    auto& [passed, total] = per_folder[name.substr(0, name.find('/'))];
    ++total;
    if (r.outcome == Outcome::Pass) {
      passing += " " + name;
      ++passed;
    } else {
      unsupported += "  " + name + ": " + r.detail + "\n";
    }
  }
  for (const auto& [folder, counts] : per_folder)
    std::printf("ONNX test cases, %s: %d of %d pass\n", folder.c_str(), counts.first, counts.second);
  std::printf("passing:%s\nunsupported:\n%s", passing.c_str(), unsupported.c_str());
}

}  // namespace
