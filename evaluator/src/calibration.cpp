#include "tinynas/evaluator/calibration.h"

#include <tbb/parallel_for.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "tinynas/engine/codegen.h"
#include "tinynas/evaluator/budget.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/engine/flash.h"
#include "tinynas/engine/patch.h"
#include "tinynas/engine/float_model.h"
#include "tinynas/engine/planner.h"
#include "tinynas/engine/quantize.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"
#include "tinynas/search_space/space_yaml.h"

namespace tinynas::evaluator {

namespace fs = std::filesystem;

namespace {

std::string subnet_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "subnet-%03zu", index);
  return buf;
}

const char* kManifest = "calibration.json";

}  // namespace

std::vector<search_space::ArchSpec> calibration_archs(const search_space::SearchSpace& space, const engine::McuProfile& mcu, int count,
                                        uint64_t seed) {
  std::vector<search_space::ArchSpec> archs;
  const int max_draws = 1000 * std::max(count, 1);
  for (int draw = 0; draw < max_draws && int(archs.size()) < count; ++draw) {
    core::Rng rng(core::derive_seed(seed, uint64_t(draw)));
    const search_space::ArchSpec arch = space.sample(rng);
    const engine::Graph g = engine::build_graph(space.describe(arch));
    const Budget budget = mcu_budget(mcu);
    if (!budget.admits_sram(engine::peak_sram_bytes(g))) continue;
    if (!budget.admits_flash(engine::estimate_flash(g, mcu.runtime_code_bytes).total())) continue;
    archs.push_back(space.normalized(arch));
  }
  if (int(archs.size()) < count)
    throw core::InputError("only " + std::to_string(archs.size()) + " of " + std::to_string(max_draws) +
                     " random subnets of the space fit " + mcu.name + "; calibration needs " + std::to_string(count));
  return archs;
}

engine::PatchSchedule calibration_patch_schedule(const engine::Graph& g, size_t index) {
  if (index % 3 != 2) return {};
  const std::vector<engine::PatchSchedule> candidates = engine::candidate_patch_schedules(g, 4);
  if (candidates.empty()) return {};
  return candidates[(index / 3) * 7919 % candidates.size()];
}

engine::Graph write_calibration_bundle(const search_space::SearchSpace& space, const search_space::ArchSpec& arch, const std::string& dir,
                                       const engine::PatchSchedule& patch) {
  engine::Graph g = engine::build_graph(space.describe(arch));
  g.name = fs::path(dir).filename().string();  // the firmware prints it: model=NAME
  uint64_t seed = 14695981039346656037ull;  // FNV-1a of the name: the same weights on every platform
  for (const unsigned char ch : g.name) seed = (seed ^ ch) * 1099511628211ull;
  const engine::QuantizedModel qm =
      engine::quantize(engine::random_float_model(g, seed), engine::random_image_inputs(g, 2, seed + 1));
  engine::BundleOptions o;
  o.patch = patch;
  // Two inputs: the counts printed are the second inference's, after any cache warm-up on a board.
  for (const auto& x : engine::random_image_inputs(g, 2, seed + 2)) o.test_inputs.push_back(engine::quantize_input(qm, x));
  if (g.frontend != engine::Frontend::None)
    o.test_audio = engine::random_audio_clips(engine::frontend_sizes(g.frontend).input_samples, 2, seed + 3);
  engine::write_bundle(qm, o, dir);
  return g;
}

std::string run_calibration_bundle(const std::string& dir, const engine::Board& board, int timeout_seconds) {
  const engine::BuildResult build = engine::build_bundle(dir, board);
  if (!build.ok) throw core::RuntimeFailure("building " + dir + " for " + board.name + " failed:\n" + build.error_summary());
  const engine::RunResult run = engine::run_in_qemu(build.elf, board, timeout_seconds);
  if (!run.ok)
    throw core::RuntimeFailure("running " + dir + " on " + board.name + " failed" + (run.timed_out ? " (timed out)" : "") +
                         ":\n" + run.output + run.errors);
  return run.output;
}

