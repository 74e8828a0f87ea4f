// tinynas extract: a standalone subnet (static LibTorch module) from a trained supernet, optionally
// fine-tuned.
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "tinynas/core/errors.h"
#include "tinynas/nas/experiment_supernet.h"
#include "tinynas/core/progress.h"
#include "tinynas/supernet/checkpoint.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/finetune.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::cli {

namespace {
struct Options {
  std::string config, supernet, arch, out;
  int resolution = 0;
  bool from_scratch = false;
  bool test = false;
  supernet::FinetuneOptions finetune{0, 0.01};
};
}  // namespace

Runner add_extract(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "extract", "Extract a subnet of a trained supernet (BN recalibrated) as a standalone network file; "
                 "--finetune N trains it N more epochs on its own.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--supernet", o->supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_option("--arch", o->arch, "an arch JSON file, or largest / smallest")->required();
  cmd->add_option("--resolution", o->resolution, "input resolution (default: the arch's)")->check(CLI::PositiveNumber);
  cmd->add_option("--out", o->out, "the subnet file to write (.pt)")->required();
  cmd->add_option("--finetune", o->finetune.epochs, "fine-tuning epochs")->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", o->finetune.lr, "fine-tuning learning rate (cosine schedule)")->capture_default_str();
  cmd->add_flag("--from-scratch", o->from_scratch,
                "re-initialize the weights: train the same network from scratch (a static baseline; needs --finetune)");
  cmd->add_flag("--test", o->test, "also report the final top-1 on the test split");
  cmd->add_option("--max-steps-per-epoch", o->finetune.max_steps_per_epoch, "cap fine-tuning steps per epoch")
      ->check(CLI::NonNegativeNumber);
  return [o]() {
    const nas::Experiment x = nas::load_experiment(o->config.empty() ? nas::default_experiment_path() : o->config);
    supernet::configure_torch(global_options().threads > 0 ? global_options().threads : x.train.threads);
    if (o->from_scratch && o->finetune.epochs == 0) throw core::InputError("--from-scratch needs --finetune N (epochs)");
    auto f = nas::load_experiment_supernet(x, o->supernet);
    const search_space::ArchSpec arch = nas::resolve_arch(f, o->arch, o->resolution);
    supernet::StaticNet net{nullptr};
    if (o->from_scratch) {
      torch::manual_seed(int64_t(x.train.options.seed));
      net = supernet::StaticNet(f.net->space.describe(arch));
    } else {
      nas::recalibrate(f, x, arch, x.train.options.recalibration_images);
      net = f.net->extract(arch);
    }
    net->eval();
    const auto holdout = data::open_split(x.data, "holdout");
    auto forward = [&](const torch::Tensor& in) { return net->forward(in); };
    spdlog::info("{} subnet: holdout top-1 {:.2f} %", o->from_scratch ? "re-initialized" : "extracted",
                 supernet::evaluate(forward, *holdout, arch.r).top1());
    if (o->finetune.epochs > 0) {
      const auto train = data::open_split(x.data, "train");
      o->finetune.batch_size = x.train.options.batch_size;
      o->finetune.seed = x.train.options.seed;
      std::unique_ptr<core::ProgressBar> bar;
      supernet::finetune(net, *train, *holdout, arch.r, o->finetune,
                         [&](int64_t step, int64_t steps, double loss, double) {
                           if (step == 0) {
                             bar = std::make_unique<core::ProgressBar>("fine-tune", steps, "step");
                             return;
                           }
                           bar->set_status(fmt::format("loss {:.4f}", loss));
                           bar->advance();
                           if (step == steps) bar.reset();
                         });
    }
    supernet::save_subnet(o->out, net, arch);
    std::cout << "wrote " << o->out << " (r " << arch.r << ", " << net->desc.blocks.size() << " blocks): holdout top-1 "
              << supernet::evaluate(forward, *holdout, arch.r).top1() << " %";
    if (o->test) std::cout << ", test top-1 " << supernet::evaluate(forward, *data::open_split(x.data, "test"), arch.r).top1() << " %";
    std::cout << "\n";
    return 0;
  };
}

}  // namespace tinynas::cli
