#include "tinynas/supernet/train.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <tuple>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/finetune.h"
#include "tinynas/supernet/ofa.h"

namespace tinynas::supernet {

namespace {

using Clock = std::chrono::steady_clock;

// Streams of derive_seed(seed, stream, ...), one per kind of random choice.
// (calibration_seed() uses stream 4.)
enum Stream : uint64_t { kDataOrder = 1, kAugment = 2, kSubnets = 3 };

double cosine_lr(double base, int64_t step, int64_t total, int64_t warmup) {
  if (step < warmup) return base * double(step + 1) / double(warmup);
  const double t = total > warmup ? double(step - warmup) / double(total - warmup) : 1.0;
  return 0.5 * base * (1.0 + std::cos(M_PI * std::min(t, 1.0)));
}

// Cross-entropy against soft targets: -sum(p_teacher * log_softmax(logits)) averaged over the batch.
torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& teacher_probs) {
  return -(teacher_probs * torch::log_softmax(logits, 1)).sum(1).mean();
}

torch::Tensor resize_input(const torch::Tensor& x, int r) {
  if (x.size(2) == r) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{r, r})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

struct Subnet {
  search_space::ArchSpec arch;
  bool teacher = false;  // the sandwich's largest: trained on labels, teaches the rest
};

std::vector<Subnet> sample_subnets(const TrainOptions& o, const PhaseOptions& p, const search_space::SearchSpace& ps, uint64_t step) {
  core::Rng rng(core::derive_seed(o.seed, kSubnets, step));
  std::vector<Subnet> out;
  const int rmin = *std::min_element(o.resolutions.begin(), o.resolutions.end());
  const int rmax = *std::max_element(o.resolutions.begin(), o.resolutions.end());
  int n = std::max(1, p.subnets_per_step);
  if (p.sandwich) {
    out.push_back({ps.largest(o.width, rmax), true});
    if (n >= 2) out.push_back({ps.smallest(o.width, rmin), false});
    n -= int(out.size());
  }
  for (int i = 0; i < n; ++i) out.push_back({ps.sample(rng), false});
  return out;
}

void validate_options(const TrainOptions& o) {
  o.space.validate();
  if (o.phases.empty()) throw core::InputError("training needs at least one phase");
  if (o.batch_size <= 0) throw core::InputError("batch_size must be positive");
  if (o.batch_parts <= 0 || o.batch_size % o.batch_parts != 0)
    throw core::InputError("batch_parts (" + std::to_string(o.batch_parts) + ") must divide the batch size (" +
                     std::to_string(o.batch_size) + ")");
  const int ranks = dist::Cluster::world().size();
  if (o.batch_parts % ranks != 0)
    throw core::InputError("batch_parts (" + std::to_string(o.batch_parts) + ") must be a multiple of the " +
                     std::to_string(ranks) + " MPI ranks (every rank runs the same number of parts)");
  // NaN fails every comparison, so each check is written as "not inside the valid range".
  const auto in_range = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  if (!in_range(o.width, 1e-6, 1e6)) throw core::InputError("width must be positive");
  if (!in_range(o.momentum, 0, 0.999999)) throw core::InputError("momentum must be in [0, 1)");
  if (!in_range(o.weight_decay, 0, 1)) throw core::InputError("weight_decay must be in [0, 1]");
  if (!in_range(o.label_smoothing, 0, 0.999999)) throw core::InputError("label_smoothing must be in [0, 1)");
  if (!in_range(o.kd_weight, 0, 1e6)) throw core::InputError("kd_weight must be a finite number >= 0");
  if (o.warmup_epochs < 0 || o.warmup_epochs > o.phases.front().epochs)
    throw core::InputError("warmup_epochs must be between 0 and the first phase's epochs (" +
                           std::to_string(o.phases.front().epochs) + ")");
  if (o.recalibration_images <= 0) throw core::InputError("recalibration_images must be positive");
  if (o.eval_batch_size <= 0) throw core::InputError("eval_batch_size must be positive");
  if (o.max_steps_per_epoch < 0) throw core::InputError("max_steps_per_epoch must be >= 0 (0: the whole training set)");
  if (o.resolutions.empty()) throw core::InputError("the supernet needs at least one training resolution");
  for (int r : o.resolutions)
    if (std::find(o.space.resolution_choices.begin(), o.space.resolution_choices.end(), r) ==
        o.space.resolution_choices.end())
      throw core::InputError("training resolution " + std::to_string(r) + " is not one of the space's resolutions");
  // Smaller resolutions are resized from the largest's batch, which only square inputs allow.
  if (o.space.input_width > 0 && o.resolutions.size() > 1)
    throw core::InputError("a space of fixed input width (" + std::to_string(o.space.input_width) +
                           ") trains at one resolution, not " + std::to_string(o.resolutions.size()));
  for (const auto& p : o.phases) {
    if (p.epochs <= 0) throw core::InputError("phase '" + p.name + "': epochs must be positive");
    if (!in_range(p.lr, 1e-12, 1e3)) throw core::InputError("phase '" + p.name + "': lr must be a positive number up to 1000");
    if (p.subnets_per_step <= 0) throw core::InputError("phase '" + p.name + "': subnets_per_step must be positive");
    auto check = [&](const std::vector<int>& set, const std::vector<int>& all, const char* what) {
      for (int v : set)
        if (std::find(all.begin(), all.end(), v) == all.end())
          throw core::InputError("phase '" + p.name + "': " + what + " " + std::to_string(v) + " is not in the space");
    };
    check(p.kernels, o.space.kernel_choices, "kernel size");
    check(p.expands, o.space.expand_choices, "expand ratio");
    check(p.depths, o.space.depth_choices, "depth");
  }
}

struct TrainState {
  int phase = 0;             // current phase
  int epochs_done = 0;       // completed epochs of the current phase
  int64_t global_step = 0;   // optimizer steps over the whole run (seeds the subnet sampling)
  bool has_teacher = false;
  std::vector<EpochMetrics> history;
  // Within the current epoch, when a run stopped between steps (0 = at an epoch boundary).
  int64_t step_in_epoch = 0;
  double epoch_loss_sum = 0;
  int64_t epoch_passes = 0;
  double epoch_seconds = 0;  // training time of the epoch so far (for images/s)
};

nlohmann::json metrics_json(const EpochMetrics& m) {
  return {{"phase", m.phase}, {"epoch", m.epoch}, {"global_epoch", m.global_epoch}, {"train_loss", m.train_loss},
          {"lr", m.lr}, {"images_per_s", m.images_per_s}, {"seconds", m.seconds},
          {"holdout_largest", m.holdout_largest}, {"holdout_smallest", m.holdout_smallest}};
}

EpochMetrics metrics_from_json(const nlohmann::json& j) {
  EpochMetrics m;
  m.phase = j.at("phase");
  m.epoch = j.at("epoch");
  m.global_epoch = j.at("global_epoch");
  m.train_loss = j.at("train_loss");
  m.lr = j.at("lr");
  m.images_per_s = j.at("images_per_s");
  m.seconds = j.at("seconds");
  m.holdout_largest = j.at("holdout_largest");
  m.holdout_smallest = j.at("holdout_smallest");
  return m;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history) {
  std::ostringstream out;
  out << "global_epoch,phase,epoch,train_loss,lr,images_per_s,seconds,holdout_top1_largest,holdout_top1_smallest\n";
  out.setf(std::ios::fixed);
  for (const auto& m : history) {
    out.precision(5);
    out << m.global_epoch << ',' << m.phase << ',' << m.epoch << ',' << m.train_loss << ',' << m.lr << ',';
    out.precision(1);
    out << m.images_per_s << ',' << m.seconds << ',';
    out.precision(2);
    out << m.holdout_largest << ',' << m.holdout_smallest << '\n';
  }
  core::write_file_atomic(path, out.str());
}

void save_checkpoint(const TrainPaths& paths, const nlohmann::json& options, const TrainState& st, OFASupernet& net,
                     torch::optim::SGD& opt, StaticNet* teacher) {
  nlohmann::json j;
  j["format"] = "tinynas-train-checkpoint-1";
  j["options"] = options;
  j["phase"] = st.phase;
  j["epochs_done"] = st.epochs_done;
  j["global_step"] = st.global_step;
  j["step_in_epoch"] = st.step_in_epoch;
  j["epoch_loss_sum"] = st.epoch_loss_sum;
  j["epoch_passes"] = st.epoch_passes;
  j["epoch_seconds"] = st.epoch_seconds;
  j["has_teacher"] = teacher != nullptr;
  j["history"] = nlohmann::json::array();
  for (const auto& m : st.history) j["history"].push_back(metrics_json(m));
  torch::serialize::OutputArchive archive;
  archive.write("state", c10::IValue(j.dump()));
  torch::serialize::OutputArchive model;
  net->save(model);
  archive.write("model", model);
  auto momentum = momentum_archive(opt);
  archive.write("optimizer", momentum);
  if (teacher) {
    torch::serialize::OutputArchive t;
    (*teacher)->save(t);
    archive.write("teacher", t);
  }
  save_archive_atomic(archive, paths.checkpoint());
}

// What stopped the run, for its message: this rank's signal, or one another rank received.
std::string stop_reason() {
  const std::string name = core::stop_signal_name();
  return name.empty() ? "a signal to another rank" : name;
}

void set_lr(torch::optim::SGD& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
}

}  // namespace

