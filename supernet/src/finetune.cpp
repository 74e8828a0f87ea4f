#include "tinynas/supernet/finetune.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <future>
#include <nlohmann/json.hpp>
#include <numeric>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/evaluate.h"

namespace tinynas::supernet {

namespace {

// What a checkpoint must match to be resumed: the options, the resolution, the data and the network.
nlohmann::json finetune_run(const StaticNet& net, const data::Dataset& train, const data::Dataset& holdout, int r,
                            const FinetuneOptions& o) {
  int64_t parameters = 0;
  for (const auto& p : net->parameters()) parameters += p.numel();
  return {{"epochs", o.epochs},
          {"lr", o.lr},
          {"batch_size", o.batch_size},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"label_smoothing", o.label_smoothing},
          {"seed", o.seed},
          {"max_steps_per_epoch", o.max_steps_per_epoch},
          {"resolution", r},
          {"train_images", train.size()},
          {"holdout_images", holdout.size()},
          {"parameters", parameters}};
}

// The epochs done are those with a holdout figure.
void save_finetune_checkpoint(const std::string& path, const nlohmann::json& run, const std::vector<double>& holdout_top1,
                              StaticNet& net, torch::optim::SGD& opt) {
  const nlohmann::json state = {{"format", "tinynas-finetune-checkpoint-1"}, {"run", run}, {"holdout_top1", holdout_top1}};
  torch::serialize::OutputArchive archive, model;
  archive.write("state", c10::IValue(state.dump()));
  net->save(model);
  archive.write("model", model);
  auto momentum = momentum_archive(opt);
  archive.write("optimizer", momentum);
  save_archive_atomic(archive, path);
}

// Restores the weights and the optimizer of the checkpoint at `path`; returns the epochs it had done and
// fills their holdout figures. InputError when it is malformed or from another run.
int resume_finetune(const std::string& path, const nlohmann::json& run, StaticNet& net, torch::optim::SGD& opt,
                    std::vector<double>& holdout_top1) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(read_string(archive, "state", path));
    if (state.at("format") != "tinynas-finetune-checkpoint-1") throw core::InputError("'" + path + "' is not a fine-tuning checkpoint");
    if (state.at("run") != run)
      throw core::InputError("'" + path + "' is the checkpoint of another fine-tuning run (it has " + state.at("run").dump() +
                             ", this run " + run.dump() + "); delete it to start over");
    holdout_top1 = state.at("holdout_top1").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError("'" + path + "' has a malformed state record: " + e.what());
  }
  const int epochs_done = int(holdout_top1.size());
  try {
    torch::serialize::InputArchive model, optimizer;
    archive.read("model", model);
    net->load(model);
    archive.read("optimizer", optimizer);
    load_momentum(opt, optimizer);
  } catch (const c10::Error& e) {
    throw core::InputError("'" + path + "' does not match the network: " + e.what_without_backtrace());
  }
  return epochs_done;
}

}  // namespace

std::vector<double> finetune(StaticNet& net, const data::Dataset& train, const data::Dataset& holdout, int r,
                             const FinetuneOptions& o, const StepCallback& on_step) {
  if (o.epochs < 0 || o.batch_size <= 0 || !(o.lr > 0)) throw core::InputError("fine-tuning needs epochs >= 0, batch > 0, lr > 0");
  const int64_t full = train.size() / o.batch_size;
  if (full == 0) throw core::InputError("the training set has fewer images than one batch");
  const int64_t steps = o.max_steps_per_epoch > 0 ? std::min(full, o.max_steps_per_epoch) : full;
  torch::optim::SGD opt(sgd_param_groups(*net, o.lr, o.momentum, true, o.weight_decay), torch::optim::SGDOptions(o.lr));
  std::vector<double> holdout_top1;
  const int64_t total = steps * o.epochs;
  const nlohmann::json run = finetune_run(net, train, holdout, r, o);
  int first_epoch = 0;
  if (!o.checkpoint.empty() && core::is_file(o.checkpoint)) {
    first_epoch = resume_finetune(o.checkpoint, run, net, opt, holdout_top1);
    spdlog::info("fine-tuning resumes after epoch {} of {} ('{}')", first_epoch, o.epochs, o.checkpoint);
  }
  for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
    net->train();
    std::vector<int> order(size_t(train.size()));
    std::iota(order.begin(), order.end(), 0);
    core::Rng rng(core::derive_seed(o.seed, 0xF1, uint64_t(epoch)));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(uint32_t(i))]);
    const uint64_t aug_seed = core::derive_seed(o.seed, 0xF2, uint64_t(epoch));
    auto batch = [&](int64_t b) { return std::vector<int>(order.begin() + b * o.batch_size, order.begin() + (b + 1) * o.batch_size); };
    auto load = [&](int64_t b) { return load_input(train, batch(b), r, true, aug_seed); };
    auto next = std::async(std::launch::async, load, 0);
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    if (on_step) on_step({true, 0, steps, 0.0, 0.0});
    for (int64_t b = 0; b < steps; ++b) {
      const auto x = next.get();
      if (b + 1 < steps) next = std::async(std::launch::async, load, b + 1);
      const int64_t t = epoch * steps + b;
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::SGDOptions&>(g.options()).lr(0.5 * o.lr * (1 + std::cos(M_PI * double(t) / double(total))));
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(
          net->forward(x), labels_of(train, batch(b)),
          torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      if (on_step) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        on_step({false, b + 1, steps, loss_sum / double(b + 1), double((b + 1) * o.batch_size) / secs});
      }
    }
    net->eval();
    holdout_top1.push_back(evaluate([&](const torch::Tensor& x) { return net->forward(x); }, holdout, r).top1());
    spdlog::info("fine-tune epoch {}/{}: loss {:.4f}, holdout top-1 {:.2f} %", epoch + 1, o.epochs,
                 loss_sum / double(steps), holdout_top1.back());
    if (!o.checkpoint.empty()) save_finetune_checkpoint(o.checkpoint, run, holdout_top1, net, opt);
  }
  net->eval();
  return holdout_top1;
}

}  // namespace tinynas::supernet
