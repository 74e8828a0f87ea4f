// The adapter to the engine: a LibTorch StaticNet and its engine FloatModel compute the same function
// (BN folded), the exported ONNX file runs in a third-party runtime (OpenCV DNN) and through the engine's
// own importer to LibTorch's outputs, and the shipped Fashion-MNIST network quantized to int8 keeps its
// predictions.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/dnn.hpp>

#include "small_network.h"
#include "test_helpers.h"
#include "zoo_files.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/to_engine.h"

using namespace tinynas;
using namespace tinynas::supernet;

namespace {

// NCHW tensor of one image -> the engine's NHWC vector.
std::vector<float> to_nhwc(const torch::Tensor& x) {
  const torch::Tensor t = x.permute({0, 2, 3, 1}).contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

void randomize_bn(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& sub : m.modules(false))
    if (auto* bn = sub->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
      bn->running_mean.uniform_(-0.1, 0.1);
      bn->running_var.uniform_(0.5, 2.0);
    }
}

bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

}  // namespace

TEST(ToEngine, FoldedFloatModelComputesWhatLibTorchComputes) {
  torch::manual_seed(3);
  search_space::NetworkDesc d = tinynas_test::small_network();
  StaticNet net(d);
  randomize_bn(*net);
  net->eval();
  const engine::FloatModel m = to_float_model(net);
  EXPECT_EQ(m.op_names[0], "stem");
  torch::NoGradGuard no_grad;
  for (int trial = 0; trial < 3; ++trial) {
    const torch::Tensor x = torch::rand({1, d.in_channels, d.resolution, d.resolution}) * 2 - 1;
    const torch::Tensor expected = net->forward(x).contiguous();
    const auto got = engine::run_float(m, to_nhwc(x));
    ASSERT_EQ(int64_t(got.size()), expected.numel());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected.data_ptr<float>()[i], 1e-4) << i;
  }
}

// A per-channel normalization: the stem normalizes after padding with pixel 128, computed here from the
// raw pixels by hand; the engine model, whose input stays (pixel - 128) / 128, has it folded in.
TEST(ToEngine, PerChannelNormalizationFoldsIntoTheStemExactly) {
  torch::manual_seed(5);
  search_space::NetworkDesc d = tinynas_test::small_network();
  d.in_channels = 3;
  StaticNet net(d);
  net->normalization = data::Normalization{{125.3, 123.0, 113.9}, {63.0, 62.1, 66.7}};
  randomize_bn(*net);
  net->eval();
  const engine::FloatModel m = to_float_model(net);
  EXPECT_EQ(m.input_mean, 128.0f);
  EXPECT_EQ(m.input_std, 128.0f);
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randint(0, 256, {1, 3, d.resolution, d.resolution}).to(torch::kFloat32);
  const torch::Tensor x = (pixels - 128) / 128;
  // The stem by hand: pad the pixels with 128, normalize each channel, convolve without padding.
  const torch::Tensor mean = torch::tensor({125.3, 123.0, 113.9}).view({1, 3, 1, 1}).to(torch::kFloat32);
  const torch::Tensor std_dev = torch::tensor({63.0, 62.1, 66.7}).view({1, 3, 1, 1}).to(torch::kFloat32);
  const int64_t pad = d.stem_kernel / 2;
  const torch::Tensor padded = (torch::constant_pad_nd(pixels, {pad, pad, pad, pad}, 128.0) - mean) / std_dev;
  const torch::Tensor by_hand = torch::conv2d(padded, net->stem->weight, {}, d.stem_stride);
  const torch::Tensor stem = stem_conv(x, net->stem->weight, d.stem_stride, net->normalization);
  EXPECT_LT((stem - by_hand).abs().max().item<double>(), 1e-4);
  const torch::Tensor expected = net->forward(x).contiguous();
  const auto got = engine::run_float(m, to_nhwc(x));
  ASSERT_EQ(int64_t(got.size()), expected.numel());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected.data_ptr<float>()[i], 1e-4) << i;
  // The fixed map is the plain padded convolution.
  EXPECT_TRUE(torch::allclose(stem_conv(x, net->stem->weight, d.stem_stride, {}),
                              torch::conv2d(x, net->stem->weight, {}, d.stem_stride, pad), 1e-5, 1e-6));
}