std::vector<torch::optim::OptimizerParamGroup> sgd_param_groups(torch::nn::Module& net, double lr, double momentum,
                                                                bool nesterov, double weight_decay) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : net.named_parameters()) {
    const auto& key = p.key();
    // Conv and linear weights are decayed; BN affine parameters, biases and the kernel transforms
    // (which start as identities) are not.
    const bool is_bn = key.find("bn.") != std::string::npos;
    const bool is_bias = key.size() >= 4 && key.compare(key.size() - 4, 4, "bias") == 0;
    const bool is_transform = key.find("transform_") != std::string::npos;
    (is_bn || is_bias || is_transform ? no_decay : decay).push_back(p.value());
  }
  auto opts = [&](double wd) {
    auto so = std::make_unique<torch::optim::SGDOptions>(lr);
    so->momentum(momentum).nesterov(nesterov).weight_decay(wd);
    return so;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(weight_decay));
  groups.emplace_back(no_decay, opts(0.0));
  return groups;
}

// The space's depth set stays as it is: it sets how an arch's block slots are laid out.
search_space::SearchSpace phase_space(const TrainOptions& o, const PhaseOptions& p) {
  auto within = [](const std::vector<int>& phase_set, const std::vector<int>& all) {
    const int largest = *std::max_element(all.begin(), all.end());
    if (phase_set.empty()) return std::vector<int>{largest};
    std::vector<int> kept;
    for (int v : phase_set)
      if (std::find(all.begin(), all.end(), v) != all.end()) kept.push_back(v);
    return kept.empty() ? std::vector<int>{largest} : kept;
  };
  search_space::SearchSpace s = o.space;
  s.kernel_choices = within(p.kernels, o.space.kernel_choices);  // the last block's
  s.expand_choices = within(p.expands, o.space.expand_choices);
  s.stage_choices.resize(size_t(o.space.num_stages()));
  for (int st = 0; st < o.space.num_stages(); ++st)
    s.stage_choices[size_t(st)] = {within(p.kernels, o.space.kernels_of(st)), within(p.depths, o.space.depths_of(st))};
  s.resolution_choices = o.resolutions;
  s.width_choices = {o.width};
  return s;
}

