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

#include "tinynas/search_space/errors.h"
#include "tinynas/search_space/files.h"
#include "tinynas/search_space/rng.h"
#include "tinynas/supernet/checkpoint.h"
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
SearchSpace phase_space(const TrainOptions& o, const PhaseOptions& p) {
  SearchSpace s = o.space;
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
  ArchSpec arch;
  bool teacher = false;  // the sandwich's largest: trained on labels, teaches the rest
};

std::vector<Subnet> sample_subnets(const TrainOptions& o, const PhaseOptions& p, const SearchSpace& ps, uint64_t step) {
  Rng rng(derive_seed(o.seed, kSubnets, step));
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
  if (o.phases.empty()) throw InputError("training needs at least one phase");
  if (o.batch_size <= 0) throw InputError("batch_size must be positive");
  if (o.resolutions.empty()) throw InputError("the supernet needs at least one training resolution");
  for (int r : o.resolutions)
    if (std::find(o.space.resolution_choices.begin(), o.space.resolution_choices.end(), r) ==
        o.space.resolution_choices.end())
      throw InputError("training resolution " + std::to_string(r) + " is not one of the space's resolutions");
  for (const auto& p : o.phases) {
    if (p.epochs <= 0) throw InputError("phase '" + p.name + "': epochs must be positive");
    if (p.lr <= 0) throw InputError("phase '" + p.name + "': lr must be positive");
    if (p.subnets_per_step <= 0) throw InputError("phase '" + p.name + "': subnets_per_step must be positive");
    auto check = [&](const std::vector<int>& set, const std::vector<int>& all, const char* what) {
      for (int v : set)
        if (std::find(all.begin(), all.end(), v) == all.end())
          throw InputError("phase '" + p.name + "': " + what + " " + std::to_string(v) + " is not in the space");
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
  write_file_atomic(path, out.str());
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
        if (!buf.sizes().equals(p.sizes())) throw InputError("checkpoint momentum does not match the parameters");
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
  j["space"] = nlohmann::json::parse(space_to_json(o.space));
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
    throw InputError("the data set '" + train.describe() + "' has " + std::to_string(train.num_classes()) +
                     " classes but the space's classifier has " + std::to_string(o.space.num_classes));
  if (train.channels() != o.space.in_channels)
    throw InputError("the data set '" + train.describe() + "' has " + std::to_string(train.channels()) +
                     " channels but the space expects " + std::to_string(o.space.in_channels));
  const int64_t full_steps = train.size() / o.batch_size;
  if (full_steps == 0) throw InputError("the training set has fewer images than one batch");
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
      if (j.at("format") != "tinynas-train-checkpoint-1") throw InputError("unknown checkpoint format");
    } catch (const nlohmann::json::exception& e) {
      throw InputError("'" + paths.checkpoint() + "' has a malformed state record: " + e.what());
    }
    if (j.at("options").dump() != fingerprint(options_json))
      throw InputError("'" + paths.checkpoint() + "' was written with different training options; resume with the "
                       "same config or train into another --out directory");
    st.phase = j.at("phase");
    st.epochs_done = j.at("epochs_done");
    st.global_step = j.at("global_step");
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
  int global_epoch = int(st.history.size());
  for (; st.phase < int(o.phases.size()); ++st.phase, st.epochs_done = 0) {
    const PhaseOptions& p = o.phases[size_t(st.phase)];
    const SearchSpace ps = phase_space(o, p);
    if (st.epochs_done == 0) {
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
      Rng order_rng(derive_seed(o.seed, kDataOrder, uint64_t(st.phase) << 32 | uint64_t(st.epochs_done)));
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.below(uint32_t(i))]);
      const uint64_t aug_seed = derive_seed(o.seed, kAugment, uint64_t(st.phase) << 32 | uint64_t(st.epochs_done));
      auto batch_indices = [&](int64_t b) {
        return std::vector<int>(order.begin() + b * o.batch_size, order.begin() + (b + 1) * o.batch_size);
      };
      auto load = [&](int64_t b) { return load_input(train, batch_indices(b), rmax, true, aug_seed); };
      std::future<torch::Tensor> next = std::async(std::launch::async, load, 0);
      double loss_sum = 0;
      int64_t passes = 0;
      const int64_t phase_step0 = int64_t(st.epochs_done) * steps_per_epoch;
      if (on_step) on_step(0, steps_per_epoch, 0.0, 0.0);
      double lr = p.lr;
      for (int64_t b = 0; b < steps_per_epoch; ++b) {
        torch::Tensor x_full = next.get();
        if (b + 1 < steps_per_epoch) next = std::async(std::launch::async, load, b + 1);
        const torch::Tensor y = labels_of(train, batch_indices(b));
        lr = cosine_lr(p.lr, phase_step0 + b, phase_steps, warmup);
        set_lr(*opt, lr);
        opt->zero_grad();
        const auto subnets = sample_subnets(o, p, ps, uint64_t(st.global_step));
        torch::Tensor soft_targets;
        if (teacher && !p.sandwich) {
          torch::NoGradGuard no_grad;
          soft_targets = torch::softmax(teacher->forward(x_full), 1);
        }
        for (const auto& s : subnets) {
          net->set_active(s.arch);
          const auto logits = net->forward(resize_input(x_full, s.arch.r));
          auto loss = torch::nn::functional::cross_entropy(
              logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
          if (soft_targets.defined() && !s.teacher && o.kd_weight > 0)
            loss = loss + o.kd_weight * soft_cross_entropy(logits, soft_targets);
          if (s.teacher && o.kd_weight > 0) soft_targets = torch::softmax(logits.detach(), 1);
          (loss / double(subnets.size())).backward();
          loss_sum += loss.item<double>();
          ++passes;
        }
        opt->step();
        ++st.global_step;
        if (on_step) {
          const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
          on_step(b + 1, steps_per_epoch, loss_sum / double(passes), double((b + 1) * o.batch_size) / secs);
        }
      }
      const double train_secs = std::chrono::duration<double>(Clock::now() - t0).count();

      EpochMetrics m;
      m.phase = p.name;
      m.epoch = st.epochs_done + 1;
      m.global_epoch = ++global_epoch;
      m.train_loss = loss_sum / double(std::max<int64_t>(passes, 1));
      m.lr = lr;
      m.images_per_s = double(steps_per_epoch * o.batch_size) / train_secs;
      // Holdout accuracy of the extremes after BN recalibration; the training BN statistics are restored
      // afterwards so that evaluation does not change the training trajectory.
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
        const auto measure = [&](const ArchSpec& a) {
          net->set_active(a);
          recalibrate_bn(net, train, calib, a.r, o.eval_batch_size);
          return evaluate([&](const torch::Tensor& x) { return net->forward(x); }, holdout, a.r, o.eval_batch_size).top1();
        };
        m.holdout_largest = measure(ps.largest(o.width, rmax));
        m.holdout_smallest = measure(ps.smallest(o.width, rmin));
      }
      m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      st.history.push_back(m);
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
      save_checkpoint(paths, options_json, saved_state, net, *opt, teacher ? &teacher : nullptr);
      write_metrics_csv(paths.metrics(), st.history);
    }
  }
  net->eval();
  save_supernet(paths.supernet(), net, o.resolutions, options_json);
  write_metrics_csv(paths.metrics(), st.history);
  return st.history;
}

}  // namespace tinynas::supernet