// ResNet-8 (basic blocks, 1x1 stride-2 shortcuts, ReLU after the add) with a per-channel normalization:
// the engine float model computes LibTorch's function; a network file without an arch keeps it.
TEST(ToEngine, ResNet8ComputesWhatLibTorchComputesAndSavesWithoutAnArch) {
  torch::manual_seed(7);
  const search_space::NetworkDesc d = search_space::load_zoo_json(tinynas_test::resnet8_path());
  StaticNet net(d);
  net->normalization = data::Normalization{{125.5, 123.2, 114.4}, {60.9, 60.2, 65.1}};
  randomize_bn(*net);
  net->eval();
  const engine::FloatModel m = to_float_model(net);
  EXPECT_EQ(m.op_names[5], "block1.shortcut");
  EXPECT_EQ(m.op_names[7], "block1.add");
  torch::NoGradGuard no_grad;
  const torch::Tensor x = (torch::randint(0, 256, {1, 3, 32, 32}).to(torch::kFloat32) - 128) / 128;
  const torch::Tensor expected = net->forward(x).contiguous();
  const auto got = engine::run_float(m, to_nhwc(x));
  ASSERT_EQ(int64_t(got.size()), expected.numel());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected.data_ptr<float>()[i], 1e-4) << i;
  tinynas_test::TempDir dir;
  const std::string path = (dir.path / "resnet8.pt").string();
  save_subnet(path, net, std::nullopt);
  SubnetFile f = load_subnet(path);
  EXPECT_FALSE(f.arch.has_value());
  EXPECT_TRUE(f.net->desc.same_layers(d));
  EXPECT_EQ(f.net->normalization, net->normalization);
  EXPECT_TRUE(torch::equal(f.net->forward(x), expected));
}

// DS-CNN (a 10x4 stride-2 stem with TF's SAME padding, depthwise-separable blocks with ReLU after the
// 1x1 conv): the engine float model computes LibTorch's function, and the stem pads as TF does: 4 rows
// above and 5 below the 49 frames, 1 column on each side of the 10 coefficients.
TEST(ToEngine, DsCnnComputesWhatLibTorchComputesWithTfSamePadding) {
  torch::manual_seed(11);
  const search_space::NetworkDesc d = search_space::load_zoo_json(tinynas_test::dscnn_path());
  StaticNet net(d);
  randomize_bn(*net);
  net->eval();
  const engine::FloatModel m = to_float_model(net);
  EXPECT_EQ(m.graph.ops[0].kernel_h, 10);
  EXPECT_EQ(m.graph.ops[0].kernel_w, 4);
  EXPECT_EQ(m.graph.ops[0].pad_h, 4);
  EXPECT_EQ(m.graph.ops[0].pad_w, 1);
  EXPECT_EQ(m.op_names[2], "block0.project");
  EXPECT_EQ(m.graph.ops[2].activation, engine::Activation::Relu);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 1, 49, 10});
  const torch::Tensor by_hand = torch::conv2d(torch::constant_pad_nd(x, {1, 1, 4, 5}, 0.0), net->stem->weight, {}, 2);
  const torch::Tensor stem = stem_conv(x, net->stem->weight, 2, {});
  ASSERT_EQ(stem.sizes(), torch::IntArrayRef({2, 64, 25, 5}));
  EXPECT_TRUE(torch::allclose(stem, by_hand, 1e-5, 1e-6));
  const torch::Tensor expected = net->forward(x).contiguous();
  for (int64_t n = 0; n < 2; ++n) {
    const auto got = engine::run_float(m, to_nhwc(x[n].unsqueeze(0)));
    ASSERT_EQ(int64_t(got.size()), 12);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[n][int64_t(i)].item<float>(), 1e-4) << n << " " << i;
  }
  tinynas_test::TempDir dir;
  const std::string path = (dir.path / "dscnn.pt").string();
  save_subnet(path, net, std::nullopt);
  SubnetFile f = load_subnet(path);
  EXPECT_TRUE(f.net->desc.same_layers(d));
  EXPECT_TRUE(torch::equal(f.net->forward(x), expected));
}

// The normalization travels with the network: supernet and subnet files keep it, extract copies it.
TEST(ToEngine, FilesAndExtractKeepTheNormalization) {
  search_space::SearchSpace space;
  space.name = "tiny";
  space.in_channels = 3;
  space.num_classes = 4;
  space.width_choices = {0.25};
  space.resolution_choices = {16};
  space.depth_choices = {1, 2};
  OFASupernet net(space, space.width_choices.front());
  const data::Normalization n{{120.0, 110.0, 100.0}, {60.0, 50.0, 70.0}};
  net->normalization = n;
  tinynas_test::TempDir dir;
  const std::string supernet_path = (dir.path / "s.pt").string(), subnet_path = (dir.path / "n.pt").string();
  save_supernet(supernet_path, net, space.resolution_choices, nullptr);
  SupernetFile f = load_supernet(supernet_path);
  EXPECT_EQ(f.net->normalization, n);
  const search_space::ArchSpec arch = f.net->smallest(space.resolution_choices.front());
  StaticNet sub = f.net->extract(arch);
  EXPECT_EQ(sub->normalization, n);
  save_subnet(subnet_path, sub, arch);
  EXPECT_EQ(load_subnet(subnet_path).net->normalization, n);
  OFASupernet plain(space, space.width_choices.front());
  save_supernet(supernet_path, plain, space.resolution_choices, nullptr);
  EXPECT_TRUE(load_supernet(supernet_path).net->normalization.is_fixed());
}

