// tinynas eval: top-1 of one subnet of a trained supernet after BN recalibration.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinynas/nas/subnet.h"

namespace tinynas::cli {

namespace {
struct Options {
  std::string config;
  nas::EvalRequest request;
  bool json = false;
};
}  // namespace

Runner add_eval(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Top-1 of a subnet of a trained supernet after BN recalibration on a fixed subset of training images.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--supernet", o->request.supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_option("--arch", o->request.arch, "an arch JSON file, or largest / smallest")->required();
  cmd->add_option("--resolution", o->request.resolution, "input resolution (default: the arch's)")->check(CLI::PositiveNumber);
  cmd->add_option("--split", o->request.split, "holdout (carved from the training split) or test")
      ->check(CLI::IsMember({"holdout", "test"}))
      ->capture_default_str();
  cmd->add_option("--calibration-images", o->request.calibration_images, "BN recalibration images (default: the config's)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "machine-readable output");
  return [o]() {
    nas::EvalRequest q = o->request;
    q.experiment = load_experiment_flag(o->config);
    q.threads = global_options().threads;
    const nas::EvalResult r = nas::evaluate_subnet(q);
    if (o->json) {
      nlohmann::ordered_json j;
      j["supernet"] = r.supernet;
      j["arch"] = nlohmann::json::parse(to_json(r.arch));
      j["split"] = r.split;
      j["images"] = r.total;
      j["top1"] = r.top1;
      j["calibration_images"] = r.calibration_images;
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << "top-1 " << r.top1 << " % (" << r.correct << "/" << r.total << ", " << r.split << " split, r "
                << r.arch.r << ", BN recalibrated on " << r.calibration_images << " training images)\n";
    }
    return 0;
  };
}

}  // namespace tinynas::cli