LatencyModel fit_and_validate(const std::vector<SubnetMeasurement>& fit, std::vector<SubnetMeasurement>& validate) {
  auto stage_of = [](const SubnetMeasurement& m) {
    return m.patch.layer_wise() ? std::optional<engine::PatchStage>() : engine::plan_patch_stage(m.graph, m.patch);
  };
  std::vector<LayerSample> samples;
  for (const auto& m : fit) {
    const auto stage = stage_of(m);
    const auto s = layer_samples(m.graph, m.run, stage ? &*stage : nullptr);
    samples.insert(samples.end(), s.begin(), s.end());
  }
  LatencyModel model = fit_latency_model(samples);
  double sum = 0, worst = 0;
  for (auto& m : validate) {
    const auto stage = stage_of(m);
    m.predicted = model.predict(m.graph, stage ? &*stage : nullptr);
    const double error = std::abs(m.predicted - m.measured) / m.measured * 100.0;
    sum += error;
    worst = std::max(worst, error);
  }
  model.validation_subnets = int(validate.size());
  model.validation_mape_percent = validate.empty() ? 0 : sum / double(validate.size());
  model.validation_max_error_percent = worst;
  return model;
}

LatencyModel calibrate_in_qemu(const CalibrationOptions& o) {
  if (o.mcu.qemu_machine.empty())
    throw core::InputError(o.mcu.name + " is not emulated: generate the benchmarks with --generate, run them on the board "
                                  "and pass the captured serial output with --measurements");
  if (o.fit_subnets < 1 || o.validate_subnets < 0) throw core::InputError("calibration needs at least one subnet to fit");
  const engine::Board* board = &engine::board_for_mcu(o.mcu);
  const int total = o.fit_subnets + o.validate_subnets;
  const std::vector<search_space::ArchSpec> archs = calibration_archs(o.space, o.mcu, total, o.seed);
  fs::create_directories(o.work_dir);
  std::vector<SubnetMeasurement> all(archs.size());
  std::atomic<int> done{0};
  std::mutex progress;
  // Every rank of an MPI job runs its share of the subnets (in parallel on its cores); their serial
  // outputs are then exchanged, so every rank fits the same model.
  const std::vector<std::string> outputs = dist::map_items(
      dist::Cluster::world(), archs.size(),
      [&](size_t i) {
        const std::string dir = (fs::path(o.work_dir) / subnet_name(i)).string();
        const engine::Graph g = engine::build_graph(o.space.describe(archs[i]));
        write_calibration_bundle(o.space, archs[i], dir, calibration_patch_schedule(g, i));
        std::string text = run_calibration_bundle(dir, *board, o.timeout_seconds);
        const int n = ++done;
        if (o.on_progress) {
          std::lock_guard<std::mutex> lock(progress);
          o.on_progress(n, total);
        }
        return text;
      },
      /*parallel=*/true);
  for (size_t i = 0; i < archs.size(); ++i) {
    all[i].arch = archs[i];
    all[i].graph = engine::build_graph(o.space.describe(archs[i]));
    all[i].graph.name = subnet_name(i);
    all[i].patch = calibration_patch_schedule(all[i].graph, i);
    all[i].run = engine::parse_firmware_output(outputs[i]);
    if (all[i].run.inferences.empty()) throw core::RuntimeFailure(subnet_name(i) + " printed no inference:\n" + outputs[i]);
    all[i].measured = double(all[i].run.inferences.back().instructions);
  }
  std::vector<SubnetMeasurement> fit(all.begin(), all.begin() + o.fit_subnets);
  std::vector<SubnetMeasurement> validate(all.begin() + o.fit_subnets, all.end());
  LatencyModel model = fit_and_validate(fit, validate);
  model.mcu = o.mcu.name;
  model.unit = "instructions";
  model.clock_hz = o.mcu.clock_hz;
  std::ostringstream source;
  source << "QEMU " << o.mcu.qemu_machine << " -icount shift=0: " << o.fit_subnets << " subnets fit, "
         << o.validate_subnets << " validate, seed " << o.seed << "; patch-based runs: one subnet in three";
  model.source = source.str();
  return model;
}

std::vector<std::pair<std::string, engine::FirmwareOutput>> split_serial_log(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> chunks;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // serial terminals end lines with CR LF
    const auto start = line.find("tinynas-firmware ");
    if (start != std::string::npos) {
      line = line.substr(start);
      const auto m = line.find(" model=");
      if (m == std::string::npos) throw core::InputError("serial log: a firmware header without model=: " + line);
      const auto end = line.find(' ', m + 7);
      chunks.push_back({line.substr(m + 7, end == std::string::npos ? std::string::npos : end - m - 7), ""});
    }
    if (!chunks.empty()) chunks.back().second += line + "\n";
  }
  if (chunks.empty()) throw core::InputError("serial log: no firmware run (no 'tinynas-firmware' line)");
  std::vector<std::pair<std::string, engine::FirmwareOutput>> runs;
  for (const auto& [name, chunk] : chunks) {
    try {
      runs.push_back({name, engine::parse_firmware_output(chunk)});
    } catch (const std::exception& e) {
      throw core::InputError("serial log: the run of " + name + " is incomplete (" + e.what() + ")");
    }
  }
  return runs;
}

