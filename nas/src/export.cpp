#include "tinynas/nas/export.h"

#include <spdlog/spdlog.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>

#include "tinynas/core/errors.h"
#include "tinynas/core/progress.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/lowering.h"
#include "tinynas/engine/onnx.h"
#include "tinynas/nas/experiment_supernet.h"
#include "tinynas/search_space/zoo_json.h"
#include "tinynas/supernet/audio_dataset.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/runtime.h"
#include "tinynas/supernet/to_engine.h"

namespace fs = std::filesystem;

namespace tinynas::nas {

namespace {

// The board a profile or board name builds for, and the QEMU machine that emulates its core.
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

// Images of a data split at the model's input size (raw pixels, NHWC).
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
  const size_t image = size_t(r) * size_t(data.width(r)) * size_t(data.channels());
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

// x = (pixel - mean) / std, the float network's input.
std::vector<float> to_float_input(const engine::FloatModel& m, const std::vector<uint8_t>& pixels) {
  std::vector<float> x(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) x[i] = (float(pixels[i]) - m.input_mean) / m.input_std;
  return x;
}

template <typename T>
int argmax(const std::vector<T>& v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());
}

// Float vs int8 top-1 on test images, both on the engine (float reference vs the int8 kernels).
Int8Accuracy evaluate_int8(const engine::FloatModel& fm, const engine::QuantizedModel& qm, const Images& test) {
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
  Int8Accuracy a;
  a.images = n;
  a.float_top1 = n ? 100.0 * float_correct / n : 0;
  a.int8_top1 = n ? 100.0 * int8_correct / n : 0;
  a.agreement = n ? 100.0 * agree / n : 0;
  return a;
}

// The float network the request names; `trained_on_experiment_data` when its weights come from the
// experiment's data (a supernet or a subnet extracted from one).
engine::FloatModel float_network(const ExportRequest& q, bool& trained_on_experiment_data) {
  const Experiment& x = q.experiment;
  const int threads = q.threads > 0 ? q.threads : x.train.threads;
  engine::FloatModel fm;
  trained_on_experiment_data = false;
  if (!q.onnx.empty()) {
    fm = engine::import_onnx(q.onnx);
  } else if (!q.subnet.empty()) {
    supernet::configure_torch(threads);
    auto s = supernet::load_subnet(q.subnet);
    s.net->eval();
    fm = supernet::to_float_model(s.net);
    trained_on_experiment_data = true;
  } else if (q.random_weights) {
    // Without a supernet, "largest" and "smallest" are the space's at its widest and largest (narrowest
    // and smallest) choices.
    const search_space::SearchSpace& space = x.space;
    const auto [w_min, w_max] = std::minmax_element(space.width_choices.begin(), space.width_choices.end());
    const auto [r_min, r_max] = std::minmax_element(space.resolution_choices.begin(), space.resolution_choices.end());
    const search_space::NetworkDesc net =
        q.arch_spec        ? space.describe(*q.arch_spec)
        : q.arch == "largest"  ? space.describe(space.largest(*w_max, *r_max))
        : q.arch == "smallest" ? space.describe(space.smallest(*w_min, *r_min))
                               : search_space::load_network_any(q.arch, space);
    fm = engine::random_float_model(engine::build_graph(net), q.seed);
  } else {
    supernet::configure_torch(threads);
    auto f = load_experiment_supernet(x, q.supernet);
    search_space::ArchSpec a;
    if (q.arch_spec) {
      a = *q.arch_spec;
      f.net->space.validate(a);
    } else {
      a = resolve_arch(f, q.arch, 0);
    }
    recalibrate(f, x, a, x.train.options.recalibration_images);
    supernet::StaticNet net = f.net->extract(a);
    net->eval();
    fm = supernet::to_float_model(net);
    trained_on_experiment_data = true;
  }
  // torch.onnx.export names every graph alike: the file's name says more.
  const bool exporter_default_name = fm.graph.name == "torch_jit" || fm.graph.name == "torch-jit-export" ||
                                     fm.graph.name == "main_graph";
  if (fm.graph.name.empty() || exporter_default_name)
    fm.graph.name = fs::path(!q.onnx.empty() ? q.onnx : !q.subnet.empty() ? q.subnet : q.arch).stem().string();
  if (fm.graph.name.empty()) fm.graph.name = "model";
  return fm;
}

}  // namespace