nlohmann::json options_to_json(const TrainOptions& o) {
  nlohmann::json j;
  j["space"] = search_space::space_to_json(o.space);
  j["width"] = o.width;
  j["resolutions"] = o.resolutions;
  j["batch_size"] = o.batch_size;
  j["seed"] = o.seed;
  j["momentum"] = o.momentum;
  j["nesterov"] = o.nesterov;
  j["weight_decay"] = o.weight_decay;
  j["label_smoothing"] = o.label_smoothing;
  j["kd_weight"] = o.kd_weight;
  j["warmup_epochs"] = o.warmup_epochs;
  j["recalibration_images"] = o.recalibration_images;
  j["max_steps_per_epoch"] = o.max_steps_per_epoch;
  j["eval_batch_size"] = o.eval_batch_size;
  if (o.batch_parts != 1) j["batch_parts"] = o.batch_parts;  // absent = 1 (files written before it existed)
  if (!o.normalization.is_fixed())  // absent = fixed (files written before it existed)
    j["normalization"] = {{"mean", o.normalization.mean}, {"std", o.normalization.std}};
  j["data"] = o.data_description;
  j["phases"] = nlohmann::json::array();
  for (const auto& p : o.phases)
    j["phases"].push_back({{"name", p.name}, {"epochs", p.epochs}, {"lr", p.lr}, {"kernels", p.kernels},
                           {"expands", p.expands}, {"depths", p.depths}, {"subnets_per_step", p.subnets_per_step},
                           {"sandwich", p.sandwich}, {"reorder_channels", p.reorder_channels}});
  return j;
}

TrainOptions options_from_json(const nlohmann::json& j, const TrainOptions& absent) {
  TrainOptions o = absent;
  try {
    o.space = search_space::space_from_json(j.at("space"));
    j.at("width").get_to(o.width);
    j.at("resolutions").get_to(o.resolutions);
    j.at("batch_size").get_to(o.batch_size);
    j.at("seed").get_to(o.seed);
    j.at("momentum").get_to(o.momentum);
    j.at("nesterov").get_to(o.nesterov);
    j.at("weight_decay").get_to(o.weight_decay);
    j.at("label_smoothing").get_to(o.label_smoothing);
    j.at("kd_weight").get_to(o.kd_weight);
    j.at("warmup_epochs").get_to(o.warmup_epochs);
    j.at("recalibration_images").get_to(o.recalibration_images);
    j.at("max_steps_per_epoch").get_to(o.max_steps_per_epoch);
    // Keys that files written before they existed lack.
    o.eval_batch_size = j.value("eval_batch_size", absent.eval_batch_size);
    o.data_description = j.value("data", absent.data_description);
    o.batch_parts = j.value("batch_parts", 1);
    o.normalization = {};
    if (j.contains("normalization")) {
      j.at("normalization").at("mean").get_to(o.normalization.mean);
      j.at("normalization").at("std").get_to(o.normalization.std);
      data::check_normalization(o.normalization, o.space.in_channels, "training options");
    }
    o.phases.clear();
    for (const auto& jp : j.at("phases")) {
      PhaseOptions p;
      jp.at("name").get_to(p.name);
      jp.at("epochs").get_to(p.epochs);
      jp.at("lr").get_to(p.lr);
      jp.at("kernels").get_to(p.kernels);
      jp.at("expands").get_to(p.expands);
      jp.at("depths").get_to(p.depths);
      jp.at("subnets_per_step").get_to(p.subnets_per_step);
      jp.at("sandwich").get_to(p.sandwich);
      jp.at("reorder_channels").get_to(p.reorder_channels);
      o.phases.push_back(std::move(p));
    }
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(std::string("training options JSON is malformed: ") + e.what());
  }
  return o;
}

namespace {

// What every phase of a run reads: the options, the data, where to write, and what follows from them.
struct Run {
  Run(const TrainOptions& options, const data::Dataset& train_set, const data::Dataset& holdout_set,
      const TrainPaths& train_paths, const StepCallback& step_callback, int64_t steps)
      : o(options), train(train_set), holdout(holdout_set), paths(train_paths), on_step(step_callback),
        options_json(options_to_json(options)), steps_per_epoch(steps),
        rmin(*std::min_element(o.resolutions.begin(), o.resolutions.end())),
        rmax(*std::max_element(o.resolutions.begin(), o.resolutions.end())), cluster(dist::Cluster::world()),
        part_size(o.batch_size / o.batch_parts), data_parallel(o.batch_parts > 1 || cluster.size() > 1) {
    for (int k = cluster.rank(); k < o.batch_parts; k += cluster.size()) my_parts.push_back(k);
  }

