// tinynas predictor build: measures random subnets of the trained supernet (BN recalibration + holdout
// top-1, cached, so an interrupted build resumes), trains the accuracy predictor on most of them and
// reports its RMSE and Kendall's tau on the others (nas/train.h).
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "tinynas/nas/train.h"

namespace tinynas::cli {

namespace {

struct Options {
  std::string config, supernet, out, cache;
  int samples = 1000;
  double test_fraction = 0.2;
  int epochs = 500;
  int calibration_images = 0;
  int64_t seed = 0;
  bool noise_check = false;
};

}  // namespace

Runner add_predictor(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* predictor = app.add_subcommand("predictor", "The accuracy predictor of a trained supernet.");
  predictor->require_subcommand(1);
  CLI::App* cmd = predictor->add_subcommand(
      "build",
      "Measure random subnets of the supernet (BN recalibration on a fixed training subset, top-1 on the holdout "
      "split), train the MLP predictor on most of them and report its RMSE and Kendall's tau on the others.");
  cmd->add_option("--config", o->config, "experiment YAML (default: configs/experiments/fashion-mnist.yaml)");
  cmd->add_option("--supernet", o->supernet, "supernet file (default: the experiment's supernet.checkpoint)");
  cmd->add_option("--samples", o->samples, "subnets to measure")->capture_default_str()->check(CLI::Range(10, 1000000));
  cmd->add_option("--test-fraction", o->test_fraction, "share of them kept out of training to test the predictor")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 0.5));
  cmd->add_option("--epochs", o->epochs, "training epochs of the MLP")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--calibration-images", o->calibration_images, "BN recalibration images (default: the config's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "random seed of the sampled subnets and the training")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--noise-check", o->noise_check,
               "also measure the held-out subnets on the two halves of the holdout and report how noisy the "
               "targets are: the tau an error-free predictor could reach (costs one more measurement per subnet)");
  cmd->add_option("--out", o->out, "predictor file (default: predictor.pt beside the supernet)");
  cmd->add_option("--cache", o->cache,
                  "measured accuracies, kept between runs (default: accuracy_cache.json beside the predictor)");
  return [o]() {
    nas::PredictorRequest q;
    q.experiment = load_experiment_flag(o->config);
    q.supernet = o->supernet;
    q.out = o->out;
    q.cache = o->cache;
    q.samples = o->samples;
    q.test_fraction = o->test_fraction;
    q.epochs = o->epochs;
    q.calibration_images = o->calibration_images;
    q.seed = uint64_t(o->seed);
    q.noise_check = o->noise_check;
    q.threads = global_options().threads;
    const nas::PredictorResult r = nas::build_predictor(q);
    if (r.path.empty()) return 0;  // an MPI rank other than 0
    const evaluator::PredictorMetrics& m = r.metrics;
    std::cout << "accuracy predictor written to " << r.path << ": on " << m.test_samples << " held-out subnets RMSE "
              << m.rmse << " points, Kendall tau " << m.kendall_tau << " (trained on " << m.train_samples << ")\n";
    if (r.has_noise)
      std::cout << fmt::format(
          "measurement noise on those subnets: a holdout figure is off by {:.2f} points (sd), the two holdout halves "
          "rank them with tau {:.3f}, an error-free predictor would reach tau {:.3f} at most\n",
          r.noise.sd, r.noise.halves_tau, r.noise.perfect_predictor_tau);
    return 0;
  };
}

}  // namespace tinynas::cli
