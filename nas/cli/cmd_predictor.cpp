// tinynas predictor build: measures random subnets of the trained supernet (BN recalibration + holdout
// top-1, cached, so an interrupted build resumes), trains the accuracy predictor on most of them and
// reports its RMSE and Kendall's tau on the others.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "supernet_common.h"
#include "tinynas/evaluator/accuracy_predictor.h"
#include "tinynas/evaluator/subnet_accuracy.h"
#include "tinynas/core/progress.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/runtime.h"

namespace tinynas::cli {

namespace fs = std::filesystem;

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
    const Experiment x = load_experiment(o->config.empty() ? default_experiment_path() : o->config);
    supernet::configure_torch(global_options().threads > 0 ? global_options().threads : x.train.threads);
    auto f = load_experiment_supernet(x, o->supernet);
    const std::string out = o->out.empty() ? (fs::path(f.path).parent_path() / "predictor.pt").string() : o->out;
    const std::string cache =
        o->cache.empty() ? (fs::path(out).parent_path() / "accuracy_cache.json").string() : o->cache;
    const int images = o->calibration_images > 0 ? o->calibration_images : x.train.options.recalibration_images;
    // Under MPI the measurements are split between the ranks; rank 0 writes the cache and the predictor.
    const dist::Cluster& cluster = dist::Cluster::world();
    core::install_stop_handlers();
    SubnetAccuracyOptions ao = subnet_accuracy_options(f, x, images, cache);
    ao.write_cache = cluster.is_root();
    SubnetAccuracy accuracy(f.net, f.net->space, data::open_split(x.data, "train"), data::open_split(x.data, "holdout"),
                            ao);
    // Subnets of the supernet's width at the resolutions it was trained at.
    const double w = f.net->largest(f.resolutions.front()).w;
    std::vector<ArchSpec> sampled;
    for (int i = 0; i < o->samples; ++i) {
      core::Rng rng(core::derive_seed(uint64_t(o->seed), uint64_t(i)));
      const int r = f.resolutions[rng.below(uint32_t(f.resolutions.size()))];
      sampled.push_back(f.net->space.sample(rng, w, r));
    }
    // In chunks, so that a stop signal (Slurm's time limit) ends the run between two of them with the
    // cache saved: the same command then measures only what is missing.
    std::vector<MeasuredArch> measured;
    core::ProgressBar progress("measuring subnets", o->samples, "subnets");
    const size_t chunk = size_t(8 * cluster.size());
    for (size_t first = 0; first < sampled.size(); first += chunk) {
      if (cluster.any(core::stop_requested())) {
        accuracy.save();
        throw core::Interrupted("measured " + std::to_string(first) + " of " + std::to_string(sampled.size()) +
                          " subnets, cached in " + cache + "; the same command measures the rest");
      }
      const std::vector<ArchSpec> part(sampled.begin() + std::ptrdiff_t(first),
                                       sampled.begin() + std::ptrdiff_t(std::min(sampled.size(), first + chunk)));
      const std::vector<double> top1 = accuracy.measure_all(part, cluster);
      for (size_t k = 0; k < part.size(); ++k) measured.push_back({part[k], top1[k]});
      progress.advance(int64_t(part.size()));
    }
    progress.finish();
    accuracy.save();
    spdlog::info("{} subnets measured, {} from the cache {}", accuracy.measured(), accuracy.hits(), cache);
    const size_t test = std::max<size_t>(2, size_t(double(measured.size()) * o->test_fraction));
    const std::vector<MeasuredArch> train_set(measured.begin(), measured.end() - std::ptrdiff_t(test));
    const std::vector<MeasuredArch> test_set(measured.end() - std::ptrdiff_t(test), measured.end());
    std::string notes = "supernet " + fs::path(f.path).filename().string() + ", " + ao.cache_tag;
    std::string noise_line;
    if (o->noise_check) {
      std::vector<std::pair<double, double>> halves;
      core::ProgressBar bar("holdout halves", int64_t(test_set.size()), "subnets");
      for (const std::string& r : dist::map_items(cluster, test_set.size(), [&](size_t i) {
             const auto h = accuracy.split_halves(test_set[i].arch);
             bar.advance();
             return nlohmann::json::array({h.first, h.second}).dump();
           })) {
        const auto j = nlohmann::json::parse(r);
        halves.push_back({j[0].get<double>(), j[1].get<double>()});
      }
      bar.finish();
      const MeasurementNoise noise = measurement_noise(halves, uint64_t(o->seed));
      noise_line = fmt::format(
          "measurement noise on those subnets: a holdout figure is off by {:.2f} points (sd), the two holdout halves "
          "rank them with tau {:.3f}, an error-free predictor would reach tau {:.3f} at most",
          noise.sd, noise.halves_tau, noise.perfect_predictor_tau);
      notes += fmt::format("; noise: sd {:.2f} points, error-free predictor tau {:.3f}", noise.sd,
                           noise.perfect_predictor_tau);
    }
    if (!cluster.is_root()) return 0;  // rank 0 trains and writes the predictor
    PredictorTrainOptions po;
    po.epochs = o->epochs;
    po.seed = uint64_t(o->seed);
    spdlog::info("training the predictor on {} subnets ({} epochs)", train_set.size(), po.epochs);
    const AccuracyPredictor p = AccuracyPredictor::train(f.net->space, train_set, po);
    PredictorMetrics m = p.evaluate(test_set);
    m.train_samples = int(train_set.size());
    fs::create_directories(fs::absolute(out).parent_path());
    p.save(out, m, notes);
    std::cout << "accuracy predictor written to " << out << ": on " << m.test_samples << " held-out subnets RMSE "
              << m.rmse << " points, Kendall tau " << m.kendall_tau << " (trained on " << m.train_samples << ")\n";
    if (!noise_line.empty()) std::cout << noise_line << "\n";
    return 0;
  };
}

}  // namespace tinynas::cli
