#include "tinynas/nas/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "tinynas/core/units.h"
#include "tinynas/core/data_dir.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/search_space/yaml_fields.h"

namespace fs = std::filesystem;

namespace tinynas::nas {

namespace {

using namespace search_space::yaml_fields;

std::string resolve(const std::string& base_file, const std::string& rel) {
  const fs::path p(rel);
  if (p.is_absolute()) return rel;
  return (fs::path(base_file).parent_path() / p).lexically_normal().string();
}

const YAML::Node& mapping(const YAML::Node& n, const std::string& at) {
  if (!n.IsMap()) throw core::InputError(at + ": must be a mapping");
  return n;
}

// `small`, or a mapping {kind: small, pad: 4, cutout: 16}.
data::Transform load_transform(const YAML::Node& n, const std::string& at) {
  data::Transform t;
  try {
    if (n.IsScalar()) {
      t.kind = data::parse_transform_kind(n.as<std::string>());
      return t;
    }
    mapping(n, at);
    check_keys(n, at, {"kind", "pad", "cutout"});
    if (!n["kind"]) throw core::InputError(at + ": needs 'kind' (large, mild or small)");
    t.kind = data::parse_transform_kind(get<std::string>(n, "kind", at));
  } catch (const core::InputError& e) {
    throw core::InputError(at + ": " + e.what());
  }
  if (n["pad"]) t.pad = get<int>(n, "pad", at);
  if (n["cutout"]) t.cutout = get<int>(n, "cutout", at);
  if ((n["pad"] || n["cutout"]) && t.kind != data::Transform::Kind::kSmall)
    throw core::InputError(at + ": pad and cutout belong to the 'small' transform");
  data::check_transform(t, at);
  return t;
}

// `fixed`, `data` (measured on the training split) or {mean: [..], std: [..]} in pixel units.
void load_normalization(const YAML::Node& n, const std::string& at, data::DataConfig& d) {
  if (n.IsScalar()) {
    const std::string v = n.as<std::string>();
    if (v != "fixed" && v != "data") throw core::InputError(at + ": '" + v + "' is not known (fixed, data, or {mean, std})");
    d.normalize_from_data = v == "data";
    return;
  }
  mapping(n, at);
  check_keys(n, at, {"mean", "std"});
  if (!n["mean"] || !n["std"]) throw core::InputError(at + ": needs both 'mean' and 'std' (one per channel, pixel units)");
  d.normalization.mean = get_choices<double>(n, "mean", at);
  d.normalization.std = get_choices<double>(n, "std", at);
}

data::DataConfig load_data_config(const YAML::Node& node, const std::string& path) {
  data::DataConfig d;
  if (!node) return d;
  const std::string at = path + ": data";
  const YAML::Node& n = mapping(node, at);
  check_keys(n, at, {"kind", "path", "channels", "holdout", "seed", "transform", "normalize", "keywords"});
  if (n["kind"]) d.kind = get<std::string>(n, "kind", at);
  const bool speech = d.kind == "speech_commands";
  if (d.kind != "fashion-mnist" && d.kind != "folder" && !speech)
    throw core::InputError(at + ": kind '" + d.kind + "' is not known (fashion-mnist, folder or speech_commands)");
  if (n["path"]) d.path = resolve(path, get<std::string>(n, "path", at));
  if (speech) {
    // The data set fixes its own splits, augmentation and input mapping: keys that would change them
    // are refused rather than silently ignored.
    if (d.path.empty()) throw core::InputError(at + ": a speech_commands data set needs 'path' (the Speech Commands root)");
    if (n["holdout"])
      throw core::InputError(at + ": 'holdout' does not apply to speech_commands (its validation split is the holdout)");
    if (n["transform"])
      throw core::InputError(at + ": 'transform' does not apply to speech_commands (its augmentation is the recipe's "
                                  "time shift and background noise)");
    if (n["channels"] && get<int>(n, "channels", at) != 1)
      throw core::InputError(at + ": 'channels' must be 1 for speech_commands (MFCC features)");
  }
  if (n["keywords"]) {
    if (!speech) throw core::InputError(at + ": 'keywords' applies only to kind speech_commands");
    if (!n["keywords"].IsSequence()) throw core::InputError(at + ": 'keywords' must be a list of words");
    d.keywords = get<std::vector<std::string>>(n, "keywords", at);
    if (d.keywords.empty()) throw core::InputError(at + ": 'keywords' must not be empty");
  }
  if (n["channels"]) d.channels = get<int>(n, "channels", at);
  if (n["holdout"]) d.holdout = get<int>(n, "holdout", at);
  if (n["seed"]) d.seed = get<uint64_t>(n, "seed", at);
  if (d.kind == "folder" && d.path.empty()) throw core::InputError(at + ": a folder data set needs 'path'");
  if (d.channels != 1 && d.channels != 3) throw core::InputError(at + ": channels must be 1 (grayscale) or 3 (RGB)");
  if (d.holdout < 1) throw core::InputError(at + ": holdout must be at least 1 image");
  if (n["transform"]) d.transform = load_transform(n["transform"], at + ": transform");
  if (n["normalize"]) load_normalization(n["normalize"], at + ": normalize", d);
  data::check_normalization(d.normalization, d.channels, at + ": normalize");
  if (speech && (d.normalize_from_data || !d.normalization.is_fixed()))
    throw core::InputError(at + ": 'normalize' must be fixed for speech_commands (the int8 MFCC features are the "
                                "network's int8 input as they are)");
  return d;
}

SupernetConfig load_supernet_config(const YAML::Node& node, const std::string& path, const search_space::SearchSpace& space) {
  SupernetConfig c;
  c.width = space.width_choices.back();
  c.resolutions = space.resolution_choices;
  if (!node) return c;
  const std::string at = path + ": supernet";
  const YAML::Node& n = mapping(node, at);
  check_keys(n, at, {"width", "resolutions", "checkpoint"});
  if (n["width"]) {
    c.width = get<double>(n, "width", at);
    c.width_given = true;
  }
  if (n["resolutions"]) c.resolutions = get_choices<int>(n, "resolutions", at);
  if (n["checkpoint"]) c.checkpoint = resolve(path, get<std::string>(n, "checkpoint", at));
  if (std::find(space.width_choices.begin(), space.width_choices.end(), c.width) == space.width_choices.end())
    throw core::InputError(at + ": width " + std::to_string(c.width) + " is not one of the space's widths");
  for (int r : c.resolutions)
    if (std::find(space.resolution_choices.begin(), space.resolution_choices.end(), r) == space.resolution_choices.end())
      throw core::InputError(at + ": resolution " + std::to_string(r) + " is not one of the space's resolutions");
  if (c.resolutions.empty()) throw core::InputError(at + ": resolutions must not be empty");
  return c;
}

supernet::PhaseOptions load_phase(const YAML::Node& node, const std::string& at, const supernet::PhaseOptions& defaults) {
  const YAML::Node& n = mapping(node, at);
  check_keys(n, at, {"name", "epochs", "lr", "kernels", "expands", "depths", "subnets_per_step", "reorder_channels"});
  supernet::PhaseOptions p = defaults;
  if (n["name"]) p.name = get<std::string>(n, "name", at);
  if (n["epochs"]) p.epochs = get<int>(n, "epochs", at);
  if (n["lr"]) p.lr = get<double>(n, "lr", at);
  if (n["kernels"]) p.kernels = get_choices<int>(n, "kernels", at);
  if (n["expands"]) p.expands = get_choices<int>(n, "expands", at);
  if (n["depths"]) p.depths = get_choices<int>(n, "depths", at);
  if (n["subnets_per_step"]) p.subnets_per_step = get<int>(n, "subnets_per_step", at);
  if (n["reorder_channels"]) p.reorder_channels = get<bool>(n, "reorder_channels", at);
  return p;
}

// once-for-all's schedule: the largest network, then elastic kernel, depth and expand (each growing its
// set in two steps), later phases at lower learning rates.
std::vector<supernet::PhaseOptions> default_shrinking_phases(const search_space::SearchSpace& s, double lr) {
  auto top = [](std::vector<int> v, size_t n) {
    std::sort(v.begin(), v.end());
    return std::vector<int>(v.end() - long(std::min(n, v.size())), v.end());
  };
  const auto& ks = s.kernel_choices;
  const auto& ds = s.depth_choices;
  const auto& es = s.expand_choices;
  std::vector<supernet::PhaseOptions> p;
  p.push_back({"largest", 2, lr, {}, {}, {}, 1, false, false});
  p.push_back({"kernel", 1, lr * 0.5, ks, {}, {}, 1, false, false});
  p.push_back({"depth-1", 1, lr * 0.3, ks, {}, top(ds, 2), 2, false, false});
  p.push_back({"depth-2", 1, lr * 0.3, ks, {}, ds, 2, false, false});
  p.push_back({"expand-1", 1, lr * 0.3, ks, top(es, 2), ds, 2, false, true});
  p.push_back({"expand-2", 1, lr * 0.3, ks, es, ds, 4, false, false});
  return p;
}

TrainConfig load_train_config(const YAML::Node& node, const std::string& path, const Experiment& x) {
  TrainConfig c;
  auto& o = c.options;
  o.space = x.space;
  o.width = x.supernet.width;
  o.resolutions = x.supernet.resolutions;
  const std::string at = path + ": train";
  YAML::Node n = node ? mapping(node, at) : YAML::Node(YAML::NodeType::Map);
  check_keys(n, at,
             {"method", "epochs", "lr", "subnets_per_step", "phases", "batch_size", "threads", "seed", "momentum",
              "nesterov", "weight_decay", "label_smoothing", "kd_weight", "warmup_epochs", "recalibration_images",
              "eval_batch_size", "max_steps_per_epoch", "batch_parts"});
  if (n["method"]) c.method = get<std::string>(n, "method", at);
  if (n["batch_size"]) o.batch_size = get<int>(n, "batch_size", at);
  if (n["threads"]) c.threads = get<int>(n, "threads", at);
  if (n["seed"]) o.seed = get<uint64_t>(n, "seed", at);
  if (n["momentum"]) o.momentum = get<double>(n, "momentum", at);
  if (n["nesterov"]) o.nesterov = get<bool>(n, "nesterov", at);
  if (n["weight_decay"]) o.weight_decay = get<double>(n, "weight_decay", at);
  if (n["label_smoothing"]) o.label_smoothing = get<double>(n, "label_smoothing", at);
  if (n["kd_weight"]) o.kd_weight = get<double>(n, "kd_weight", at);
  if (n["warmup_epochs"]) o.warmup_epochs = get<int>(n, "warmup_epochs", at);
  if (n["recalibration_images"]) o.recalibration_images = get<int>(n, "recalibration_images", at);
  if (n["eval_batch_size"]) o.eval_batch_size = get<int>(n, "eval_batch_size", at);
  if (n["max_steps_per_epoch"]) o.max_steps_per_epoch = get<int64_t>(n, "max_steps_per_epoch", at);
  if (n["batch_parts"]) o.batch_parts = get<int>(n, "batch_parts", at);
  const double lr = n["lr"] ? get<double>(n, "lr", at) : 0.05;
  if (c.threads <= 0) throw core::InputError(at + ": threads must be positive");
  if (c.method == "sandwich") {
    if (n["phases"]) throw core::InputError(at + ": 'phases' belongs to method progressive_shrinking");
    supernet::PhaseOptions p{"sandwich", 1, lr, x.space.kernel_choices, x.space.expand_choices, x.space.depth_choices,
                             4, true, false};
    if (n["epochs"]) p.epochs = get<int>(n, "epochs", at);
    if (n["subnets_per_step"]) p.subnets_per_step = get<int>(n, "subnets_per_step", at);
    o.phases = {p};
  } else if (c.method == "progressive_shrinking") {
    if (n["epochs"] || n["subnets_per_step"])
      throw core::InputError(at + ": with progressive_shrinking, epochs and subnets_per_step are set per phase");
    if (n["phases"]) {
      if (!n["phases"].IsSequence()) throw core::InputError(at + ": phases must be a list");
      int i = 0;
      for (const auto& ph : n["phases"]) {
        ++i;
        o.phases.push_back(load_phase(ph, at + ": phases[" + std::to_string(i - 1) + "]",
                                      supernet::PhaseOptions{"phase" + std::to_string(i), 1, lr, {}, {}, {}, 1, false, false}));
      }
    } else {
      o.phases = default_shrinking_phases(x.space, lr);
    }
  } else {
    throw core::InputError(at + ": method '" + c.method + "' is not known (sandwich or progressive_shrinking)");
  }
  return c;
}

}  // namespace

std::string config_dir() { return core::data_path("configs"); }

std::vector<std::string> known_mcus() {
  std::vector<std::string> names;
  const fs::path dir = fs::path(config_dir()) / "mcu";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

engine::McuProfile load_mcu(const std::string& name_or_path) {
  std::string path = name_or_path;
  const bool looks_like_path = name_or_path.find('/') != std::string::npos || fs::path(name_or_path).extension() == ".yaml";
  if (!looks_like_path) {
    path = (fs::path(config_dir()) / "mcu" / (name_or_path + ".yaml")).string();
    if (!core::is_file(path)) {
      std::string list;
      for (const auto& n : known_mcus()) list += (list.empty() ? "" : ", ") + n;
      throw core::InputError("unknown MCU '" + name_or_path + "' (known: " + list + "; or give a path to a profile YAML)");
    }
  }
  const YAML::Node n = load_yaml(path);
  check_keys(n, path,
             {"name", "core", "qemu_machine", "sram", "flash", "runtime_code", "clock_mhz", "latency_model", "power",
              "description"});
  for (const char* key : {"name", "core", "sram", "flash", "runtime_code", "clock_mhz"})
    if (!n[key]) throw core::InputError(path + ": '" + key + "' is missing");
  engine::McuProfile m;
  m.name = get<std::string>(n, "name", path);
  m.core = get<std::string>(n, "core", path);
  m.qemu_machine = n["qemu_machine"] ? get<std::string>(n, "qemu_machine", path) : "";
  m.sram_bytes = get_size(n, "sram", path);
  m.flash_bytes = get_size(n, "flash", path);
  m.runtime_code_bytes = get_size(n, "runtime_code", path);
  m.clock_hz = get<double>(n, "clock_mhz", path) * 1e6;
  if (!(m.clock_hz > 0)) throw core::InputError(path + ": clock_mhz must be positive");
  m.latency_model = n["latency_model"] ? get<std::string>(n, "latency_model", path) : m.name;
  if (const YAML::Node p = n["power"]) {
    const std::string at = path + ": power";
    check_keys(mapping(p, at), at, {"supply_voltage", "run_current_ma", "source"});
    for (const char* key : {"supply_voltage", "run_current_ma", "source"})
      if (!p[key]) throw core::InputError(at + ": '" + key + "' is missing");
    m.supply_voltage = get<double>(p, "supply_voltage", at);
    m.run_current_ma = get<double>(p, "run_current_ma", at);
    m.power_source = get<std::string>(p, "source", at);
    if (!(m.supply_voltage > 0 && m.supply_voltage < 10)) throw core::InputError(at + ": supply_voltage must lie in (0, 10) V");
    if (!(m.run_current_ma > 0 && m.run_current_ma < 10000)) throw core::InputError(at + ": run_current_ma must lie in (0, 10000) mA");
  }
  return m;
}

namespace {

evaluator::Budget load_constraints(const YAML::Node& n, const std::string& path) {
  evaluator::Budget b;
  if (!n) return b;
  const std::string at = path + ": constraints";
  check_keys(mapping(n, at), at, {"sram", "flash", "latency", "energy"});
  if (n["sram"]) b.sram_bytes = get_size(n, "sram", at);
  if (n["flash"]) b.flash_bytes = get_size(n, "flash", at);
  if (n["latency"]) b.latency_ms = core::parse_duration_ms(get<std::string>(n, "latency", at), at + ": latency");
  if (n["energy"]) b.energy_uj = core::parse_energy_uj(get<std::string>(n, "energy", at), at + ": energy");
  return b;
}

}  // namespace

Experiment load_experiment(const std::string& path) {
  const YAML::Node n = load_yaml(path);
  check_keys(n, path, {"name", "description", "space", "mcu", "constraints", "stage1", "data", "supernet", "train", "search"});
  Experiment x;
  x.path = path;
  x.name = n["name"] ? get<std::string>(n, "name", path) : fs::path(path).stem().string();
  if (!n["space"]) throw core::InputError(path + ": 'space' (a search-space YAML, relative to this file) is missing");
  x.space_path = resolve(path, get<std::string>(n, "space", path));
  x.space = search_space::load_space(x.space_path);
  x.mcu = load_mcu(n["mcu"] ? get<std::string>(n, "mcu", path) : "stm32f746");
  x.constraints = load_constraints(n["constraints"], path);
  if (const YAML::Node se = n["search"]) {
    const std::string at = path + ": search";
    check_keys(mapping(se, at), at, {"patch", "max_patches"});
    if (se["patch"]) x.search.patch = get<bool>(se, "patch", at);
    if (se["max_patches"]) x.search.max_patches = get<int>(se, "max_patches", at);
    if (x.search.max_patches < 1 || x.search.max_patches > 16)
      throw core::InputError(at + ": max_patches must lie in 1..16, got " + std::to_string(x.search.max_patches));
  }
  if (const YAML::Node s1 = n["stage1"]) {
    const std::string at = path + ": stage1";
    check_keys(mapping(s1, at), at, {"samples", "seed", "widths", "resolutions", "min_fit_fraction"});
    if (s1["min_fit_fraction"]) x.stage1.min_fit_fraction = get<double>(s1, "min_fit_fraction", at);
    if (s1["samples"]) x.stage1.samples = get<int>(s1, "samples", at);
    if (s1["seed"]) x.stage1.seed = get<uint64_t>(s1, "seed", at);
    if (s1["widths"]) x.stage1.widths = get_choices<double>(s1, "widths", at);
    if (s1["resolutions"]) x.stage1.resolutions = get_choices<int>(s1, "resolutions", at);
  }
  x.data = load_data_config(n["data"], path);
  // The MFCC front-end computes on the MCU the features of Speech Commands clips; another data set's
  // inputs would reach the network as something it was never trained on.
  if (x.space.frontend == "mfcc" && x.data.kind != "speech_commands")
    throw core::InputError(path + ": the space's front-end 'mfcc' needs data of kind speech_commands, not '" +
                           x.data.kind + "'");
  x.supernet = load_supernet_config(n["supernet"], path, x.space);
  x.train = load_train_config(n["train"], path, x);
  return x;
}

std::string default_experiment_path() { return (fs::path(config_dir()) / "experiments" / "fashion-mnist.yaml").string(); }

}  // namespace tinynas::nas
