// `tinynas export` end to end: the shipped Fashion-MNIST network as a firmware bundle run in QEMU
// (bit-identical to the host), an MCUNet zoo network with random weights linked for the STM32H743
// (arena within TinyEngine's measured 260 kB), ONNX in, and its errors.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "run_tinynas.h"
#include "test_helpers.h"
#include "tinynas/core/files.h"
#include "tinynas/engine/toolchain.h"

namespace fs = std::filesystem;
using tinynas_test::run_tinynas;
using tinynas_test::TempDir;

namespace {

bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }
bool have_arm_tools() { return tinynas::engine::arm_toolchain_available() && tinynas::engine::qemu_available(); }

int64_t number_after(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern + " ([0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

}  // namespace

TEST(CliExport, ShippedNetworkRunsInQemuBitIdenticalToTheHost) {
  if (!have_fashion_mnist() || !have_arm_tools()) GTEST_SKIP() << "needs dataset-fashion-mnist, arm-none-eabi-gcc, qemu";
  TempDir dir;
  const std::string out = (dir.path / "bundle").string();
  const auto r = run_tinynas("--threads 2 export --arch smallest --mcu qemu-m4 --run-qemu --calibration-images 32 "
                             "--eval-images 300 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("bit-identical to the host build"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("instructions/MAC"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-1 on 300 test images"), std::string::npos) << r.out;
  for (const char* f : {"model.c", "model.h", "main.c", "Makefile", "report.md", "model_float.onnx", "model_int8.onnx"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  // The arena in the ELF is the planner's.
  EXPECT_EQ(number_after(r.out, "arena"), number_after(r.out, "arena in the ELF")) << r.out;
}

TEST(CliExport, OnnxModelExportsAndErrorsAreClear) {
  TempDir dir;
  // The float ONNX file of one export is the input of the next.
  const std::string zoo = std::string(TINYNAS_ZOO_DIR) + "/mcunet-10fps_imagenet.json";
  auto r = run_tinynas("export --arch " + zoo + " --random-weights --mcu host --calibration-images 2 --test-inputs 1 "
                       "--out " + (dir.path / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_tinynas("export --onnx " + (dir.path / "a" / "model_float.onnx").string() +
                  " --mcu host --calibration-images 2 --test-inputs 1 --out " + (dir.path / "b").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir.path / "b" / "model.c"));

  r = run_tinynas("export --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--arch, --subnet or --onnx"), std::string::npos) << r.out;
  r = run_tinynas("export --arch " + zoo + " --random-weights --mcu nosuchboard --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("nosuchboard"), std::string::npos) << r.out;
  r = run_tinynas("export --onnx " + (dir.path / "missing.onnx").string() + " --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("missing.onnx"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path / "c"));
}

namespace {

// A model from elsewhere (torch.onnx.export, no tinynas metadata) calibrated on the user's .npy inputs:
// the int8 input spans their range [-2, 6]: scale 8/255, zero point round(-128 + 2 * 255 / 8) = -64
// (hand-computed). Without --calibration it is calibrated on random inputs, with a warning, and never on
// the experiment's Fashion-MNIST although it takes 1-channel square images.
TEST(CliExport, AnOnnxModelIsCalibratedOnTheUsersInputsOrWarnsOfRandomOnes) {
  TempDir dir;
  ASSERT_EQ(tinynas_test::run_python(dir,
      "import numpy as np, torch\n"
      "torch.manual_seed(0)\n"
      "net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),\n"
      "                          torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()\n"
      "torch.onnx.export(net, torch.zeros(1, 1, 8, 8), 'm.onnx')\n"
      "x = np.random.default_rng(1).uniform(-2, 6, (8, 1, 8, 8)).astype(np.float32)\n"
      "x[0, 0, 0, 0], x[1, 0, 2, 3] = -2, 6\n"
      "np.save('cal.npy', x)\n"),
            "");
  const std::string model = (dir.path / "m.onnx").string();

  auto r = run_tinynas("export --onnx " + model + " --mcu host --calibration " + (dir.path / "cal.npy").string() +
                       " --test-inputs 2 --out " + (dir.path / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("calibrated on 8 inputs of '" + (dir.path / "cal.npy").string() + "'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("int8 input scale 0.0313725, zero point -64"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("random inputs"), std::string::npos) << r.out;

  r = run_tinynas("export --onnx " + model + " --mcu host --test-inputs 2 --out " + (dir.path / "b").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("calibrating on random inputs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("calibrated on 128 random inputs"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("fashion"), std::string::npos) << r.out;

  r = run_tinynas("export --onnx " + model + " --mcu host --eval-images 10 --out " + (dir.path / "c").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--eval-images needs a network trained on the experiment's images"), std::string::npos) << r.out;
  r = run_tinynas("export --onnx " + model + " --mcu host --calibration " + (dir.path / "m.onnx").string() +
                  " --out " + (dir.path / "d").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not a NumPy .npy file"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path / "c"));
  EXPECT_FALSE(fs::exists(dir.path / "d"));
}

}  // namespace

namespace {

// A Conv [1,1,4,4] -> [1,2,4,4] with its weights as an initializer, as ONNX's C++ protobuf API builds it.
onnx::ModelProto small_conv_model(int64_t height = 4, int64_t width = 4) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("small");
  auto add_value = [](google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                      const std::vector<int64_t>& dims) {
    onnx::ValueInfoProto* v = list->Add();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) v->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  };
  add_value(g->mutable_input(), "x", {1, 1, height, width});
  add_value(g->mutable_output(), "y", {1, 2, height, width});
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {2, 1, 1, 1}) w->add_dims(d);
  w->add_float_data(0.5f);
  w->add_float_data(-1.0f);
  onnx::NodeProto* conv = g->add_node();
  conv->set_op_type("Conv");
  conv->add_input("x");
  conv->add_input("w");
  conv->add_output("y");
  return m;
}

// Bad model files are input errors (exit code 2) for export and run, and nothing is written: a truncated
// file, random bytes, weights in an external file outside the model's folder, an input of 2^40 elements.
TEST(CliExport, BadOnnxFilesExitTwoAndWriteNothing) {
  TempDir dir;
  std::string good;
  ASSERT_TRUE(small_conv_model().SerializeToString(&good));
  const std::string ok = dir.write("ok.onnx", good);
  auto r = run_tinynas("export --onnx " + ok + " --mcu host --calibration-images 2 --out " + (dir.path / "ok").string());
  ASSERT_EQ(r.code, 0) << r.out;  // the model the bad files are made from exports

  onnx::ModelProto external = small_conv_model();
  onnx::TensorProto* w = external.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* location = w->add_external_data();
  location->set_key("location");
  location->set_value("../../../etc/passwd");
  std::string external_bytes, huge_bytes;
  ASSERT_TRUE(external.SerializeToString(&external_bytes));
  ASSERT_TRUE(small_conv_model(int64_t(1) << 20, int64_t(1) << 20).SerializeToString(&huge_bytes));
  std::string random_bytes;
  for (int i = 0; i < 4096; ++i) random_bytes += char((i * 7919 + 13) % 251);

  struct Bad {
    std::string name, bytes, message;
  };
  const std::vector<Bad> bad = {
      {"truncated.onnx", good.substr(0, good.size() / 2), "is not an ONNX model"},
      {"random.onnx", random_bytes, "is not an ONNX model"},
      // ONNX's checker refuses it when the file is missing (it resolves the path from the model's
      // folder); when it exists, the importer does.
      {"external.onnx", external_bytes, "external data is not supported|../../../etc/passwd"},
      {"huge.onnx", huge_bytes, "more than 2^26 elements"},
  };
  const std::string inputs = dir.write("in.npy", "\x93NUMPY");  // never read: the model fails first
  for (const auto& [name, bytes, message] : bad) {
    const std::string path = dir.write(name, bytes);
    const fs::path out = dir.path / ("out-" + name);
    r = run_tinynas("export --onnx " + path + " --mcu host --out " + out.string());
    EXPECT_EQ(r.code, 2) << name << ": " << r.out;
    EXPECT_NE(r.out.find(path), std::string::npos) << name << ": " << r.out;
    const size_t bar = message.find('|');
    EXPECT_TRUE(r.out.find(message.substr(0, bar)) != std::string::npos ||
                (bar != std::string::npos && r.out.find(message.substr(bar + 1)) != std::string::npos))
        << name << ": " << r.out;
    EXPECT_FALSE(fs::exists(out)) << name;
    r = run_tinynas("run " + path + " --input " + inputs);
    EXPECT_EQ(r.code, 2) << name << ": " << r.out;
  }
}

}  // namespace
