// ONNX's own backend node tests (Debian's libonnx-testdata): every case of the ops the importer
// covers is imported and run on the engine's float reference (run_float) against the expected
// output, or must be refused with an InputError that names its op.
//
// The test data gives every graph input, weights included; the engine takes one input, so inputs 1..n
// (W and B of Conv, B and C of Gemm, BatchNormalization's parameters, Clip's bounds, the scales and
// zero points of the quantization ops) are bound as constants (initializers) before the import. A
// batch of N > 1 runs item by item: the graph's input and output get batch 1 when both have the batch
// first.
#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <map>
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

// The cases of the node-test folder this suite covers: names starting with one of these.
const std::vector<std::string> kCasePrefixes = {
    "test_conv",  "test_averagepool", "test_maxpool",  "test_globalaveragepool", "test_gemm",
    "test_clip",  "test_add",         "test_flatten",  "test_batchnorm",         "test_quantizelinear",
    "test_dequantizelinear"};
const std::vector<std::string> kSingleCases = {"test_relu", "test_qlinearconv"};

// The cases the engine runs; every other covered case must be refused with a clean InputError.
const std::vector<std::string> kPassing = {
    "test_averagepool_2d_ceil", "test_averagepool_2d_default", "test_averagepool_2d_pads",
    "test_averagepool_2d_pads_count_include_pad", "test_averagepool_2d_precomputed_pads",
    "test_averagepool_2d_precomputed_pads_count_include_pad", "test_averagepool_2d_precomputed_same_upper",
    "test_averagepool_2d_precomputed_strides", "test_averagepool_2d_same_lower",
    "test_averagepool_2d_same_upper", "test_averagepool_2d_strides", "test_batchnorm_epsilon",
    "test_batchnorm_example", "test_clip_default_min", "test_conv_with_autopad_same",
    "test_conv_with_strides_and_asymmetric_padding", "test_conv_with_strides_no_padding",
    "test_conv_with_strides_padding", "test_flatten_axis1", "test_flatten_default_axis",
    "test_flatten_negative_axis3", "test_gemm_alpha", "test_gemm_beta", "test_gemm_default_no_bias",
    "test_gemm_default_scalar_bias", "test_gemm_default_single_elem_vector_bias",
    "test_gemm_default_vector_bias", "test_gemm_default_zero_bias", "test_gemm_transposeB",
    "test_globalaveragepool", "test_globalaveragepool_precomputed", "test_maxpool_2d_ceil",
    "test_maxpool_2d_default", "test_maxpool_2d_pads", "test_maxpool_2d_precomputed_pads",
    "test_maxpool_2d_precomputed_same_upper", "test_maxpool_2d_precomputed_strides",
    "test_maxpool_2d_same_lower", "test_maxpool_2d_same_upper", "test_maxpool_2d_strides", "test_qlinearconv",
    "test_relu",
};

std::string node_dir() { return TINYNAS_ONNX_NODE_TESTS; }

std::vector<std::string> covered_cases() {
  std::vector<std::string> cases;
  if (DIR* d = opendir(node_dir().c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      const bool prefixed = std::any_of(kCasePrefixes.begin(), kCasePrefixes.end(),
                                        [&](const std::string& p) { return name.rfind(p, 0) == 0; });
      if (prefixed || std::count(kSingleCases.begin(), kSingleCases.end(), name)) cases.push_back(name);
    }
    closedir(d);
  }
  std::sort(cases.begin(), cases.end());
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
  const std::string dir = node_dir() + "/" + name;
  onnx::ModelProto model = load_proto<onnx::ModelProto>(dir + "/model.onnx");
  onnx::GraphProto& g = *model.mutable_graph();
  std::vector<onnx::TensorProto> inputs;
  for (int i = 0; i < g.input_size(); ++i) {
    inputs.push_back(load_proto<onnx::TensorProto>(dir + "/test_data_set_0/input_" + std::to_string(i) + ".pb"));
    inputs.back().set_name(g.input(i).name());
  }
  const onnx::TensorProto expected = load_proto<onnx::TensorProto>(dir + "/test_data_set_0/output_0.pb");

  std::map<std::string, onnx::TensorProto> bound;
  for (size_t i = 1; i < inputs.size(); ++i) {
    *g.add_initializer() = inputs[i];
    bound[inputs[i].name()] = inputs[i];
  }
  const auto& x_dims = inputs[0].dims();
  const int64_t batch = x_dims.size() >= 2 ? x_dims[0] : 1;
  const bool split = batch > 1 && expected.dims_size() >= 2 && expected.dims(0) == batch;
  if (split) {
    g.mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(1);
    g.mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(1);
  }

  FloatModel m;
  try {
    m = import_onnx(model, name);
  } catch (const core::InputError& e) {
    const std::string message = e.what();
    if (message.find(g.node(0).op_type()) == std::string::npos)
      return {Outcome::Fail, "the InputError does not name the op: " + message};
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
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Every case of kPassing exists, and the summary (printed for the README) lists each covered case.
TEST(OnnxNodeTests, Summary) {
  const std::vector<std::string> cases = covered_cases();
  ASSERT_FALSE(cases.empty()) << "no ONNX node tests under " << node_dir() << " (package libonnx-testdata)";
  for (const std::string& name : kPassing) EXPECT_TRUE(std::count(cases.begin(), cases.end(), name)) << name;
  std::string passing, unsupported;
  int passed = 0;
  for (const std::string& name : cases) {
    const Result r = run_case(name);
    if (r.outcome == Outcome::Pass) {
      passing += " " + name;
      ++passed;
    } else {
      unsupported += "  " + name + ": " + r.detail + "\n";
    }
  }
  std::printf("ONNX node tests: %d of %zu pass:%s\nunsupported:\n%s", passed, cases.size(), passing.c_str(),
              unsupported.c_str());
}

}  // namespace