  const TrainOptions& o;
  const data::Dataset& train;
  const data::Dataset& holdout;
  const TrainPaths& paths;
  const StepCallback& on_step;
  nlohmann::json options_json;  // what a checkpoint must match to be resumed
  int64_t steps_per_epoch = 0;
  int rmin = 0, rmax = 0;
  std::vector<int> calib;  // the BN recalibration subset of the epoch metrics
  const dist::Cluster& cluster;
  int64_t part_size = 0;
  std::vector<int> my_parts;  // the parts of every batch this rank runs
  bool data_parallel = false;
};

// What a run trains: the supernet, the current phase's optimizer and the progressive-shrinking teacher.
struct Model {
  explicit Model(OFASupernet supernet) : net(std::move(supernet)) {}

  OFASupernet net;
  StaticNet teacher{nullptr};
  std::unique_ptr<torch::optim::SGD> opt;
  StaticNet* teacher_or_null() { return teacher ? &teacher : nullptr; }
};

// A phase as its epochs run it: the options, the space it samples from and its schedule.
struct Phase {
  const PhaseOptions& p;
  search_space::SearchSpace ps;
  int64_t phase_steps = 0;
  int64_t warmup = 0;
};

// One epoch's running totals (continued from the checkpoint when resuming inside the epoch).
struct EpochTotals {
  Clock::time_point t0;
  int64_t first_step = 0;
  double loss_sum = 0;
  int64_t passes = 0;
  double seconds_before = 0;  // training time of the epoch before this process continued it
  double train_seconds = 0;   // training time of the whole epoch, set when its last step is done
  double allreduce_seconds = 0;
  int64_t allreduce_floats = 0;
  double lr = 0;  // of the last step
};

// The options and the training data against the space.
void check_options_and_data(const TrainOptions& o, const data::Dataset& train) {
  validate_options(o);
  if (train.num_classes() > o.space.num_classes)
    throw core::InputError("the data set '" + train.describe() + "' has " + std::to_string(train.num_classes()) +
                     " classes but the space's classifier has " + std::to_string(o.space.num_classes));
  if (train.channels() != o.space.in_channels)
    throw core::InputError("the data set '" + train.describe() + "' has " + std::to_string(train.channels()) +
                     " channels but the space expects " + std::to_string(o.space.in_channels));
  if (train.size() / o.batch_size == 0) throw core::InputError("the training set has fewer images than one batch");
}

Run start_run(const TrainOptions& o, const data::Dataset& train, const data::Dataset& holdout,
              const TrainPaths& paths, const StepCallback& on_step) {
  check_options_and_data(o, train);
  const int64_t full_steps = train.size() / o.batch_size;
  return Run(o, train, holdout, paths, on_step,
             o.max_steps_per_epoch > 0 ? std::min(full_steps, o.max_steps_per_epoch) : full_steps);
}

void make_optimizer(const TrainOptions& o, const PhaseOptions& p, Model& model) {
  model.opt = std::make_unique<torch::optim::SGD>(
      sgd_param_groups(*model.net, p.lr, o.momentum, o.nesterov, o.weight_decay), torch::optim::SGDOptions(p.lr));
}

void freeze(StaticNet& teacher) {
  teacher->eval();
  for (auto& t : teacher->parameters()) t.set_requires_grad(false);
}

// A checkpoint resumes under the options it was written with, or with more epochs in the last phase
// than it had (an extended run); InputError otherwise.
void check_resumable_options(const nlohmann::json& saved, const nlohmann::json& now, int saved_phase, const std::string& path) {
  if (saved.dump() == now.dump()) return;
  const auto last_phase_epochs = [](const nlohmann::json& options) -> int {
    const auto& phases = options.at("phases");
    return phases.empty() ? 0 : phases.back().at("epochs").get<int>();
  };
  nlohmann::json same_length = saved;
  if (!same_length.at("phases").empty()) same_length["phases"].back()["epochs"] = last_phase_epochs(now);
  if (same_length.dump() != now.dump())
    throw core::InputError("'" + path + "' was written with different training options; resume with the same config "
                           "(or more epochs in its last phase) or train into another --out directory");
  const int phases = int(now.at("phases").size());
  if (last_phase_epochs(now) < last_phase_epochs(saved) && saved_phase >= phases - 1)
    throw core::InputError("'" + path + "' was written for " + std::to_string(last_phase_epochs(saved)) +
                           " epochs in its last phase; a resumed run may add epochs, not remove them");
  spdlog::info("extending the run: the last phase now has {} epochs (was {}); the cosine schedule continues over the "
               "new length", last_phase_epochs(now), last_phase_epochs(saved));
}

// The checkpoint's state record; InputError when it is malformed or from other options.
nlohmann::json read_checkpoint_state(torch::serialize::InputArchive& archive, const std::string& path,
                                     const nlohmann::json& options_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_string(archive, "state", path));
    if (j.at("format") != "tinynas-train-checkpoint-1") throw core::InputError("unknown checkpoint format");
    check_resumable_options(j.at("options"), options_json, j.at("phase").get<int>(), path);
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError("'" + path + "' has a malformed state record: " + e.what());
  }
  return j;
}