BoardBundles write_board_bundles(const CalibrationOptions& o) {
  if (o.fit_subnets < 1 || o.validate_subnets < 0) throw core::InputError("calibration needs at least one subnet to fit");
  const engine::Board& board = engine::board_for_mcu(o.mcu);
  const int total = o.fit_subnets + o.validate_subnets;
  const auto archs = calibration_archs(o.space, o.mcu, total, o.seed);
  fs::create_directories(o.work_dir);
  nlohmann::json manifest{{"mcu", o.mcu.name},      {"board", board.name}, {"space", search_space::space_to_yaml(o.space)},
                          {"fit", o.fit_subnets}, {"seed", o.seed},      {"subnets", nlohmann::json::array()}};
  for (size_t i = 0; i < archs.size(); ++i) {
    const engine::PatchSchedule patch = calibration_patch_schedule(engine::build_graph(o.space.describe(archs[i])), i);
    write_calibration_bundle(o.space, archs[i], (fs::path(o.work_dir) / subnet_name(i)).string(), patch);
    manifest["subnets"].push_back(
        {{"name", subnet_name(i)}, {"arch", nlohmann::json::parse(to_json(archs[i]))}, {"patch", engine::to_string(patch)}});
    if (o.on_progress) o.on_progress(int(i) + 1, total);
  }
  // The manifest last: a folder with one is complete.
  core::write_file_atomic((fs::path(o.work_dir) / kManifest).string(), manifest.dump(1) + "\n");
  return BoardBundles{o.work_dir, board.name, board.make_target, int(archs.size())};
}

LatencyModel fit_board_measurements(const std::string& bundles_dir, const std::string& measurements_path,
                                    const engine::McuProfile& mcu) {
  const std::string manifest_path = (fs::path(bundles_dir) / kManifest).string();
  std::string space_yaml, board;
  std::map<std::string, search_space::ArchSpec> archs;
  std::map<std::string, engine::PatchSchedule> patches;
  int fit_count = 0;
  try {
    const auto manifest = nlohmann::json::parse(core::read_text_file(manifest_path));
    space_yaml = manifest.at("space").get<std::string>();
    board = manifest.at("board").get<std::string>();
    fit_count = manifest.at("fit").get<int>();
    for (const auto& s : manifest.at("subnets")) {
      archs[s.at("name")] = search_space::arch_from_json(s.at("arch").dump());
      // Manifests written before patch schedules ran every subnet layer by layer.
      patches[s.at("name")] = engine::parse_patch_schedule(s.value("patch", std::string("layer-wise")));
    }
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(manifest_path + ": not a calibration manifest (" + e.what() + ")");
  }
  const search_space::SearchSpace space = search_space::space_from_yaml(space_yaml, manifest_path + ": space");
  std::vector<SubnetMeasurement> fit, validate;
  for (auto& [name, run] : split_serial_log(core::read_text_file(measurements_path))) {
    const auto it = archs.find(name);
    if (it == archs.end())
      throw core::InputError(measurements_path + ": a run of " + name + ", which " + manifest_path + " does not list");
    SubnetMeasurement m;
    m.arch = it->second;
    m.graph = engine::build_graph(space.describe(m.arch));
    m.graph.name = name;
    m.patch = patches.at(name);
    m.run = run;
    if (m.run.inferences.empty()) throw core::InputError(measurements_path + ": the run of " + name + " has no inference");
    m.measured = double(m.run.inferences.back().instructions);
    (std::stoi(name.substr(7)) < fit_count ? fit : validate).push_back(std::move(m));
  }
  if (fit.empty())
    throw core::InputError(measurements_path + ": none of the runs is of a subnet to fit (subnet-000 ...)");
  LatencyModel model = fit_and_validate(fit, validate);
  model.mcu = mcu.name;
  model.unit = "cycles";
  model.clock_hz = mcu.clock_hz;
  model.source = "serial output of " + std::to_string(fit.size() + validate.size()) + " runs on " +
                 board + " (" + measurements_path + ")";
  return model;
}

}  // namespace tinynas::evaluator
