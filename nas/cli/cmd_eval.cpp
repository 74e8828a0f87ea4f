// tinynas eval: top-1 of one subnet of a trained supernet after BN recalibration.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinynas/nas/experiment_supernet.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::cli {

namespace {
struct Options {
  std::string config, supernet, arch, split = "holdout";
  int resolution = 0;
  int calibration_images = 0;
  bool json = false;
};
}  // namespace

Runner add_eval(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Top-1 of a subnet of a trained supernet after BN recalibration on a fixed subset of training images.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--supernet", o->supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_option("--arch", o->arch, "an arch JSON file, or largest / smallest")->required();
  cmd->add_option("--resolution", o->resolution, "input resolution (default: the arch's)")->check(CLI::PositiveNumber);
  cmd->add_option("--split", o->split, "holdout (carved from the training split) or test")
      ->check(CLI::IsMember({"holdout", "test"}))
      ->capture_default_str();
  cmd->add_option("--calibration-images", o->calibration_images, "BN recalibration images (default: the config's)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "machine-readable output");
  return [o]() {
    const nas::Experiment x = nas::load_experiment(o->config.empty() ? nas::default_experiment_path() : o->config);
    supernet::configure_torch(global_options().threads > 0 ? global_options().threads : x.train.threads);
    auto f = nas::load_experiment_supernet(x, o->supernet);
    const search_space::ArchSpec arch = nas::resolve_arch(f, o->arch, o->resolution);
    const int images = o->calibration_images > 0 ? o->calibration_images : x.train.options.recalibration_images;
    nas::recalibrate(f, x, arch, images);
    const auto data = data::open_split(x.data, o->split);
    const auto acc = supernet::evaluate([&](const torch::Tensor& in) { return f.net->forward(in); }, *data, arch.r);
    if (o->json) {
      nlohmann::ordered_json j;
      j["supernet"] = f.path;
      j["arch"] = nlohmann::json::parse(to_json(arch));
      j["split"] = o->split;
      j["images"] = acc.total;
      j["top1"] = acc.top1();
      j["calibration_images"] = images;
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << "top-1 " << acc.top1() << " % (" << acc.correct << "/" << acc.total << ", " << o->split << " split, r "
                << arch.r << ", BN recalibrated on " << images << " training images)\n";
    }
    return 0;
  };
}

}  // namespace tinynas::cli