TrainState state_from_json(const nlohmann::json& j) {
  TrainState st;
  st.phase = j.at("phase");
  st.epochs_done = j.at("epochs_done");
  st.global_step = j.at("global_step");
  st.step_in_epoch = j.value("step_in_epoch", int64_t(0));
  st.epoch_loss_sum = j.value("epoch_loss_sum", 0.0);
  st.epoch_passes = j.value("epoch_passes", int64_t(0));
  st.epoch_seconds = j.value("epoch_seconds", 0.0);
  st.has_teacher = j.at("has_teacher");
  for (const auto& m : j.at("history")) st.history.push_back(metrics_from_json(m));
  return st;
}

// The weights, optimizer, teacher and progress of the checkpoint in paths.dir.
TrainState resume_from_checkpoint(const Run& run, Model& model) {
  const TrainOptions& o = run.o;
  torch::serialize::InputArchive archive;
  load_archive(archive, run.paths.checkpoint());
  const nlohmann::json state = read_checkpoint_state(archive, run.paths.checkpoint(), run.options_json);
  TrainState st = state_from_json(state);
  // A finished run extended by more epochs goes back into its last phase, optimizer state and all.
  const int saved_last_epochs = state.at("options").at("phases").back().at("epochs").get<int>();
  if (st.phase == int(o.phases.size()) && o.phases.back().epochs > saved_last_epochs) {
    st.phase = int(o.phases.size()) - 1;
    st.epochs_done = saved_last_epochs;
  }
  torch::serialize::InputArchive net_archive, optimizer_archive;
  archive.read("model", net_archive);
  model.net->load(net_archive);
  if (st.phase < int(o.phases.size())) {
    make_optimizer(o, o.phases[size_t(st.phase)], model);
    archive.read("optimizer", optimizer_archive);
    load_momentum(*model.opt, optimizer_archive);
  }
  if (st.has_teacher) {
    model.teacher = model.net->extract(model.net->largest(run.rmax));
    torch::serialize::InputArchive teacher_archive;
    archive.read("teacher", teacher_archive);
    model.teacher->load(teacher_archive);
    freeze(model.teacher);
  }
  spdlog::info("resuming from '{}': phase {} ({}), {} epochs done, step {}", run.paths.checkpoint(), st.phase + 1,
               st.phase < int(o.phases.size()) ? o.phases[size_t(st.phase)].name : "done", st.epochs_done,
               st.global_step);
  return st;
}

// A phase's start (not when resuming inside its first epoch): the teacher, the channel re-ordering and
// a fresh optimizer.
void start_phase(const Run& run, const PhaseOptions& p, Model& model, TrainState& st) {
  const TrainOptions& o = run.o;
  // The teacher of progressive shrinking: the largest subnet as the first phase left it.
  if (st.phase > 0 && !st.has_teacher && o.kd_weight > 0 && !p.sandwich) {
    model.teacher = model.net->extract(model.net->largest(run.rmax));
    freeze(model.teacher);
    st.has_teacher = true;
    spdlog::info("phase {}: distilling from the largest subnet frozen at the end of phase {}", p.name,
                 o.phases.front().name);
  }
  if (p.reorder_channels) {
    model.net->reorder_middle_channels();
    spdlog::info("phase {}: middle channels re-ordered by importance", p.name);
  }
  make_optimizer(o, p, model);
}

// An epoch's data order and augmentation, which depend only on (seed, phase, epoch), and this rank's
// rows of each batch.
struct EpochBatches {
  const Run& run;
  std::vector<int> order;
  uint64_t aug_seed = 0;

  EpochBatches(const Run& r, const TrainState& st) : run(r), order(size_t(r.train.size())) {
    std::iota(order.begin(), order.end(), 0);
    const uint64_t epoch_key = uint64_t(st.phase) << 32 | uint64_t(st.epochs_done);
    core::Rng order_rng(core::derive_seed(run.o.seed, kDataOrder, epoch_key));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.below(uint32_t(i))]);
    aug_seed = core::derive_seed(run.o.seed, kAugment, epoch_key);
  }
  // This rank's rows of batch b: its parts, one after the other (all of the batch for one part).
  std::vector<int> indices(int64_t b) const {
    std::vector<int> idx;
    for (int k : run.my_parts) {
      const auto first = order.begin() + b * run.o.batch_size + int64_t(k) * run.part_size;
      idx.insert(idx.end(), first, first + run.part_size);
    }
    return idx;
  }
  torch::Tensor input(int64_t b) const { return load_input(run.train, indices(b), run.rmax, true, aug_seed); }
};

// One part's forward and backward passes of the step's subnets; the loss is scaled so that the parts'
// gradients sum to the mean over the step's subnets and parts. Returns the part's loss sum over its passes.
double run_part(const Run& run, Model& model, const PhaseOptions& p, const std::vector<Subnet>& subnets,
                const torch::Tensor& x, const torch::Tensor& y) {
  const TrainOptions& o = run.o;
  double part_loss = 0;
  torch::Tensor soft_targets;
  if (model.teacher && !p.sandwich) {
    torch::NoGradGuard no_grad;
    soft_targets = torch::softmax(model.teacher->forward(x), 1);
  }
  for (const auto& s : subnets) {
    model.net->set_active(s.arch);
    const auto logits = model.net->forward(resize_input(x, s.arch.r));
    auto loss = torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
    if (soft_targets.defined() && !s.teacher && o.kd_weight > 0)
      loss = loss + o.kd_weight * soft_cross_entropy(logits, soft_targets);
    if (s.teacher && o.kd_weight > 0) soft_targets = torch::softmax(logits.detach(), 1);
    (loss / double(subnets.size() * size_t(o.batch_parts))).backward();
    part_loss += loss.item<double>();
  }
  return part_loss;
}

