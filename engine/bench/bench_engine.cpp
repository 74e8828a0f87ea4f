// Instructions per multiply-accumulate of the int8 kernels on an emulated Cortex-M4 (QEMU mps2-an386
// under -icount shift=0): the layers the well-known CMSIS-NN figures describe, and whole networks
// with random weights. Each case is a generated firmware bundle, built and run as `tinynas export`
// does; the figures count everything that runs on the MCU (widening, padding copies, requantization).
//
//   bench_engine [--board mps2-an386] [--keep DIR] [--layers-only]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tinynas/core/data_dir.h"
#include "tinynas/engine/codegen.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/search_space/zoo_json.h"

using namespace tinynas;
using namespace tinynas::engine;
namespace fs = std::filesystem;

namespace {

Graph single_layer(const std::string& name, OpKind kind, int size, int in_c, int out_c, int k, int s) {
  Graph g;
  g.name = name;
  g.input = g.add_tensor(size, size, in_c);
  g.output = g.add_tensor(search_space::conv_out_size(size, s), search_space::conv_out_size(size, s), out_c);
  g.ops[size_t(g.add_op(kind, g.input, g.output, k, s))].activation = Activation::Relu6;
  return g;
}

// A residual add as blocks end: a 1x1 conv of the input, added to the input.
Graph residual_add(int size, int channels) {
  Graph g;
  g.name = "residual add";
  g.input = g.add_tensor(size, size, channels);
  const int conv = g.add_tensor(size, size, channels);
  g.add_op(OpKind::PointwiseConv2D, g.input, conv);
  g.output = g.add_tensor(size, size, channels);
  g.add_op(OpKind::Add, conv, g.output, 1, 1, g.input);
  return g;
}

struct Result {
  FirmwareOutput out;
  BuildResult build;
  int64_t arena = 0;
  int64_t test_input_bytes = 0;
};

Result run(const Graph& g, const Board& board, const fs::path& dir) {
  const FloatModel fm = random_float_model(g, 1);
  const QuantizedModel qm = quantize(fm, random_image_inputs(g, 2, 2));
  BundleOptions o;
  o.test_inputs.push_back(quantize_input(qm, random_image_inputs(g, 1, 3)[0]));
  Result r;
  const BundleSummary summary = write_bundle(qm, o, dir.string());
  r.arena = summary.arena_bytes;
  r.test_input_bytes = summary.test_input_bytes;
  r.build = build_bundle(dir.string(), board);
  if (!r.build.ok) throw std::runtime_error("build failed: " + r.build.error_summary());
  const RunResult run = run_in_qemu(r.build.elf, board, 1800);
  if (!run.ok) throw std::runtime_error("run failed: " + run.output + run.errors);
  r.out = parse_firmware_output(run.output);
  return r;
}

// The op type a layer's instructions are counted under in the per-type table.
std::string op_type(const Graph& g, const Op& op) {
  switch (op.kind) {
    case OpKind::Conv2D:
      return op.input == g.input ? "stem" : "conv";
    case OpKind::PointwiseConv2D:
      return "1x1 conv";
    case OpKind::DepthwiseConv2D: {
      const Tensor& out = g.tensors[size_t(op.output)];
      if (op.stride_h > 1) return "depthwise stride 2";
      if (out.h <= 7 && out.w <= 7) return "depthwise s1, map <= 7x7";
      return "depthwise s1 " + std::to_string(op.kernel_h) + "x" + std::to_string(op.kernel_w);
    }
    case OpKind::Add:
      return "add";
    case OpKind::AvgPool2D:
    case OpKind::MaxPool2D:
    case OpKind::GlobalAvgPool:
      return "pool";
    case OpKind::FullyConnected:
      return "fully connected";
    default:
      return to_string(op.kind);
  }
}

// Instructions per op type of one network (the firmware's layers are the graph's ops, in order).
void print_op_types(const Graph& g, const FirmwareOutput& out, uint64_t total) {
  struct Sum {
    int layers = 0;
    int64_t macs = 0, elements = 0;
    uint64_t instructions = 0;
  };
  std::vector<std::pair<std::string, Sum>> sums;
  for (size_t i = 0; i < out.layers.size() && i < g.ops.size(); ++i) {
    const std::string type = op_type(g, g.ops[i]);
    auto it = std::find_if(sums.begin(), sums.end(), [&](const auto& s) { return s.first == type; });
    if (it == sums.end()) it = sums.insert(sums.end(), {type, Sum{}});
    it->second.layers += 1;
    it->second.macs += out.layers[i].macs;
    it->second.elements += g.tensors[size_t(g.ops[i].input)].elements();
    it->second.instructions += out.layers[i].instructions;
  }
  std::printf("  %-28s %6s %12s %14s %8s %10s\n", "op type", "layers", "MACs", "instructions", "share", "per MAC");
  for (const auto& [type, s] : sums) {
    std::printf("  %-28s %6d %12lld %14llu %7.1f%%", type.c_str(), s.layers, (long long)s.macs,
                (unsigned long long)s.instructions, 100.0 * double(s.instructions) / double(total));
    if (s.macs > 0) std::printf(" %10.2f\n", double(s.instructions) / double(s.macs));
    else std::printf(" %10.2f per input element\n", double(s.instructions) / double(s.elements));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string board_name = "mps2-an386", keep;
  bool networks = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--board" && i + 1 < argc) board_name = argv[++i];
    else if (a == "--keep" && i + 1 < argc) keep = argv[++i];
    else if (a == "--layers-only") networks = false;
    else {
      std::fprintf(stderr, "usage: bench_engine [--board mps2-an386|mps2-an500] [--keep DIR] [--layers-only]\n");
      return 2;
    }
  }
  if (!arm_toolchain_available() || !qemu_available()) {
    std::fprintf(stderr, "bench_engine: needs arm-none-eabi-gcc and qemu-system-arm\n");
    return 2;
  }
  const Board& board = board_by_name(board_name);
  const fs::path root = keep.empty() ? fs::temp_directory_path() / "tinynas_bench_engine" : fs::path(keep);
  fs::create_directories(root);
  std::printf("# int8 kernels on %s (QEMU, -icount shift=0): instructions per MAC\n", board.name.c_str());
  std::printf("%-34s %12s %14s %9s\n", "layer", "MACs", "instructions", "per MAC");
  struct Layer {
    const char* name;
    OpKind kind;
    int size, in_c, out_c, k, s;
    double cmsis_nn;
  };
  const Layer layers[] = {
      {"1x1 conv 48->48 @20x20", OpKind::PointwiseConv2D, 20, 48, 48, 1, 1, 2.3},
      {"3x3 depthwise 48 @20x20", OpKind::DepthwiseConv2D, 20, 48, 48, 3, 1, 8.7},
      {"3x3 s2 stem 3->16 @64x64", OpKind::Conv2D, 64, 3, 16, 3, 2, 4.8},
      {"3x3 depthwise s2 48 @20x20", OpKind::DepthwiseConv2D, 20, 48, 48, 3, 2, 0},
      {"5x5 depthwise 48 @20x20", OpKind::DepthwiseConv2D, 20, 48, 48, 5, 1, 0},
      {"7x7 depthwise 48 @20x20", OpKind::DepthwiseConv2D, 20, 48, 48, 7, 1, 0},
      {"1x1 conv 16->96 @20x20", OpKind::PointwiseConv2D, 20, 16, 96, 1, 1, 0},
      {"1x1 conv 8->32 @40x40", OpKind::PointwiseConv2D, 40, 8, 32, 1, 1, 0},
      {"3x3 depthwise 480 @3x3", OpKind::DepthwiseConv2D, 3, 480, 480, 3, 1, 0},
      {"5x5 depthwise 384 @3x3", OpKind::DepthwiseConv2D, 3, 384, 384, 5, 1, 0},
      {"7x7 depthwise 240 @5x5", OpKind::DepthwiseConv2D, 5, 240, 240, 7, 1, 0},
      {"3x3 depthwise s2 192 @6x6", OpKind::DepthwiseConv2D, 6, 192, 192, 3, 2, 0},
      {"fully connected 160->2", OpKind::FullyConnected, 1, 160, 2, 1, 1, 3.67},
      {"fully connected 160->1000", OpKind::FullyConnected, 1, 160, 1000, 1, 1, 0},
  };
  int index = 0;
  for (const Layer& l : layers) {
    const Graph g = single_layer(l.name, l.kind, l.size, l.in_c, l.out_c, l.k, l.s);
    // One directory per case, so --keep leaves every bundle for inspection (disassembly, traces).
    const Result r = run(g, board, root / ("layer" + std::to_string(index++)));
    const auto& layer = r.out.layers.at(0);
    std::printf("%-34s %12lld %14llu %9.2f", l.name, (long long)layer.macs, (unsigned long long)layer.instructions,
                double(layer.instructions) / double(layer.macs));
    if (l.cmsis_nn > 0) std::printf("   (CMSIS-NN about %.1f)", l.cmsis_nn);
    std::printf("\n");
  }
  {
    // Global average pooling as networks end, per input element.
    Graph g;
    g.name = "global average pool";
    g.input = g.add_tensor(5, 5, 160);
    g.output = g.add_tensor(1, 1, 160);
    g.add_op(OpKind::GlobalAvgPool, g.input, g.output);
    const Result r = run(g, board, root / "pool");
    const auto& pool = r.out.layers.at(0);
    std::printf("%-34s %12d %14llu %9.2f   per input element\n", "global average pool 160 @5x5", 5 * 5 * 160,
                (unsigned long long)pool.instructions, double(pool.instructions) / double(5 * 5 * 160));
  }
  {
    const int size = 20, channels = 48;
    const Result r = run(residual_add(size, channels), board, root / "add");
    const auto& add = r.out.layers.at(1);
    std::printf("%-34s %12d %14llu %9.2f   per element (CMSIS-NN about 82.5)\n", "residual add 48 @20x20",
                size * size * channels, (unsigned long long)add.instructions,
                double(add.instructions) / double(size * size * channels));
  }
  if (!networks) {
    if (keep.empty()) fs::remove_all(root);
    return 0;
  }
  std::printf("\n# whole networks, random weights\n");
  std::printf("%-34s %12s %14s %9s %10s %10s %10s %12s %7s\n", "network", "MACs", "instructions", "per MAC", "arena",
              "stack", "flash", "flash model", "error");
  struct Net {
    const char* file;  // under the data directory's zoo/
    int resolution;
  };
  const Net nets[] = {{"mcunet/mcunet-320kb-1mb_imagenet.json", 0}, {"mcunet/mcunet-5fps_imagenet.json", 0},
                      {"mcunet/mbv2-w0.35-r144_imagenet.json", 0}, {"bench/mcunet-vww-r80.json", 0}};
  std::vector<std::pair<Graph, Result>> measured;
  index = 0;
  for (const Net& n : nets) {
    const std::string path = core::data_path("zoo/" + std::string(n.file));
    search_space::NetworkDesc net = search_space::load_zoo_json(path);
    if (n.resolution) net.resolution = n.resolution;
    const Graph g = build_graph(net);
    const Result r = run(g, board, root / ("network" + std::to_string(index++)));
    int64_t macs = 0;
    for (const auto& l : r.out.layers) macs += l.macs;
    const uint64_t instr = r.out.inferences.at(0).instructions;
    // The Flash model the search uses (weights, biases, requantization parameters, the MCU profile's
    // runtime code, 58 KB in every configs/mcu/ profile) against the linked firmware without its
    // embedded test input.
    const int64_t linked = r.build.flash_bytes() - r.test_input_bytes;
    const int64_t model = estimate_flash(g, 63 * 1024).total();
    std::printf("%-34s %12lld %14llu %9.2f %10lld %10llu %10lld %12lld %6.2f%%\n", n.file, (long long)macs,
                (unsigned long long)instr, double(instr) / double(macs), (long long)r.arena,
                (unsigned long long)r.out.stack_peak_bytes, (long long)linked, (long long)model,
                100.0 * double(model - linked) / double(linked));
    measured.emplace_back(g, r);
  }
  for (size_t i = 0; i < measured.size(); ++i) {
    std::printf("\n# %s: instructions per op type\n", nets[i].file);
    print_op_types(measured[i].first, measured[i].second.out, measured[i].second.out.inferences.at(0).instructions);
  }
  if (keep.empty()) fs::remove_all(root);
  return 0;
}
