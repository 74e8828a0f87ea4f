// tinynas export: a network (a subnet of a trained supernet, an extracted subnet file, random weights,
// or an ONNX file) quantized to int8 and written as a firmware bundle; optionally built and run in QEMU,
// with its outputs checked against the host build bit for bit (nas/export.h).
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "tinynas/core/units.h"
#include "tinynas/nas/export.h"

namespace tinynas::cli {

namespace {

struct Options {
  std::string config, supernet, arch, subnet, onnx, mcu, out;
  bool random_weights = false, run_qemu = false, force = false;
  int calibration_images = 128, test_inputs = 4, eval_images = 0;
  std::string calibration_method = "minmax", calibration_data, patch;
  double max_extra_macs = -1;
  std::vector<float> input_mean, input_std;
  double percentile = 99.99;
  uint64_t seed = 1;
};

void print(const nas::ExportResult& r) {
  const engine::Deployment& d = r.deployment;
  std::cout << fmt::format("wrote {} ({} layers, {} MACs): arena {} B ({}), constants {} B, Flash model {} B\n",
                           d.bundle_dir, r.layers, d.bundle.macs, d.bundle.arena_bytes,
                           core::format_size(d.bundle.arena_bytes), d.bundle.constant_bytes, d.flash_model.total());
  if (!r.patch.layer_wise())
    std::cout << "patch schedule " << engine::to_string(r.patch) << ": the first blocks run in " << r.patch.patches << "x"
              << r.patch.patches << " patches (the MACs include the recomputed halos; the input is read patch by patch)\n";
  std::cout << "calibrated on " << r.calibrated_on << "\n";
  if (r.accuracy)
    std::cout << fmt::format("top-1 on {} {} images: float {:.2f} %, int8 {:.2f} % ({:+.2f} points); "
                             "predictions agree on {:.2f} %\n",
                             r.accuracy->images, r.accuracy_split, r.accuracy->float_top1, r.accuracy->int8_top1,
                             r.accuracy->int8_top1 - r.accuracy->float_top1, r.accuracy->agreement);
  if (d.built) {
    const engine::BuildResult& b = d.build;
    if (d.arena_symbol_bytes < 0)
      std::cout << r.board << ": built " << b.elf << "\n";
    else
      std::cout << fmt::format("{}: Flash {} B (text {} + data {}), RAM {} B (data {} + bss {}, the stack included); "
                               "arena in the ELF {} B\n",
                               r.board, b.flash_bytes(), b.text, b.data, b.ram_bytes(), b.data, b.bss,
                               d.arena_symbol_bytes);
  }
  if (d.run) {
    std::cout << fmt::format("{}: outputs of {} inputs bit-identical to the host build\n", d.run->board,
                             d.run->output.inferences.size());
    std::cout << engine::layer_table(d.run->output) << engine::run_totals(d) << "\n";
  }
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
                               "--random-weights also a network JSON (e.g. an MCUNet zoo file), and largest or smallest are the "
                               "config space's at its widest and largest (narrowest and smallest) choices");
  cmd->add_option("--supernet", o->supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_flag("--random-weights", o->random_weights, "random weights instead of trained ones (for sizes and speed)");
  auto* subnet = cmd->add_option("--subnet", o->subnet, "an extracted subnet file (tinynas extract)");
  auto* onnx = cmd->add_option("--onnx", o->onnx, "an ONNX file (float, or QDQ)");
  arch->excludes(subnet)->excludes(onnx);
  subnet->excludes(onnx);
  cmd->add_option("--mcu", o->mcu,
                  "MCU profile (configs/mcu) or board: mps2-an386, mps2-an500, "
                  "stm32f412, stm32f746, stm32h743, host "
                  "(default: the experiment's)");
  cmd->add_option("--out", o->out,
                  "the bundle directory to write: a new or empty directory, or a bundle written before (replaced "
                  "whole); never a file")
      ->required();
  cmd->add_flag("--force", o->force, "replace --out even when it holds files that are not a bundle (they are lost)");
  cmd->add_flag("--run-qemu", o->run_qemu,
                "build for the host and the emulated core, run both, check the "
                "outputs are identical and "
                "print instructions per layer");
  cmd->add_option("--calibration", o->calibration_data,
                  "the calibration inputs: a folder of JPEG/PNG images (at any depth), one image, or a .npy file "
                  "of float32 inputs [N,C,H,W] (ONNX's layout). Default: the experiment's training images for a "
                  "network trained on them, else random inputs (with a warning). An ONNX model that does not "
                  "state its input quantization gets its input scale and zero point from these inputs");
  cmd->add_option("--input-mean", o->input_mean,
                  "calibration images: x = (pixel / 255 - mean) / std, one value or one per channel (e.g. "
                  "0.485,0.456,0.406); default 0, or the model's own map when it states one")
      ->delimiter(',');
  cmd->add_option("--input-std", o->input_std, "calibration images: std of that map (default 1)")->delimiter(',');
  cmd->add_option("--calibration-images", o->calibration_images, "inputs for the activation ranges")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--calibration-method", o->calibration_method, "activation ranges: minmax or percentile")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "percentile"}));
  cmd->add_option("--percentile", o->percentile, "with --calibration-method percentile")->capture_default_str();
  cmd->add_option("--test-inputs", o->test_inputs, "test images embedded in main.c")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--eval-images", o->eval_images,
                  "report float vs int8 top-1 on a seeded sample of this many test images (-1: "
                  "the whole test split)")
      ->capture_default_str();
  cmd->add_option("--patch", o->patch,
                  "patch-based inference (MCUNetV2): 'n@s' runs the stem and blocks before s in n x n patches; 'auto' "
                  "the schedule of the smallest arena, then the fewest extra MACs (default: layer by layer)");
  cmd->add_option("--max-extra-macs", o->max_extra_macs,
                  "with --patch auto: the most extra MACs a schedule may cost, in % of the network's (default: any)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "seed of random weights and random inputs")->capture_default_str();
  return [o]() {
    nas::ExportRequest q;
    q.experiment = load_experiment_flag(o->config);
    q.arch = o->arch;
    q.subnet = o->subnet;
    q.onnx = o->onnx;
    q.supernet = o->supernet;
    q.random_weights = o->random_weights;
    q.target = o->mcu;
    q.out = o->out;
    q.force = o->force;
    q.run_on_emulator = o->run_qemu;
    q.patch = o->patch;
    q.max_extra_macs_percent = o->max_extra_macs;
    q.calibration_images = o->calibration_images;
    q.calibration_data = o->calibration_data;
    q.preprocessing = {o->input_mean, o->input_std};
    q.test_inputs = o->test_inputs;
    q.eval_images = o->eval_images;
    q.quantize.calibration = o->calibration_method == "percentile" ? engine::QuantizeOptions::Calibration::Percentile
                                                           : engine::QuantizeOptions::Calibration::MinMax;
    q.quantize.percentile = o->percentile;
    q.seed = o->seed;
    q.threads = global_options().threads;
    print(nas::export_network(q));
    return 0;
  };
}

}  // namespace tinynas::cli