// This rank's parts of a data-parallel step, each from the same BN running statistics: the parameters
// with a gradient (in a fixed order), the BN buffers, and one buffer with the sums over the parts of the
// gradients and the floating BN statistics, then 3 slots for the loss, the pass count and the stop flag,
// so that a single MPI_Allreduce carries the whole step.
struct LocalParts {
  std::vector<torch::Tensor> grads;
  std::vector<torch::Tensor> buffers;
  torch::Tensor fused;
  double loss = 0;
};

LocalParts run_local_parts(const Run& run, Model& model, const PhaseOptions& p, const std::vector<Subnet>& subnets,
                           const torch::Tensor& x_mine, const torch::Tensor& y_mine) {
  LocalParts l;
  std::vector<torch::Tensor> start;
  for (auto& t : model.net->buffers()) l.buffers.push_back(t);
  if (run.my_parts.size() > 1)
    for (auto& t : l.buffers) start.push_back(t.clone());
  for (size_t j = 0; j < run.my_parts.size(); ++j) {
    if (j > 0) {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < l.buffers.size(); ++i) l.buffers[i].copy_(start[i]);
      for (auto& prm : l.grads) prm.mutable_grad().zero_();
    }
    l.loss += run_part(run, model, p, subnets, x_mine.narrow(0, int64_t(j) * run.part_size, run.part_size),
                       y_mine.narrow(0, int64_t(j) * run.part_size, run.part_size));
    if (j == 0)
      for (auto& prm : model.net->parameters())
        if (prm.grad().defined()) l.grads.push_back(prm);
    std::vector<torch::Tensor> pieces;
    for (auto& prm : l.grads) pieces.push_back(prm.grad().reshape({-1}));
    for (auto& t : l.buffers)
      if (t.is_floating_point()) pieces.push_back(t.reshape({-1}).to(torch::kFloat));
    pieces.push_back(torch::zeros({3}));
    torch::Tensor flat = torch::cat(pieces);
    l.fused = j == 0 ? flat : l.fused.add_(flat);
  }
  return l;
}

struct StepTotals {
  double loss = 0;
  int64_t passes = 0;
  bool stop = false;  // a stop signal on any rank
};

// The data-parallel step: sums every rank's parts, then sets the gradients to the sums and the BN
// statistics to the means over the parts.
StepTotals data_parallel_step(const Run& run, Model& model, const PhaseOptions& p, const std::vector<Subnet>& subnets,
                              const torch::Tensor& x_mine, const torch::Tensor& y_mine, EpochTotals& e) {
  LocalParts l = run_local_parts(run, model, p, subnets, x_mine, y_mine);
  const int64_t n = l.fused.numel();
  float* tail = l.fused.data_ptr<float>() + n - 3;
  tail[0] = float(l.loss);
  tail[1] = float(run.my_parts.size() * subnets.size());
  tail[2] = core::stop_requested() ? 1.0f : 0.0f;
  const auto reduce_start = Clock::now();
  run.cluster.allreduce_sum(l.fused.data_ptr<float>(), size_t(n));
  e.allreduce_seconds += std::chrono::duration<double>(Clock::now() - reduce_start).count();
  e.allreduce_floats = n;
  torch::NoGradGuard no_grad;
  int64_t at = 0;
  for (auto& prm : l.grads) {
    const int64_t k = prm.numel();
    prm.mutable_grad().copy_(l.fused.narrow(0, at, k).view_as(prm));
    at += k;
  }
  for (auto& t : l.buffers)
    if (t.is_floating_point()) {
      const int64_t k = t.numel();
      t.copy_(l.fused.narrow(0, at, k).view_as(t) / double(run.o.batch_parts));
      at += k;
    }
  return {double(tail[0]), int64_t(tail[1] + 0.5f), tail[2] > 0};
}

// Preempted: a checkpoint of this very point (next_step is the first step a resume runs), then Interrupted.
[[noreturn]] void stop_inside_epoch(const Run& run, Model& model, const TrainState& st, const EpochTotals& e,
                                    int64_t next_step, double seconds) {
  TrainState saved_state = st;
  saved_state.step_in_epoch = next_step;
  saved_state.epoch_loss_sum = e.loss_sum;
  saved_state.epoch_passes = e.passes;
  saved_state.epoch_seconds = seconds;
  if (run.cluster.is_root())
    save_checkpoint(run.paths, run.options_json, saved_state, model.net, *model.opt, model.teacher_or_null());
  run.cluster.barrier();
  throw core::Interrupted(stop_reason() + " at step " + std::to_string(next_step) + "/" +
                          std::to_string(run.steps_per_epoch) + " of epoch " + std::to_string(st.history.size() + 1) +
                          ": checkpoint written to " + run.paths.checkpoint() + "; the same command with --resume "
                          "continues from there");
}

