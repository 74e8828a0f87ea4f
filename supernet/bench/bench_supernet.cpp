// Training and evaluation throughput of the elastic supernet against a static copy of the same network,
// on random inputs, all measured in one run so that the ratios hold on a noisy machine.
//   bench_supernet [--threads 2] [--batch 128] [--width 0.35] [--resolution 32] [--channels 3]
//                  [--classes 1000] [--steps 20] [--rounds 3] [--training-only 0|1]
// --training-only 1 measures the two training cases alone (largest subnet, sandwich step), for runs
// repeated under other settings (scripts/bench_supernet.sh: the OpenMP wait policy on shared cores).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tinynas/supernet/ofa.h"
#include "tinynas/supernet/runtime.h"

using namespace tinynas;
using namespace tinynas::supernet;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_of(const std::function<void()>& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, double> opt{{"threads", 2},    {"batch", 128},  {"width", 0.35}, {"resolution", 32},
                                    {"channels", 3},   {"classes", 1000}, {"steps", 20},  {"rounds", 3}, {"training-only", 0}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || !opt.count(key.substr(2))) {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
    opt[key.substr(2)] = std::atof(argv[i + 1]);
  }
  configure_torch(int(opt["threads"]));
  torch::manual_seed(0);
  const int64_t batch = int64_t(opt["batch"]), r = int64_t(opt["resolution"]), steps = int64_t(opt["steps"]);
  const double w = opt["width"];

  search_space::SearchSpace space;  // the MCUNet space
  space.in_channels = int(opt["channels"]);
  space.num_classes = int(opt["classes"]);
  space.width_choices = {w};
  space.resolution_choices = {int(r)};
  OFASupernet net(space, w);
  const search_space::ArchSpec largest = net->largest(int(r)), smallest = net->smallest(int(r));
  StaticNet static_net = net->extract(largest);
  // NHWC memory viewed as NCHW, exactly as the data loader hands images to training (to_input): the
  // memory format picks LibTorch's convolution path, and channels-last is the fast one.
  const auto x = torch::randn({batch, r, r, int64_t(space.in_channels)}).permute({0, 3, 1, 2});
  const auto y = torch::randint(space.num_classes, {batch}, torch::kInt64);

  auto train_steps = [&](torch::nn::Module& m, const std::function<std::vector<torch::Tensor>()>& passes) {
    auto sgd = std::make_shared<torch::optim::SGD>(m.parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    return [&m, &steps, sgd, passes] {
      m.train();
      for (int64_t s = 0; s < steps; ++s) {
        sgd->zero_grad();
        for (auto& loss : passes()) loss.backward();
        sgd->step();
      }
    };
  };
  auto loss_of = [&](const torch::Tensor& logits) { return torch::nn::functional::cross_entropy(logits, y); };
  auto elastic = [&](const search_space::ArchSpec& a) {
    return [&, a] {
      net->set_active(a);
      return std::vector<torch::Tensor>{loss_of(net->forward(x))};
    };
  };
  core::Rng rng(1);
  auto sandwich = [&] {
    std::vector<torch::Tensor> losses;
    std::vector<search_space::ArchSpec> archs{largest, smallest, space.sample(rng, w, int(r)), space.sample(rng, w, int(r))};
    for (const auto& a : archs) {
      net->set_active(a);
      losses.push_back(loss_of(net->forward(x)) / 4.0);
      losses.back().backward();  // backward per pass, as training does, to free each graph
      losses.back() = losses.back().detach().requires_grad_(false);
    }
    return std::vector<torch::Tensor>{};
  };
  struct Case {
    std::string name;
    std::function<void()> run;
    double images_per_step;
  };
  std::vector<Case> cases;
  cases.push_back({"train static copy of the largest", train_steps(*static_net, [&] {
                     return std::vector<torch::Tensor>{loss_of(static_net->forward(x))};
                   }), double(batch)});
  cases.push_back({"train supernet, largest subnet", train_steps(*net, elastic(largest)), double(batch)});
  cases.push_back({"train supernet, smallest subnet", train_steps(*net, elastic(smallest)), double(batch)});
  cases.push_back({"train supernet, 4-pass sandwich step (images per optimizer step)", train_steps(*net, sandwich),
                   double(batch)});
  StaticNet static_small = net->extract(smallest);
  auto eval_steps = [&](const std::function<torch::Tensor()>& fwd) {
    return [&, fwd] {
      torch::NoGradGuard no_grad;
      for (int64_t s = 0; s < steps; ++s) fwd();
    };
  };
  cases.push_back({"eval static copy of the largest", eval_steps([&] {
                     static_net->eval();
                     return static_net->forward(x);
                   }), double(batch)});
  cases.push_back({"eval supernet, largest subnet", eval_steps([&] {
                     net->eval();
                     net->set_active(largest);
                     return net->forward(x);
                   }), double(batch)});
  cases.push_back({"eval supernet, smallest subnet", eval_steps([&] {
                     net->eval();
                     net->set_active(smallest);
                     return net->forward(x);
                   }), double(batch)});
  cases.push_back({"eval static copy of the smallest", eval_steps([&] {
                     static_small->eval();
                     return static_small->forward(x);
                   }), double(batch)});

  const bool training_only = opt["training-only"] != 0;
  if (training_only) cases = {cases[1], cases[3]};
  std::printf("supernet benchmark: w %.2f, %lldx%lldx%d random input, batch %lld, %d threads, %lld steps x %d rounds "
              "(best round)\n",
              w, (long long)r, (long long)r, space.in_channels, (long long)batch, int(opt["threads"]), (long long)steps,
              int(opt["rounds"]));
  for (auto& c : cases) c.run();  // warm-up: allocator, oneDNN primitive caches
  std::vector<double> best(cases.size(), 1e30);
  for (int round = 0; round < int(opt["rounds"]); ++round)  // interleaved, so load changes hit every case
    for (size_t i = 0; i < cases.size(); ++i) best[i] = std::min(best[i], seconds_of(cases[i].run));
  for (size_t i = 0; i < cases.size(); ++i)
    std::printf("  %-70s %8.1f img/s\n", cases[i].name.c_str(), cases[i].images_per_step * double(steps) / best[i]);
  if (training_only) return 0;
  std::printf("  elastic overhead, largest subnet (train): %+.1f %%\n", 100.0 * (best[1] / best[0] - 1.0));
  std::printf("  elastic overhead, largest subnet (eval):  %+.1f %%\n", 100.0 * (best[5] / best[4] - 1.0));
  std::printf("  elastic overhead, smallest subnet (eval): %+.1f %%\n", 100.0 * (best[6] / best[7] - 1.0));
  return 0;
}
