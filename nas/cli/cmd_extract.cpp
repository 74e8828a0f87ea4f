// tinynas extract: a standalone subnet (static LibTorch module) from a trained supernet, optionally
// fine-tuned.
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "tinynas/core/progress.h"
#include "tinynas/nas/subnet.h"

namespace tinynas::cli {

namespace {
struct Options {
  std::string config;
  nas::ExtractRequest request;
};
}  // namespace

Runner add_extract(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "extract", "Extract a subnet of a trained supernet (BN recalibrated) as a standalone network file; "
                 "--finetune N trains it N more epochs on its own. With --network, train a network given layer by "
                 "layer (e.g. ResNet-8) from random weights the same way.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--supernet", o->request.supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  auto* arch = cmd->add_option("--arch", o->request.arch, "an arch JSON file, or largest / smallest");
  auto* network = cmd->add_option("--network", o->request.network,
                                  "instead of --arch: a network JSON file (e.g. configs/networks/resnet8-cifar10.json) "
                                  "trained from random weights on the experiment's data (needs --finetune)");
  arch->excludes(network);
  cmd->add_option("--resolution", o->request.resolution, "input resolution (default: the arch's)")->check(CLI::PositiveNumber);
  cmd->add_option("--out", o->request.out, "the subnet file to write (.pt)")->required();
  cmd->add_option("--finetune", o->request.finetune.epochs, "fine-tuning epochs")->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", o->request.finetune.lr, "fine-tuning learning rate (cosine schedule)")->capture_default_str();
  cmd->add_flag("--from-scratch", o->request.from_scratch,
                "re-initialize the weights: train the same network from scratch (a static baseline; needs --finetune)");
  cmd->add_flag("--test", o->request.test, "also report the final top-1 on the test split");
  cmd->add_option("--max-steps-per-epoch", o->request.finetune.max_steps_per_epoch, "cap fine-tuning steps per epoch")
      ->check(CLI::NonNegativeNumber);
  return [o]() {
    nas::ExtractRequest q = o->request;
    q.experiment = load_experiment_flag(o->config);
    q.threads = global_options().threads;
    std::unique_ptr<core::ProgressBar> bar;
    q.on_finetune_step = [&](const supernet::StepProgress& p) {
      if (p.epoch_start) {
        bar = std::make_unique<core::ProgressBar>("fine-tune", p.steps - p.step, "step");
        return;
      }
      bar->set_status(fmt::format("loss {:.4f}", p.loss));
      bar->advance();
      if (p.step == p.steps) bar.reset();
    };
    const nas::ExtractResult r = nas::extract_subnet(q);
    std::cout << "wrote " << r.path << " (r " << r.resolution << ", " << r.blocks << " blocks): holdout top-1 "
              << r.holdout_top1 << " %";
    if (r.test_top1) std::cout << ", test top-1 " << *r.test_top1 << " %";
    std::cout << "\n";
    return 0;
  };
}

}  // namespace tinynas::cli