// The epoch's training steps, from st.step_in_epoch on.
EpochTotals train_epoch(const Run& run, Model& model, TrainState& st, const Phase& phase) {
  const TrainOptions& o = run.o;
  const PhaseOptions& p = phase.p;
  EpochTotals e;
  e.t0 = Clock::now();
  model.net->train();
  const EpochBatches batches(run, st);
  const auto load = [&batches](int64_t b) { return batches.input(b); };
  e.first_step = st.step_in_epoch;
  std::future<torch::Tensor> next = std::async(std::launch::async, load, e.first_step);
  e.loss_sum = st.epoch_loss_sum;
  e.passes = st.epoch_passes;
  e.seconds_before = st.epoch_seconds;
  const int64_t phase_step0 = int64_t(st.epochs_done) * run.steps_per_epoch;
  if (run.on_step) run.on_step({true, e.first_step, run.steps_per_epoch, 0.0, 0.0});
  e.lr = p.lr;
  for (int64_t b = e.first_step; b < run.steps_per_epoch; ++b) {
    torch::Tensor x_mine = next.get();
    if (b + 1 < run.steps_per_epoch) next = std::async(std::launch::async, load, b + 1);
    const torch::Tensor y_mine = labels_of(run.train, batches.indices(b));
    e.lr = cosine_lr(p.lr, phase_step0 + b, phase.phase_steps, phase.warmup);
    set_lr(*model.opt, e.lr);
    model.opt->zero_grad();
    const auto subnets = sample_subnets(o, p, phase.ps, uint64_t(st.global_step));
    bool stop = false;
    if (!run.data_parallel) {
      e.loss_sum += run_part(run, model, p, subnets, x_mine, y_mine);
      e.passes += int64_t(subnets.size());
      stop = core::stop_requested();
    } else {
      const StepTotals step = data_parallel_step(run, model, p, subnets, x_mine, y_mine, e);
      e.loss_sum += step.loss;
      e.passes += step.passes;
      stop = step.stop;
    }
    model.opt->step();
    ++st.global_step;
    const double secs = e.seconds_before + std::chrono::duration<double>(Clock::now() - e.t0).count();
    if (run.on_step)
      run.on_step({false, b + 1, run.steps_per_epoch, e.loss_sum / double(std::max<int64_t>(e.passes, 1)),
                   double((b + 1 - e.first_step) * o.batch_size) / std::max(1e-9, secs - e.seconds_before)});
    if (stop && b + 1 < run.steps_per_epoch) stop_inside_epoch(run, model, st, e, b + 1, secs);
  }
  next = {};
  e.train_seconds = e.seconds_before + std::chrono::duration<double>(Clock::now() - e.t0).count();
  return e;
}

// Holdout top-1 (largest, smallest) of the phase's extreme subnets after BN recalibration; the training
// BN statistics are restored afterwards so that evaluation does not change the training trajectory.
// With several ranks, each measures its share of the two.
std::pair<double, double> holdout_extremes(const Run& run, OFASupernet& net, const search_space::SearchSpace& ps) {
  const TrainOptions& o = run.o;
  torch::NoGradGuard no_grad;
  // Restored however the function exits.
  struct RestoreBuffers {
    OFASupernet& net;
    std::vector<torch::Tensor> saved;
    ~RestoreBuffers() {
      torch::NoGradGuard no_grad;
      size_t i = 0;
      for (auto& b : net->buffers()) b.copy_(saved[i++]);
    }
  } restore{net, {}};
  for (const auto& b : net->buffers()) restore.saved.push_back(b.clone());
  const std::vector<search_space::ArchSpec> extremes = {ps.largest(o.width, run.rmax), ps.smallest(o.width, run.rmin)};
  const auto top1 = dist::map_items(run.cluster, extremes.size(), [&](size_t i) {
    const search_space::ArchSpec& a = extremes[i];
    net->set_active(a);
    recalibrate_bn(net, run.train, run.calib, a.r, o.eval_batch_size);
    const double v =
        evaluate([&](const torch::Tensor& x) { return net->forward(x); }, run.holdout, a.r, o.eval_batch_size).top1();
    return nlohmann::json(v).dump();
  });
  return {nlohmann::json::parse(top1[0]).get<double>(), nlohmann::json::parse(top1[1]).get<double>()};
}

void log_epoch(const Run& run, const PhaseOptions& p, const EpochMetrics& m, const EpochTotals& e) {
  if (run.cluster.size() > 1)
    spdlog::info("epoch {}: gradient allreduce {:.1f} % of the training time ({:.2f} ms per step, {} floats)",
                 m.global_epoch, 100.0 * e.allreduce_seconds / std::max(1e-9, e.train_seconds - e.seconds_before),
                 1e3 * e.allreduce_seconds / double(std::max<int64_t>(1, run.steps_per_epoch - e.first_step)),
                 e.allreduce_floats);
  spdlog::info("epoch {} ({} {}/{}): loss {:.4f}, lr {:.5f}, {:.0f} img/s, holdout top-1 largest {:.2f} % "
               "smallest {:.2f} %, {:.0f} s",
               m.global_epoch, p.name, m.epoch, p.epochs, m.train_loss, m.lr, m.images_per_s, m.holdout_largest,
               m.holdout_smallest, m.seconds);
}

