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

// The space a phase samples from: the supernet's space with the phase's elastic sets, each defaulting
// to its largest choice.
search_space::SearchSpace phase_space(const TrainOptions& o, const PhaseOptions& p) {
  search_space::SearchSpace s = o.space;
  auto pick = [](const std::vector<int>& phase_set, const std::vector<int>& all) {
    return phase_set.empty() ? std::vector<int>{*std::max_element(all.begin(), all.end())} : phase_set;
  };
  s.kernel_choices = pick(p.kernels, o.space.kernel_choices);
  s.expand_choices = pick(p.expands, o.space.expand_choices);
  s.depth_choices = pick(p.depths, o.space.depth_choices);
  s.resolution_choices = o.resolutions;
  s.width_choices = {o.width};
  return s;
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
  if (o.resolutions.empty()) throw core::InputError("the supernet needs at least one training resolution");
  for (int r : o.resolutions)
    if (std::find(o.space.resolution_choices.begin(), o.space.resolution_choices.end(), r) ==
        o.space.resolution_choices.end())
      throw core::InputError("training resolution " + std::to_string(r) + " is not one of the space's resolutions");
  for (const auto& p : o.phases) {
    if (p.epochs <= 0) throw core::InputError("phase '" + p.name + "': epochs must be positive");
    if (p.lr <= 0) throw core::InputError("phase '" + p.name + "': lr must be positive");
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

// SGD's state by parameter position (group by group): the momentum buffers, and which parameters have
// a gradient tensor. LibTorch's SGD skips a parameter whose gradient is undefined but keeps applying
// momentum to one whose gradient was zeroed (a parameter no subnet of the step used), so a resumed run
// must restore both to continue exactly.
std::string state_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

torch::serialize::OutputArchive momentum_archive(torch::optim::SGD& opt) {
  torch::serialize::OutputArchive out;
  int64_t i = 0;
  std::vector<uint8_t> has_grad;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      has_grad.push_back(p.grad().defined());
      const auto it = opt.state().find(state_key(p));
      if (it != opt.state().end())
        out.write(std::to_string(i), static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer());
      ++i;
    }
  out.write("has_grad", torch::tensor(std::vector<int64_t>(has_grad.begin(), has_grad.end()), torch::kInt64));
  return out;
}

void load_momentum(torch::optim::SGD& opt, torch::serialize::InputArchive& in) {
  torch::Tensor has_grad;
  in.read("has_grad", has_grad);
  int64_t i = 0;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      torch::Tensor buf;
      if (in.try_read(std::to_string(i), buf)) {
        if (!buf.sizes().equals(p.sizes())) throw core::InputError("checkpoint momentum does not match the parameters");
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(buf);
        opt.state()[state_key(p)] = std::move(state);
      }
      if (i < has_grad.numel() && has_grad[i].item<int64_t>()) p.mutable_grad() = torch::zeros_like(p);
      ++i;
    }
}

