// tinynas export: a network (a subnet of a trained supernet, an extracted
// subnet file, random weights, or an ONNX file) quantized to int8 and written
// as a firmware bundle; optionally built and run in QEMU, with its outputs
// checked against the host build bit for bit.
#include <spdlog/spdlog.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "commands.h"
#include "supernet_common.h"
#include "tinynas/engine/codegen.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/core/progress.h"
#include "tinynas/core/units.h"
#include "tinynas/core/errors.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/runtime.h"
#include "tinynas/supernet/to_engine.h"

namespace fs = std::filesystem;

namespace tinynas::cli {

namespace {

struct Options {
  std::string config, supernet, arch, subnet, onnx, mcu, out;
  bool random_weights = false, run_qemu = false;
  int calibration_images = 128, test_inputs = 4, eval_images = 0;
  std::string calibration = "minmax";
  double percentile = 99.99;
  uint64_t seed = 1;
};

// The board a profile or board name builds for, and the QEMU machine that
// emulates its core.
struct Target {
  const engine::Board* board;
  const engine::Board* emulator;  // nullptr when no QEMU machine has the core
};

Target resolve_target(const std::string& mcu, const Experiment& x) {
  std::string name = mcu.empty() ? x.mcu.name : mcu;
  const auto& boards = engine::known_boards();
  const bool is_board =
      std::any_of(boards.begin(), boards.end(), [&](const engine::Board& b) { return b.name == name; });
  if (!is_board) name = engine::board_for_mcu(load_mcu(name)).name;  // an MCU profile
  Target t{&engine::board_by_name(name), nullptr};
  for (const auto& b : boards)
    if (b.runs_in_qemu() && !b.core.empty() && b.core == t.board->core) {
      t.emulator = &b;
      break;
    }
  return t;
}

// Images of a data split at the model's input size, as engine inputs (x =
// (pixel - mean) / std).
struct Images {
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<int> labels;
};

Images load_images(const data::Dataset& data, int count, int r, uint64_t seed, bool spread) {
  Images im;
  const int n = std::min(count, data.size());
  std::vector<int> idx(size_t(std::max(0, n)));
  if (spread) {
    idx = supernet::calibration_indices(data, n, seed);
  } else {
    for (int i = 0; i < n; ++i) idx[size_t(i)] = i;
  }
  const size_t image = size_t(r) * r * data.channels();
  std::vector<uint8_t> all(idx.size() * image);
  if (!idx.empty()) data.load_batch(idx, r, false, 0, all.data());
  for (size_t i = 0; i < idx.size(); ++i) {
    im.pixels.emplace_back(all.begin() + long(i * image), all.begin() + long((i + 1) * image));
    im.labels.push_back(int(data.label(idx[i])));
  }
  return im;
}

Images random_images(int count, size_t elements, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pixel(0, 255);
  Images im;
  for (int i = 0; i < count; ++i) {
    std::vector<uint8_t> x(elements);
    for (auto& v : x) v = uint8_t(pixel(rng));
    im.pixels.push_back(std::move(x));
    im.labels.push_back(-1);
  }
  return im;
}

std::vector<float> to_float_input(const engine::FloatModel& m, const std::vector<uint8_t>& pixels) {
  std::vector<float> x(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) x[i] = (float(pixels[i]) - m.input_mean) / m.input_std;
  return x;
}

template <typename T>
int argmax(const std::vector<T>& v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());
}

// Float vs int8 top-1 on the test split, both on the engine (float reference vs
// the int8 kernels).
void report_accuracy(const engine::FloatModel& fm, const engine::QuantizedModel& qm, const Images& test) {
  const int n = int(test.pixels.size());
  std::atomic<int> float_correct{0}, int8_correct{0}, agree{0};
  core::ProgressBar bar("evaluate float vs int8", n, "img");
  tbb::enumerable_thread_specific<std::unique_ptr<engine::Int8Interpreter>> interpreters;
  tbb::parallel_for(0, n, [&](int i) {
    auto& interpreter = interpreters.local();
    if (!interpreter) interpreter = std::make_unique<engine::Int8Interpreter>(qm);
    const int f = argmax(engine::run_float(fm, to_float_input(fm, test.pixels[size_t(i)])));
    const int q = argmax(interpreter->run(engine::quantize_pixels(test.pixels[size_t(i)])));
    float_correct += f == test.labels[size_t(i)];
    int8_correct += q == test.labels[size_t(i)];
    agree += f == q;
    bar.advance();
  });
  bar.finish();
  const double fa = 100.0 * float_correct / n, qa = 100.0 * int8_correct / n;
  std::cout << fmt::format("top-1 on {} test images: float {:.2f} %, int8 {:.2f} % ({:+.2f} points); "
                           "predictions agree on {:.2f} %\n",
                           n, fa, qa, qa - fa, 100.0 * agree / n);
}

void write_report(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

}  // namespace

Runner add_export(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("export",
                                     "Quantize a network to int8 and write a firmware bundle "
                                     "(model.c/.h, main.c, kernels, board files, "
                                     "Makefile, ONNX files); --run-qemu builds it and runs it on "
                                     "the emulated Cortex-M.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  auto* arch = cmd->add_option("--arch", o->arch,
                               "a subnet of the supernet: an arch JSON file, largest or smallest; with "
                               "--random-weights also a network JSON (e.g. an MCUNet zoo file)");
  cmd->add_option("--supernet", o->supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_flag("--random-weights", o->random_weights, "random weights instead of trained ones (for sizes and speed)");
  auto* subnet = cmd->add_option("--subnet", o->subnet, "an extracted subnet file (tinynas extract)");
  auto* onnx = cmd->add_option("--onnx", o->onnx, "an ONNX file (float, or QDQ)");
  arch->excludes(subnet)->excludes(onnx);
  subnet->excludes(onnx);
  cmd->add_option("--mcu", o->mcu,
                  "MCU profile (configs/mcu) or board: mps2-an386, mps2-an500, "
                  "stm32f746, stm32h743, host "
                  "(default: the experiment's)");
  cmd->add_option("--out", o->out, "the bundle directory to write (replaced whole)")->required();
  cmd->add_flag("--run-qemu", o->run_qemu,
                "build for the host and the emulated core, run both, check the "
                "outputs are identical and "
                "print instructions per layer");
  cmd->add_option("--calibration-images", o->calibration_images, "training images for the activation ranges")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--calibration", o->calibration, "minmax or percentile")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "percentile"}));
  cmd->add_option("--percentile", o->percentile, "with --calibration percentile")->capture_default_str();
  cmd->add_option("--test-inputs", o->test_inputs, "test images embedded in main.c")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--eval-images", o->eval_images,
                  "report float vs int8 top-1 on this many test images (-1: "
                  "the whole test split)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of random weights and random inputs")->capture_default_str();
  return [o]() {
    if (o->arch.empty() && o->subnet.empty() && o->onnx.empty())
      throw core::InputError("export: choose the network with --arch, --subnet or --onnx");
    if (o->random_weights && o->arch.empty()) throw core::InputError("--random-weights goes with --arch");
    const Experiment x = load_experiment(o->config.empty() ? default_experiment_path() : o->config);
    const Target target = resolve_target(o->mcu, x);
    const int threads = global_options().threads;

    // 1. The float network.
    engine::FloatModel fm;
    bool trained_on_experiment_data = false;
    if (!o->onnx.empty()) {
      fm = engine::import_onnx(o->onnx);
    } else if (!o->subnet.empty()) {
      supernet::configure_torch(threads > 0 ? threads : x.train.threads);
      auto s = supernet::load_subnet(o->subnet);
      s.net->eval();
      fm = supernet::to_float_model(s.net);
      trained_on_experiment_data = true;
    } else if (o->random_weights) {
      const NetworkDesc net = load_network_any(o->arch, x.space);
      fm = engine::random_float_model(engine::build_graph(net), o->seed);
    } else {
      supernet::configure_torch(threads > 0 ? threads : x.train.threads);
      auto f = load_experiment_supernet(x, o->supernet);
      const ArchSpec a = resolve_arch(f, o->arch, 0);
      recalibrate(f, x, a, x.train.options.recalibration_images);
      supernet::StaticNet net = f.net->extract(a);
      net->eval();
      fm = supernet::to_float_model(net);
      trained_on_experiment_data = true;
    }
    if (fm.graph.name.empty())
      fm.graph.name = fs::path(!o->onnx.empty() ? o->onnx : !o->subnet.empty() ? o->subnet : o->arch).stem().string();
    const engine::Graph& g = fm.graph;
    const engine::Tensor& in = g.tensors[size_t(g.input)];

    // 2. Calibration and test images: the experiment's data when it fits the
    // input, else random pixels.
    const bool data_fits =
        in.h == in.w && !o->random_weights && (trained_on_experiment_data || in.c == x.space.in_channels);
    Images calibration, tests, evaluation;
    if (data_fits) {
      const auto train = data::open_split(x.data, "train");
      const auto test = data::open_split(x.data, "test");
      if (train->channels() != in.c)
        throw core::InputError("the network takes " + std::to_string(in.c) + " channels, the data has " +
                         std::to_string(train->channels()));
      calibration = load_images(*train, o->calibration_images, in.h, x.train.options.seed, true);
      tests = load_images(*test, o->test_inputs, in.h, 0, false);
      if (o->eval_images != 0)
        evaluation = load_images(*test, o->eval_images < 0 ? test->size() : o->eval_images, in.h, 0, false);
    } else {
      if (o->eval_images != 0) throw core::InputError("--eval-images needs a network that takes the experiment's images");
      spdlog::info(
          "calibrating on random pixels (the network does not take "
          "the experiment's images)");
      calibration = random_images(o->calibration_images, size_t(in.elements()), o->seed + 1);
      tests = random_images(o->test_inputs, size_t(in.elements()), o->seed + 2);
    }

    // 3. Quantization.
    std::vector<std::vector<float>> calibration_inputs;
    for (const auto& p : calibration.pixels) calibration_inputs.push_back(to_float_input(fm, p));
    engine::QuantizeOptions qo;
    qo.calibration = o->calibration == "percentile" ? engine::QuantizeOptions::Calibration::Percentile
                                                    : engine::QuantizeOptions::Calibration::MinMax;
    qo.percentile = o->percentile;
    const engine::QuantizedModel qm = engine::quantize(fm, calibration_inputs, qo);
    if (!evaluation.pixels.empty()) report_accuracy(fm, qm, evaluation);

    // 4. The bundle, with the ONNX files beside the C sources.
    engine::BundleOptions bo;
    for (size_t i = 0; i < tests.pixels.size(); ++i) {
      bo.test_inputs.push_back(engine::quantize_pixels(tests.pixels[i]));
      bo.test_labels.push_back(tests.labels[i]);
    }
    const engine::BundleSummary summary = engine::write_bundle(qm, bo, o->out);
    engine::export_onnx_float(fm, (fs::path(o->out) / "model_float.onnx").string());
    engine::export_onnx_quantized(qm, (fs::path(o->out) / "model_int8.onnx").string());
    const engine::FlashEstimate flash = engine::estimate_flash(g, 0);
    std::cout << fmt::format(
        "wrote {} ({} layers, {} MACs): arena {} B ({}), "
        "constants {} B, Flash model {} B\n",
        o->out, g.ops.size(), summary.macs, summary.arena_bytes, core::format_size(summary.arena_bytes),
        summary.constant_bytes, flash.total());

    std::string report = "# Firmware bundle: " + g.name + "\n\n";
    report += fmt::format(
        "| | bytes |\n|---|---:|\n| arena (memory planner) | "
        "{} |\n| weights, biases, requantization (model.c) | "
        "{} |\n| test inputs (main.c) | {} |\n\n",
        summary.arena_bytes, summary.constant_bytes, summary.test_input_bytes);

    // 5. Build for the target board (a link check for real boards), and with
    // --run-qemu run it.
    if (!engine::arm_toolchain_available()) {
      spdlog::warn(
          "arm-none-eabi-gcc is not installed: the bundle is written "
          "but not built");
    } else {
      const engine::BuildResult b = engine::build_bundle(o->out, *target.board);
      if (!b.ok) {
        if (b.does_not_fit())
          throw core::InputError("the model does not fit " + target.board->name + ":\n" + b.error_summary());
        throw core::RuntimeFailure("building the bundle for " + target.board->name + " failed:\n" + b.error_summary());
      }
      if (target.board->is_host()) {
        std::cout << "host: built " << b.elf << "\n";
      } else {
        const int64_t arena_symbol = engine::symbol_size(b.elf, "tn_arena");
        std::cout << fmt::format(
            "{}: Flash {} B (text {} + data {}), RAM {} B "
            "(data {} + bss {}, the stack included); "
            "arena in the ELF {} B\n",
            target.board->name, b.flash_bytes(), b.text, b.data, b.ram_bytes(), b.data, b.bss, arena_symbol);
        report += "## " + target.board->name + " (arm-none-eabi-size -A)\n\n| section | bytes |\n|---|---:|\n";
        for (const auto& [name, size] : b.sections) report += fmt::format("| {} | {} |\n", name, size);
        report += fmt::format(
            "| **Flash** (text + data) | {} |\n| **RAM** "
            "(data + bss) | {} |\n| arena symbol | {} |\n\n",
            b.flash_bytes(), b.ram_bytes(), arena_symbol);
        if (arena_symbol != summary.arena_bytes)
          throw core::RuntimeFailure(
              fmt::format("the firmware's arena is {} B, the planner's {} B", arena_symbol, summary.arena_bytes));
      }
    }
    if (o->run_qemu) {
      if (!target.emulator) throw core::InputError("--run-qemu: no QEMU machine emulates " + target.board->core);
      if (!engine::qemu_available()) throw core::InputError("--run-qemu: qemu-system-arm is not installed");
      const engine::BuildResult host = engine::build_bundle(o->out, engine::board_by_name("host"));
      if (!host.ok) throw core::RuntimeFailure("building the bundle for the host failed:\n" + host.error_summary());
      const engine::BuildResult arm = engine::build_bundle(o->out, *target.emulator);
      if (!arm.ok)
        throw core::RuntimeFailure("building the bundle for " + target.emulator->name + " failed:\n" + arm.error_summary());
      const auto host_run = engine::run_host(host.elf, 600);
      if (!host_run.ok) throw core::RuntimeFailure("the host build failed to run:\n" + host_run.output + host_run.errors);
      spdlog::info("running in QEMU: {}", fmt::join(engine::qemu_command(arm.elf, *target.emulator), " "));
      const auto arm_run = engine::run_in_qemu(arm.elf, *target.emulator, 3600);
      if (!arm_run.ok) throw core::RuntimeFailure(target.emulator->name + " run failed:\n" + arm_run.output + arm_run.errors);
      const auto h = engine::parse_firmware_output(host_run.output);
      const auto a = engine::parse_firmware_output(arm_run.output);
      engine::Int8Interpreter interpreter(qm);
      bool identical = h.inferences.size() == a.inferences.size();
      for (size_t i = 0; identical && i < a.inferences.size(); ++i)
        identical = a.inferences[i].output == h.inferences[i].output &&
                    h.inferences[i].output == interpreter.run(bo.test_inputs[i]);
      if (!identical) throw core::RuntimeFailure("the outputs of " + target.emulator->name + " and the host differ");
      std::cout << fmt::format("{}: outputs of {} inputs bit-identical to the host build\n", target.emulator->name,
                               a.inferences.size());
      std::string table = fmt::format(
          "| layer | kernel | MACs | instructions | per MAC "
          "|\n|---:|---|---:|---:|---:|\n");
      for (size_t l = 0; l < a.layers.size(); ++l) {
        const auto& L = a.layers[l];
        table += fmt::format("| {} | {} | {} | {} | {} |\n", l, L.kernel, L.macs, L.instructions,
                             L.macs ? fmt::format("{:.2f}", double(L.instructions) / double(L.macs)) : "");
      }
      const uint64_t total = a.inferences.back().instructions;
      const std::string totals = fmt::format(
          "total: {} instructions, {} MACs, {:.2f} "
          "instructions/MAC; stack peak {} B; predicted classes",
          total, summary.macs, double(total) / double(summary.macs), a.stack_peak_bytes);
      std::cout << table << totals;
      for (const auto& inf : a.inferences)
        std::cout << " " << inf.predicted << (inf.label >= 0 ? fmt::format(" (label {})", inf.label) : "");
      std::cout << "\n";
      report +=
          "## " + target.emulator->name + " (QEMU, -icount shift=0: instructions)\n\n" + table + "\n" + totals + "\n";
      report += fmt::format(
          "\nPeak SRAM of the running model: arena {} B + "
          "stack peak {} B = {} B.\n",
          summary.arena_bytes, a.stack_peak_bytes, summary.arena_bytes + int64_t(a.stack_peak_bytes));
    }
    write_report(fs::path(o->out) / "report.md", report);
    return 0;
  };
}

}  // namespace tinynas::cli