// The ONNX file `tinynas export` writes for a subnet, read back as a user's model: OpenCV DNN and the
// engine's importer both compute LibTorch's outputs, for the smallest and the largest subnet.
TEST(ToEngine, ExportedOnnxRunsInOpenCvAndReimportsToLibTorchsOutputs) {
  // The shipped supernet with its trained weights and BN statistics.
  auto f = load_supernet(std::string(TINYNAS_SOURCE_DIR) + "/supernet/pretrained/fashion-mnist/supernet.pt");
  for (const search_space::ArchSpec& arch : {f.net->smallest(24), f.net->largest(40)}) {
    StaticNet net = f.net->extract(arch);
    net->eval();
    tinynas_test::TempDir dir;
    const std::string path = (dir.path / "model.onnx").string();
    engine::export_onnx_float(to_float_model(net), path);
    cv::dnn::Net cv_net = cv::dnn::readNetFromONNX(path);
    const engine::FloatModel imported = engine::import_onnx(path);
    torch::manual_seed(5);
    torch::NoGradGuard no_grad;
    for (int trial = 0; trial < 3; ++trial) {
      torch::Tensor x = (torch::rand({1, 1, arch.r, arch.r}) * 2 - 1).contiguous();
      const torch::Tensor expected = net->forward(x).contiguous();
      const int dims[] = {1, 1, arch.r, arch.r};
      cv_net.setInput(cv::Mat(4, dims, CV_32F, x.data_ptr<float>()));
      const cv::Mat y = cv_net.forward().clone();
      const std::vector<float> reimported = engine::run_float(imported, to_nhwc(x));
      ASSERT_EQ(int64_t(y.total()), expected.numel());
      ASSERT_EQ(int64_t(reimported.size()), expected.numel());
      for (int64_t i = 0; i < expected.numel(); ++i) {
        EXPECT_NEAR(y.ptr<float>()[i], expected.data_ptr<float>()[i], 1e-4) << "r " << arch.r << " trial " << trial;
        EXPECT_NEAR(reimported[size_t(i)], expected.data_ptr<float>()[i], 1e-4) << "r " << arch.r << " trial " << trial;
      }
    }
  }
}

TEST(ToEngine, ShippedNetworkKeepsItsPredictionsInInt8) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  torch::set_num_threads(2);
  auto f = load_supernet(std::string(TINYNAS_SOURCE_DIR) + "/supernet/pretrained/fashion-mnist/supernet.pt");
  data::DataConfig config;
  const auto train = data::open_split(config, "train");
  const auto test = data::open_split(config, "test");
  const search_space::ArchSpec arch = f.net->smallest(24);
  f.net->set_active(arch);
  recalibrate_bn(f.net, *train, calibration_indices(*train, 2000, calibration_seed(0)), arch.r);
  StaticNet net = f.net->extract(arch);
  net->eval();
  const engine::FloatModel fm = to_float_model(net);

  // Calibration on training images; evaluation on the first test images.
  const int r = arch.r, c = train->channels();
  auto images = [&](const data::Dataset& data, const std::vector<int>& idx) {
    std::vector<uint8_t> pixels(idx.size() * size_t(r * r * c));
    data.load_batch(idx, r, false, 0, pixels.data());
    return pixels;
  };
  std::vector<int> calib_idx(64);
  for (int i = 0; i < 64; ++i) calib_idx[size_t(i)] = i * 97;
  const auto calib_pixels = images(*train, calib_idx);
  std::vector<std::vector<float>> calibration;
  const size_t image_size = size_t(r * r * c);
  for (size_t i = 0; i < calib_idx.size(); ++i) {
    std::vector<float> x(image_size);
    for (size_t j = 0; j < image_size; ++j) x[j] = (float(calib_pixels[i * image_size + j]) - 128.0f) / 128.0f;
    calibration.push_back(std::move(x));
  }
  const engine::QuantizedModel qm = engine::quantize(fm, calibration);
  engine::Int8Interpreter interpreter(qm);

  const int n = 500;
  std::vector<int> test_idx(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) test_idx[size_t(i)] = i;
  const auto pixels = images(*test, test_idx);
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = net->forward(to_input(pixels.data(), n, r, c));
  int float_correct = 0, int8_correct = 0, agree = 0;
  for (int i = 0; i < n; ++i) {
    const std::vector<uint8_t> img(pixels.begin() + i * long(image_size), pixels.begin() + (i + 1) * long(image_size));
    const auto q = interpreter.run(engine::quantize_pixels(img));
    const int int8_class = int(std::max_element(q.begin(), q.end()) - q.begin());
    const int float_class = int(logits[i].argmax().item<int64_t>());
    const int label = int(test->label(i));
    float_correct += float_class == label;
    int8_correct += int8_class == label;
    agree += float_class == int8_class;
  }
  RecordProperty("float_top1", float_correct);
  RecordProperty("int8_top1", int8_correct);
  EXPECT_GE(agree, n * 97 / 100) << "float and int8 predictions agree on " << agree << " of " << n;
  EXPECT_GE(int8_correct, float_correct - n / 100) << "int8 " << int8_correct << " vs float " << float_correct;
}