void save_checkpoint(const TrainPaths& paths, const std::string& options_json, const TrainState& st, OFASupernet& net,
                     torch::optim::SGD& opt, StaticNet* teacher) {
  nlohmann::json j;
  j["format"] = "tinynas-train-checkpoint-1";
  j["options"] = nlohmann::json::parse(options_json);
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

std::string fingerprint(const std::string& options_json) {
  auto j = nlohmann::json::parse(options_json);
  return j.dump();
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

std::string options_to_json(const TrainOptions& o) {
  nlohmann::ordered_json j;
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
  j["data"] = o.data_description;
  j["phases"] = nlohmann::json::array();
  for (const auto& p : o.phases)
    j["phases"].push_back({{"name", p.name}, {"epochs", p.epochs}, {"lr", p.lr}, {"kernels", p.kernels},
                           {"expands", p.expands}, {"depths", p.depths}, {"subnets_per_step", p.subnets_per_step},
                           {"sandwich", p.sandwich}, {"reorder_channels", p.reorder_channels}});
  return j.dump();
}

std::vector<EpochMetrics> train_supernet(const TrainOptions& o, const data::Dataset& train,
                                         const data::Dataset& holdout, const TrainPaths& paths, bool resume,
                                         const StepCallback& on_step) {
  validate_options(o);
  if (train.num_classes() > o.space.num_classes)
    throw core::InputError("the data set '" + train.describe() + "' has " + std::to_string(train.num_classes()) +
                     " classes but the space's classifier has " + std::to_string(o.space.num_classes));
  if (train.channels() != o.space.in_channels)
    throw core::InputError("the data set '" + train.describe() + "' has " + std::to_string(train.channels()) +
                     " channels but the space expects " + std::to_string(o.space.in_channels));
  const int64_t full_steps = train.size() / o.batch_size;
  if (full_steps == 0) throw core::InputError("the training set has fewer images than one batch");
  const int64_t steps_per_epoch = o.max_steps_per_epoch > 0 ? std::min(full_steps, o.max_steps_per_epoch) : full_steps;
  const std::string options_json = options_to_json(o);
  std::filesystem::create_directories(paths.dir);

  torch::manual_seed(int64_t(o.seed));
  OFASupernet net(o.space, o.width);
  TrainState st;
  StaticNet teacher{nullptr};
  std::unique_ptr<torch::optim::SGD> opt;
  auto make_optimizer = [&](const PhaseOptions& p) {
    opt = std::make_unique<torch::optim::SGD>(sgd_param_groups(*net, p.lr, o.momentum, o.nesterov, o.weight_decay),
                                              torch::optim::SGDOptions(p.lr));
  };
  const int rmin = *std::min_element(o.resolutions.begin(), o.resolutions.end());
  const int rmax = *std::max_element(o.resolutions.begin(), o.resolutions.end());

  if (resume && std::filesystem::exists(paths.checkpoint())) {
    torch::serialize::InputArchive archive;
    load_archive(archive, paths.checkpoint());
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_string(archive, "state", paths.checkpoint()));
      if (j.at("format") != "tinynas-train-checkpoint-1") throw core::InputError("unknown checkpoint format");
    } catch (const nlohmann::json::exception& e) {
      throw core::InputError("'" + paths.checkpoint() + "' has a malformed state record: " + e.what());
    }
    if (j.at("options").dump() != fingerprint(options_json))
      throw core::InputError("'" + paths.checkpoint() + "' was written with different training options; resume with the "
                       "same config or train into another --out directory");
    st.phase = j.at("phase");
    st.epochs_done = j.at("epochs_done");
    st.global_step = j.at("global_step");
    st.step_in_epoch = j.value("step_in_epoch", int64_t(0));
    st.epoch_loss_sum = j.value("epoch_loss_sum", 0.0);
    st.epoch_passes = j.value("epoch_passes", int64_t(0));
    st.epoch_seconds = j.value("epoch_seconds", 0.0);
    st.has_teacher = j.at("has_teacher");
    for (const auto& m : j.at("history")) st.history.push_back(metrics_from_json(m));
    torch::serialize::InputArchive model, optim;
    archive.read("model", model);
    net->load(model);
    if (st.phase < int(o.phases.size())) {
      make_optimizer(o.phases[size_t(st.phase)]);
      archive.read("optimizer", optim);
      load_momentum(*opt, optim);
    }
    if (st.has_teacher) {
      teacher = net->extract(net->largest(rmax));
      torch::serialize::InputArchive t;
      archive.read("teacher", t);
      teacher->load(t);
      teacher->eval();
      for (auto& p : teacher->parameters()) p.set_requires_grad(false);
    }
    spdlog::info("resuming from '{}': phase {} ({}), {} epochs done, step {}", paths.checkpoint(), st.phase + 1,
                 st.phase < int(o.phases.size()) ? o.phases[size_t(st.phase)].name : "done", st.epochs_done,
                 st.global_step);
  } else if (resume) {
    spdlog::warn("--resume: no checkpoint in '{}', starting from scratch", paths.dir);
  }

  const auto calib = calibration_indices(train, o.recalibration_images, calibration_seed(o.seed));
  const dist::Cluster& cluster = dist::Cluster::world();
  const int64_t part_size = o.batch_size / o.batch_parts;
  std::vector<int> my_parts;  // the parts of every batch this rank runs
  for (int k = cluster.rank(); k < o.batch_parts; k += cluster.size()) my_parts.push_back(k);
  const bool data_parallel = o.batch_parts > 1 || cluster.size() > 1;
  if (cluster.size() > 1)
    spdlog::info("data-parallel training on {} ranks: {} parts of {} images per step, {} on this rank",
                 cluster.size(), o.batch_parts, part_size, my_parts.size());
  int global_epoch = int(st.history.size());
  for (; st.phase < int(o.phases.size()); ++st.phase, st.epochs_done = 0) {
    const PhaseOptions& p = o.phases[size_t(st.phase)];
    const search_space::SearchSpace ps = phase_space(o, p);
    if (st.epochs_done == 0 && st.step_in_epoch == 0) {  // not when resuming inside its first epoch
      // The teacher of progressive shrinking: the largest subnet as the first phase left it.
      if (st.phase > 0 && !st.has_teacher && o.kd_weight > 0 && !p.sandwich) {
        teacher = net->extract(net->largest(rmax));
        teacher->eval();
        for (auto& t : teacher->parameters()) t.set_requires_grad(false);
        st.has_teacher = true;
        spdlog::info("phase {}: distilling from the largest subnet frozen at the end of phase {}", p.name,
                     o.phases.front().name);
      }
      if (p.reorder_channels) {
        net->reorder_middle_channels();
        spdlog::info("phase {}: middle channels re-ordered by importance", p.name);
      }
      make_optimizer(p);
    }
    const int64_t phase_steps = int64_t(p.epochs) * steps_per_epoch;
    const int64_t warmup = st.phase == 0 ? int64_t(o.warmup_epochs) * steps_per_epoch : 0;
    spdlog::info("phase {}/{} '{}': {} epochs x {} steps, lr {}, {} subnet(s) per step{}", st.phase + 1,
                 o.phases.size(), p.name, p.epochs, steps_per_epoch, p.lr, p.subnets_per_step,
                 p.sandwich ? " (sandwich)" : "");

    for (; st.epochs_done < p.epochs; ++st.epochs_done) {
      const auto t0 = Clock::now();
      net->train();
      // The epoch's data order and augmentation depend only on (seed, phase, epoch).
      std::vector<int> order(size_t(train.size()));
      std::iota(order.begin(), order.end(), 0);
      core::Rng order_rng(core::derive_seed(o.seed, kDataOrder, uint64_t(st.phase) << 32 | uint64_t(st.epochs_done)));
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.below(uint32_t(i))]);
      const uint64_t aug_seed = core::derive_seed(o.seed, kAugment, uint64_t(st.phase) << 32 | uint64_t(st.epochs_done));
      // This rank's rows of batch b: its parts, one after the other (all of the batch for one part).
      auto batch_indices = [&](int64_t b) {
        std::vector<int> idx;
        for (int k : my_parts) {
          const auto first = order.begin() + b * o.batch_size + int64_t(k) * part_size;
          idx.insert(idx.end(), first, first + part_size);
        }
        return idx;
      };
      auto load = [&](int64_t b) { return load_input(train, batch_indices(b), rmax, true, aug_seed); };
      const int64_t first_step = st.step_in_epoch;
      std::future<torch::Tensor> next = std::async(std::launch::async, load, first_step);
      double loss_sum = st.epoch_loss_sum;
      int64_t passes = st.epoch_passes;
      const double seconds_before = st.epoch_seconds;
      double allreduce_seconds = 0;
      int64_t allreduce_floats = 0;
      const int64_t phase_step0 = int64_t(st.epochs_done) * steps_per_epoch;
      if (on_step) on_step(0, steps_per_epoch, 0.0, 0.0);
      double lr = p.lr;
      for (int64_t b = first_step; b < steps_per_epoch; ++b) {
        torch::Tensor x_mine = next.get();
        if (b + 1 < steps_per_epoch) next = std::async(std::launch::async, load, b + 1);
        const torch::Tensor y_mine = labels_of(train, batch_indices(b));
        lr = cosine_lr(p.lr, phase_step0 + b, phase_steps, warmup);
        set_lr(*opt, lr);
        opt->zero_grad();
        const auto subnets = sample_subnets(o, p, ps, uint64_t(st.global_step));
        // One part's forward and backward passes; the loss is scaled so that the parts' gradients sum
        // to the mean over the step's subnets and parts. Returns the part's loss sum over its passes.
        const auto run_part = [&](const torch::Tensor& x, const torch::Tensor& y) {
          double part_loss = 0;
          torch::Tensor soft_targets;
          if (teacher && !p.sandwich) {
            torch::NoGradGuard no_grad;
            soft_targets = torch::softmax(teacher->forward(x), 1);
          }
          for (const auto& s : subnets) {
            net->set_active(s.arch);
            const auto logits = net->forward(resize_input(x, s.arch.r));
            auto loss = torch::nn::functional::cross_entropy(
                logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
            if (soft_targets.defined() && !s.teacher && o.kd_weight > 0)
              loss = loss + o.kd_weight * soft_cross_entropy(logits, soft_targets);
            if (s.teacher && o.kd_weight > 0) soft_targets = torch::softmax(logits.detach(), 1);
            (loss / double(subnets.size() * size_t(o.batch_parts))).backward();
            part_loss += loss.item<double>();
          }
          return part_loss;
        };
        bool stop = false;
        if (!data_parallel) {
          loss_sum += run_part(x_mine, y_mine);
          passes += int64_t(subnets.size());
          stop = core::stop_requested();
        } else {
          // Every part starts from the same BN running statistics; their results are averaged below.
          std::vector<torch::Tensor> buffers, start;
          for (auto& t : net->buffers()) buffers.push_back(t);
          if (my_parts.size() > 1)
            for (auto& t : buffers) start.push_back(t.clone());
          std::vector<torch::Tensor> grads;  // the parameters with a gradient, in a fixed order
          torch::Tensor fused;
          double local_loss = 0;
          for (size_t j = 0; j < my_parts.size(); ++j) {
            if (j > 0) {
              torch::NoGradGuard no_grad;
              for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(start[i]);
              for (auto& prm : grads) prm.mutable_grad().zero_();
            }
            local_loss += run_part(x_mine.narrow(0, int64_t(j) * part_size, part_size),
                                   y_mine.narrow(0, int64_t(j) * part_size, part_size));
            if (j == 0)
              for (auto& prm : net->parameters())
                if (prm.grad().defined()) grads.push_back(prm);
            // One buffer per step: gradients, floating BN statistics, then the loss, the pass count and
            // the stop flag, so a single MPI_Allreduce carries the whole step.
            std::vector<torch::Tensor> pieces;
            for (auto& prm : grads) pieces.push_back(prm.grad().reshape({-1}));
            for (auto& t : buffers)
              if (t.is_floating_point()) pieces.push_back(t.reshape({-1}).to(torch::kFloat));
            pieces.push_back(torch::zeros({3}));
            torch::Tensor flat = torch::cat(pieces);
            fused = j == 0 ? flat : fused.add_(flat);
          }
          const int64_t n = fused.numel();
          float* tail = fused.data_ptr<float>() + n - 3;
          tail[0] = float(local_loss);
          tail[1] = float(my_parts.size() * subnets.size());
          tail[2] = core::stop_requested() ? 1.0f : 0.0f;
          const auto reduce_start = Clock::now();
          cluster.allreduce_sum(fused.data_ptr<float>(), size_t(n));
          allreduce_seconds += std::chrono::duration<double>(Clock::now() - reduce_start).count();
          allreduce_floats = n;
          torch::NoGradGuard no_grad;
          int64_t at = 0;
          for (auto& prm : grads) {
            const int64_t k = prm.numel();
            prm.mutable_grad().copy_(fused.narrow(0, at, k).view_as(prm));
            at += k;
          }
          for (auto& t : buffers)
            if (t.is_floating_point()) {
              const int64_t k = t.numel();
              t.copy_(fused.narrow(0, at, k).view_as(t) / double(o.batch_parts));
              at += k;
            }
          loss_sum += double(tail[0]);
          passes += int64_t(tail[1] + 0.5f);
          stop = tail[2] > 0;
        }
        opt->step();
        ++st.global_step;
        const double secs = seconds_before + std::chrono::duration<double>(Clock::now() - t0).count();
        if (on_step)
          on_step(b + 1, steps_per_epoch, loss_sum / double(std::max<int64_t>(passes, 1)),
                  double((b + 1 - first_step) * o.batch_size) / std::max(1e-9, secs - seconds_before));
        if (stop && b + 1 < steps_per_epoch) {
          // Preempted: a checkpoint of this very point (the next step is the first one a resume runs).
          TrainState saved_state = st;
          saved_state.step_in_epoch = b + 1;
          saved_state.epoch_loss_sum = loss_sum;
          saved_state.epoch_passes = passes;
          saved_state.epoch_seconds = secs;
          if (cluster.is_root())
            save_checkpoint(paths, options_json, saved_state, net, *opt, teacher ? &teacher : nullptr);
          cluster.barrier();
          throw core::Interrupted(stop_reason() + " at step " + std::to_string(b + 1) + "/" +
                            std::to_string(steps_per_epoch) + " of epoch " + std::to_string(global_epoch + 1) +
                            ": checkpoint written to " + paths.checkpoint() + "; the same command with --resume "
                            "continues from there");
        }
      }
      next = {};
      const double train_secs = seconds_before + std::chrono::duration<double>(Clock::now() - t0).count();
      st.step_in_epoch = 0;
      st.epoch_loss_sum = 0;
      st.epoch_passes = 0;
      st.epoch_seconds = 0;

      EpochMetrics m;
      m.phase = p.name;
      m.epoch = st.epochs_done + 1;
      m.global_epoch = ++global_epoch;
      m.train_loss = loss_sum / double(std::max<int64_t>(passes, 1));
      m.lr = lr;
      m.images_per_s = double((steps_per_epoch - first_step) * o.batch_size) /
                       std::max(1e-9, train_secs - seconds_before);
      m.allreduce_seconds = allreduce_seconds;
      m.allreduce_floats = allreduce_floats;
      // Holdout accuracy of the extremes after BN recalibration; the training BN statistics are restored
      // afterwards so that evaluation does not change the training trajectory. With several ranks, each
      // measures its share of the two.
      {
        torch::NoGradGuard no_grad;
        // Restored however the block exits.
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
        const std::vector<search_space::ArchSpec> extremes = {ps.largest(o.width, rmax), ps.smallest(o.width, rmin)};
        const auto top1 = dist::map_items(cluster, extremes.size(), [&](size_t i) {
          const search_space::ArchSpec& a = extremes[i];
          net->set_active(a);
          recalibrate_bn(net, train, calib, a.r, o.eval_batch_size);
          const double v =
              evaluate([&](const torch::Tensor& x) { return net->forward(x); }, holdout, a.r, o.eval_batch_size).top1();
          return nlohmann::json(v).dump();
        });
        m.holdout_largest = nlohmann::json::parse(top1[0]).get<double>();
        m.holdout_smallest = nlohmann::json::parse(top1[1]).get<double>();
      }
      m.seconds = std::chrono::duration<double>(Clock::now() - t0).count() + seconds_before;
      st.history.push_back(m);
      if (cluster.size() > 1)
        spdlog::info("epoch {}: gradient allreduce {:.1f} % of the training time ({:.2f} ms per step, {} floats)",
                     m.global_epoch, 100.0 * allreduce_seconds / std::max(1e-9, train_secs - seconds_before),
                     1e3 * allreduce_seconds / double(std::max<int64_t>(1, steps_per_epoch - first_step)),
                     allreduce_floats);
      spdlog::info("epoch {} ({} {}/{}): loss {:.4f}, lr {:.5f}, {:.0f} img/s, holdout top-1 largest {:.2f} % "
                   "smallest {:.2f} %, {:.0f} s",
                   m.global_epoch, p.name, m.epoch, p.epochs, m.train_loss, m.lr, m.images_per_s, m.holdout_largest,
                   m.holdout_smallest, m.seconds);
      TrainState saved_state = st;
      ++saved_state.epochs_done;
      if (saved_state.epochs_done == p.epochs) {  // the next phase starts fresh (teacher, reorder, optimizer)
        ++saved_state.phase;
        saved_state.epochs_done = 0;
      }
      if (cluster.is_root()) {
        save_checkpoint(paths, options_json, saved_state, net, *opt, teacher ? &teacher : nullptr);
        write_metrics_csv(paths.metrics(), st.history);
      }
      const bool last = st.phase + 1 == int(o.phases.size()) && st.epochs_done + 1 == p.epochs;
      if (!last && cluster.any(core::stop_requested())) {
        cluster.barrier();
        throw core::Interrupted(stop_reason() + " after epoch " + std::to_string(global_epoch) + ": checkpoint written to " +
                          paths.checkpoint() + "; the same command with --resume continues from there");
      }
    }
  }
  net->eval();
  if (cluster.is_root()) {
    save_supernet(paths.supernet(), net, o.resolutions, options_json);
    write_metrics_csv(paths.metrics(), st.history);
  }
  cluster.barrier();
  return st.history;
}

}  // namespace tinynas::supernet
