#include "tinynas/supernet/finetune.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <future>
#include <numeric>

#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/evaluate.h"

namespace tinynas::supernet {

std::vector<double> finetune(StaticNet& net, const data::Dataset& train, const data::Dataset& holdout, int r,
                             const FinetuneOptions& o, const StepCallback& on_step) {
  if (o.epochs < 0 || o.batch_size <= 0 || !(o.lr > 0)) throw core::InputError("fine-tuning needs epochs >= 0, batch > 0, lr > 0");
  const int64_t full = train.size() / o.batch_size;
  if (full == 0) throw core::InputError("the training set has fewer images than one batch");
  const int64_t steps = o.max_steps_per_epoch > 0 ? std::min(full, o.max_steps_per_epoch) : full;
  torch::optim::SGD opt(sgd_param_groups(*net, o.lr, o.momentum, true, o.weight_decay), torch::optim::SGDOptions(o.lr));
  std::vector<double> holdout_top1;
  const int64_t total = steps * o.epochs;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
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
  }
  net->eval();
  return holdout_top1;
}

}  // namespace tinynas::supernet