// The epoch's metrics, its checkpoint (of the state after it) and metrics.csv; Interrupted when a stop
// signal came during the epoch and more epochs remain.
void finish_epoch(const Run& run, Model& model, TrainState& st, const Phase& phase, const EpochTotals& e) {
  const TrainOptions& o = run.o;
  const PhaseOptions& p = phase.p;
  st.step_in_epoch = 0;
  st.epoch_loss_sum = 0;
  st.epoch_passes = 0;
  st.epoch_seconds = 0;
  EpochMetrics m;
  m.phase = p.name;
  m.epoch = st.epochs_done + 1;
  m.global_epoch = int(st.history.size()) + 1;
  m.train_loss = e.loss_sum / double(std::max<int64_t>(e.passes, 1));
  m.lr = e.lr;
  m.images_per_s = double((run.steps_per_epoch - e.first_step) * o.batch_size) /
                   std::max(1e-9, e.train_seconds - e.seconds_before);
  m.allreduce_seconds = e.allreduce_seconds;
  m.allreduce_floats = e.allreduce_floats;
  std::tie(m.holdout_largest, m.holdout_smallest) = holdout_extremes(run, model.net, phase.ps);
  m.seconds = std::chrono::duration<double>(Clock::now() - e.t0).count() + e.seconds_before;
  st.history.push_back(m);
  log_epoch(run, p, m, e);
  TrainState saved_state = st;
  ++saved_state.epochs_done;
  if (saved_state.epochs_done == p.epochs) {  // the next phase starts fresh (teacher, reorder, optimizer)
    ++saved_state.phase;
    saved_state.epochs_done = 0;
  }
  if (run.cluster.is_root()) {
    save_checkpoint(run.paths, run.options_json, saved_state, model.net, *model.opt, model.teacher_or_null());
    write_metrics_csv(run.paths.metrics(), st.history);
  }
  const bool last = st.phase + 1 == int(o.phases.size()) && st.epochs_done + 1 == p.epochs;
  if (!last && run.cluster.any(core::stop_requested())) {
    run.cluster.barrier();
    throw core::Interrupted(stop_reason() + " after epoch " + std::to_string(st.history.size()) +
                            ": checkpoint written to " + run.paths.checkpoint() +
                            "; the same command with --resume continues from there");
  }
}

// The rest of phase st.phase, from where st says it stands.
void train_phase(const Run& run, Model& model, TrainState& st) {
  const TrainOptions& o = run.o;
  const PhaseOptions& p = o.phases[size_t(st.phase)];
  const Phase phase{p, phase_space(o, p), int64_t(p.epochs) * run.steps_per_epoch,
                    st.phase == 0 ? int64_t(o.warmup_epochs) * run.steps_per_epoch : 0};
  if (st.epochs_done == 0 && st.step_in_epoch == 0) start_phase(run, p, model, st);
  spdlog::info("phase {}/{} '{}': {} epochs x {} steps, lr {}, {} subnet(s) per step{}", st.phase + 1,
               o.phases.size(), p.name, p.epochs, run.steps_per_epoch, p.lr, p.subnets_per_step,
               p.sandwich ? " (sandwich)" : "");
  for (; st.epochs_done < p.epochs; ++st.epochs_done) {
    const EpochTotals e = train_epoch(run, model, st, phase);
    finish_epoch(run, model, st, phase, e);
  }
}

void save_final(const Run& run, Model& model, const TrainState& st) {
  model.net->eval();
  if (run.cluster.is_root()) {
    save_supernet(run.paths.supernet(), model.net, run.o.resolutions, &run.o);
    write_metrics_csv(run.paths.metrics(), st.history);
  }
  run.cluster.barrier();
}

}  // namespace

void check_training_start(const TrainOptions& o, const data::Dataset& train, const TrainPaths& paths, bool resume) {
  check_options_and_data(o, train);
  if (!resume || !core::exists(paths.checkpoint())) return;
  torch::serialize::InputArchive archive;
  load_archive(archive, paths.checkpoint());
  read_checkpoint_state(archive, paths.checkpoint(), options_to_json(o));
}

std::vector<EpochMetrics> train_supernet(const TrainOptions& o, const data::Dataset& train,
                                         const data::Dataset& holdout, const TrainPaths& paths, bool resume,
                                         const StepCallback& on_step) {
  Run run = start_run(o, train, holdout, paths, on_step);
  std::filesystem::create_directories(paths.dir);
  torch::manual_seed(int64_t(o.seed));
  Model model(OFASupernet(o.space, o.width));
  model.net->normalization = o.normalization;
  TrainState st;
  if (resume && core::exists(paths.checkpoint())) {
    st = resume_from_checkpoint(run, model);
  } else if (resume) {
    spdlog::warn("--resume: no checkpoint in '{}', starting from scratch", paths.dir);
  }
  run.calib = calibration_indices(train, o.recalibration_images, calibration_seed(o.seed));
  if (run.cluster.size() > 1)
    spdlog::info("data-parallel training on {} ranks: {} parts of {} images per step, {} on this rank",
                 run.cluster.size(), o.batch_parts, run.part_size, run.my_parts.size());
  for (; st.phase < int(o.phases.size()); ++st.phase, st.epochs_done = 0) train_phase(run, model, st);
  save_final(run, model, st);
  return st.history;
}

}  // namespace tinynas::supernet