ExportResult export_network(const ExportRequest& q) {
  const int sources = int(q.arch_spec.has_value() || !q.arch.empty()) + int(!q.subnet.empty()) + int(!q.onnx.empty());
  if (sources == 0) throw core::InputError("export: choose the network with --arch, --subnet or --onnx");
  if (sources > 1) throw core::InputError("export: --arch, --subnet and --onnx exclude each other");
  if (q.random_weights && !q.arch_spec && q.arch.empty()) throw core::InputError("--random-weights goes with --arch");
  if (q.out.empty()) throw core::InputError("export: no output directory (--out)");
  engine::check_bundle_dir(q.out, q.force);
  const Experiment& x = q.experiment;
  const Target target = resolve_target(q.target, x);
  if (q.run_on_emulator && !target.emulator)
    throw core::InputError("--run-qemu: no QEMU machine emulates " + target.board->core);
  if (q.run_on_emulator && !engine::qemu_available()) throw core::InputError("--run-qemu: qemu-system-arm is not installed");

  bool trained_on_experiment_data = false;
  engine::FloatModel fm = float_network(q, trained_on_experiment_data);
  const engine::Graph& g = fm.graph;
  const engine::PatchSchedule patch = engine::resolve_patch_schedule(
      g, q.patch, q.max_extra_macs_percent < 0 ? -1.0 : q.max_extra_macs_percent / 100.0);
  if (q.patch == "auto") spdlog::info("patch schedule (auto): {}", engine::to_string(patch));
  engine::check_fits_board(g, *target.board, patch);
  const engine::Tensor& in = g.tensors[size_t(g.input)];

  // Calibration and test inputs: the user's calibration data, else the experiment's data for a network
  // trained on it, else random pixels. Only a network trained here takes the experiment's images
  // implicitly: a model from elsewhere, calibrated on them, would be quantized for the wrong data.
  const bool experiment_data = trained_on_experiment_data;
  if (q.eval_images != 0 && !experiment_data)
    throw core::InputError("--eval-images needs a network trained on the experiment's images");
  Images calibration, tests, evaluation;
  std::vector<std::vector<int16_t>> test_clips;  // a network with an audio front-end: the raw test inputs
  std::vector<std::vector<float>> user_inputs;  // float, NHWC
  std::string evaluation_split = "test";
  std::string calibrated_on;
  if (!q.calibration_data.empty()) {
    // A model that states its input map (x = (pixel - mean) / std) preprocesses images with it, unless the
    // request says otherwise; for the others, the inputs' range gives the int8 input's scale.
    const bool input_stated = fm.input_quantization_stated || trained_on_experiment_data;
    ImagePreprocessing pre = q.preprocessing;
    if (input_stated && pre.mean.empty() && pre.std.empty()) pre = {{fm.input_mean / 255.0f}, {fm.input_std / 255.0f}};
    user_inputs = load_calibration_inputs(q.calibration_data, {in.h, in.w, in.c}, q.calibration_images, q.seed, pre);
    calibrated_on = std::to_string(user_inputs.size()) + " inputs of '" + q.calibration_data + "'";
    if (!input_stated) engine::fit_input_quantization(fm, user_inputs);
  }
  if (experiment_data) {
    const auto train = data::open_split(x.data, "train");
    // A data set without a test split of its own (a folder of training images) gives holdout images.
    const bool own_test = data::has_test_split(x.data);
    if (!own_test) spdlog::info("the data set has no test split: test inputs and --eval-images come from the holdout");
    evaluation_split = own_test ? "test" : "holdout";
    const auto test = data::open_split(x.data, evaluation_split);
    if (train->channels() != in.c)
      throw core::InputError("the network takes " + std::to_string(in.c) + " channels, the data of " + x.path + " has " +
                             std::to_string(train->channels()) + ": --config names the experiment whose data it was trained on");
    if (train->width(in.h) != in.w)
      throw core::InputError("the network takes " + std::to_string(in.h) + " x " + std::to_string(in.w) +
                             " inputs, the data gives " + std::to_string(in.h) + " x " + std::to_string(train->width(in.h)));
    if (user_inputs.empty()) {
      calibration = load_images(*train, q.calibration_images, in.h, x.train.options.seed, true);
      calibrated_on = std::to_string(calibration.pixels.size()) + " training images of " + train->describe();
    }
    tests = load_images(*test, q.test_inputs, in.h, 0, false);
    // The same clips as int16 PCM, for the firmware's front-end to compute the features from.
    if (const auto* audio = dynamic_cast<const data::AudioFeatureDataset*>(test.get());
        audio && g.frontend != engine::Frontend::None)
      for (int i = 0; i < int(tests.pixels.size()); ++i) {
        std::vector<int16_t> clip(size_t(audio->config().clip_samples));
        audio->clips().load_clip(i, false, 0, clip.data());
        test_clips.push_back(std::move(clip));
      }
    // Part of a split is a seeded sample of all of it: splits may be ordered by class (image folders).
    if (q.eval_images != 0) {
      const int count = q.eval_images < 0 ? test->size() : std::min(q.eval_images, test->size());
      evaluation = load_images(*test, count, in.h, x.train.options.seed, count < test->size());
    }
  } else if (user_inputs.empty()) {
    calibration = random_images(q.calibration_images, size_t(in.elements()), q.seed + 1);
    tests = random_images(q.test_inputs, size_t(in.elements()), q.seed + 2);
    calibrated_on = std::to_string(calibration.pixels.size()) + " random inputs";
    if (!fm.stated_quantization.empty())
      spdlog::info("the model states the quantization of {} tensors (Q/DQ pairs): kept; random inputs calibrate "
                   "only the others", fm.stated_quantization.size());
    else if (!q.random_weights)
      spdlog::warn("calibrating on random inputs: the int8 ranges fit no real data (input scale {:.6g}, zero point "
                   "{}); pass --calibration with the model's real inputs (images or a .npy file)",
                   1.0 / fm.input_std, std::lround(fm.input_mean - 128.0f));
  }
  spdlog::info("calibrating on {}: int8 input scale {:.6g}, zero point {}", calibrated_on, 1.0 / fm.input_std,
               std::lround(fm.input_mean - 128.0f));

  engine::DeployOptions d;
  d.out = q.out;
  d.bundle.replace_any_directory = q.force;
  d.quantize = q.quantize;
  for (const auto& p : calibration.pixels) d.calibration_inputs.push_back(to_float_input(fm, p));
  for (const auto& x : user_inputs) d.calibration_inputs.push_back(x);
  for (size_t i = 0; i < tests.pixels.size(); ++i) {
    d.bundle.test_inputs.push_back(engine::quantize_pixels(tests.pixels[i]));
    d.bundle.test_labels.push_back(tests.labels[i]);
  }
  if (g.frontend != engine::Frontend::None && test_clips.empty())
    test_clips = engine::random_audio_clips(engine::frontend_sizes(g.frontend).input_samples, std::max(1, q.test_inputs),
                                            q.seed + 3);
  d.bundle.test_audio = test_clips;
  // Without test images of a data set, the first calibration inputs are the firmware's test inputs.
  for (size_t i = 0; tests.pixels.empty() && i < user_inputs.size() && int(i) < q.test_inputs; ++i) {
    d.bundle.test_inputs.push_back(engine::quantize_input(fm, user_inputs[i]));
    d.bundle.test_labels.push_back(-1);
  }
  d.board = target.board;
  d.emulator = q.run_on_emulator ? target.emulator : nullptr;
  d.bundle.patch = patch;

  ExportResult r;
  r.board = target.board->name;
  r.patch = patch;
  r.network_name = g.name;
  r.layers = int64_t(g.ops.size());
  r.deployment = engine::deploy(fm, d);
  // The ONNX files beside the C sources: the float network and its int8 (QDQ) form.
  r.float_onnx = (fs::path(q.out) / "model_float.onnx").string();
  r.int8_onnx = (fs::path(q.out) / "model_int8.onnx").string();
  engine::export_onnx_float(fm, r.float_onnx);
  engine::export_onnx_quantized(r.deployment.model, r.int8_onnx);
  if (!evaluation.pixels.empty()) r.accuracy = evaluate_int8(fm, r.deployment.model, evaluation);
  r.accuracy_split = evaluation_split;
  r.calibrated_on = calibrated_on;
  return r;
}

}  // namespace tinynas::nas
