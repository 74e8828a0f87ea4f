#include "tinynas/nas/train.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/progress.h"
#include "tinynas/core/rng.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/evaluator/subnet_accuracy.h"
#include "tinynas/nas/experiment_supernet.h"
#include "tinynas/nas/run_files.h"
#include "tinynas/supernet/cluster.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/runtime.h"
#include "tinynas/supernet/train.h"

namespace tinynas::nas {

namespace fs = std::filesystem;

namespace {

// The request's overrides applied to the experiment's training settings, checked.
TrainConfig training_config(const TrainRequest& q) {
  const Experiment& x = q.experiment;
  TrainConfig tc = x.train;
  if (q.epochs > 0) {
    if (tc.method != "sandwich") throw core::InputError("--epochs applies to sandwich runs; set epochs per phase in the config");
    tc.options.phases.front().epochs = q.epochs;
  }
  if (q.max_steps_per_epoch >= 0) tc.options.max_steps_per_epoch = q.max_steps_per_epoch;
  if (q.width > 0) tc.options.width = q.width;
  if (!q.resolutions.empty()) tc.options.resolutions = q.resolutions;
  const auto& widths = x.space.width_choices;
  if (std::find(widths.begin(), widths.end(), tc.options.width) == widths.end())
    throw core::InputError("--width " + std::to_string(tc.options.width) + " is not one of the space's widths");
  const dist::Cluster& cluster = dist::Cluster::world();
  if (q.batch_parts > 0) tc.options.batch_parts = q.batch_parts;
  else if (tc.options.batch_parts == 1 && cluster.size() > 1) tc.options.batch_parts = cluster.size();
  return tc;
}

// Removes a log sink again however the training ends.
struct ScopedSink {
  spdlog::sink_ptr sink;
  explicit ScopedSink(spdlog::sink_ptr s) : sink(std::move(s)) {
    if (sink) spdlog::default_logger()->sinks().push_back(sink);
  }
  ~ScopedSink() {
    if (!sink) return;
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  }
};

}  // namespace

data::Normalization input_normalization(const data::DataConfig& d, const data::Dataset& train, int resolution) {
  constexpr int kNormalizationImages = 10000;
  if (!d.normalize_from_data) return d.normalization;
  const data::Normalization n = data::measure_normalization(train, resolution, kNormalizationImages, d.seed);
  spdlog::info("input normalization measured on {} training images at r {}: {}", std::min(kNormalizationImages, train.size()),
               resolution, n.describe());
  return n;
}

TrainResult train_experiment(const TrainRequest& q) {
  const Experiment& x = q.experiment;
  TrainConfig tc = training_config(q);
  TrainResult result;
  result.out = q.out.empty() ? training_dir(x) : q.out;
  const std::string& out = result.out;
  const int threads = q.threads > 0 ? q.threads : tc.threads;
  supernet::configure_torch(threads);
  const auto train = data::open_split(x.data, "train");
  const auto holdout = data::open_split(x.data, "holdout");
  const auto& rs = tc.options.resolutions;
  tc.options.normalization = rs.empty() ? x.data.normalization  // (no resolutions: refused below)
                                        : input_normalization(x.data, *train, *std::max_element(rs.begin(), rs.end()));
  tc.options.data_description = fmt::format("{} {}: {} training + {} holdout images (holdout seed {})", x.data.kind,
                                            x.data.path, train->size(), holdout->size(), x.data.seed);
  // A refused request (bad options, a checkpoint from other options) leaves an existing run as it was:
  // everything is checked before the log, the experiment copy or any other file in `out` is touched.
  supernet::check_training_start(tc.options, *train, supernet::TrainPaths{out}, q.resume);

  // SIGTERM / SIGUSR1 (Slurm's time limit or preemption) stop after the current step, with a checkpoint.
  core::install_stop_handlers();
  core::create_output_dir(out);
  // Rank 0 keeps the log file and the experiment copy; every rank reads the same data.
  const bool root = dist::Cluster::world().is_root();
  ScopedSink log(root ? std::make_shared<spdlog::sinks::basic_file_sink_mt>(out + "/train.log", /*truncate=*/!q.resume)
                      : nullptr);
  if (root) core::write_file_atomic(out + "/experiment.yaml", core::read_text_file(x.path));  // as it was run
  spdlog::info("experiment '{}' ({}): {} supernet, w {}, resolutions {}, {} threads", x.name, x.path, tc.method,
               tc.options.width, fmt::join(tc.options.resolutions, "/"), threads);
  spdlog::info("data: {} training images, {} holdout images", train->size(), holdout->size());

  std::unique_ptr<core::ProgressBar> bar;
  int64_t last_step = 0;
  const auto on_step = [&](const supernet::StepProgress& p) {
    if (p.epoch_start) {  // the bar counts this process's images only, so that its rate and ETA are right
      bar = std::make_unique<core::ProgressBar>("epoch", (p.steps - p.step) * tc.options.batch_size, "img");
      last_step = p.step;
      return;
    }
    bar->set_status(fmt::format("loss {:.4f} ({:.0f} img/s)", p.loss, p.images_per_s));
    bar->advance((p.step - last_step) * tc.options.batch_size);
    last_step = p.step;
    if (p.step == p.steps) bar.reset();
  };
  const auto history = supernet::train_supernet(tc.options, *train, *holdout, supernet::TrainPaths{out}, q.resume, on_step);
  result.epochs = int(history.size());
  result.supernet_path = (fs::path(out) / "supernet.pt").string();
  spdlog::info("trained: {} epochs; supernet in {}/supernet.pt, metrics in {}/metrics.csv", history.size(), out, out);
  return result;
}

namespace {

// Random subnets of the supernet's width at the resolutions it was trained at.
std::vector<search_space::ArchSpec> predictor_samples(const supernet::SupernetFile& f, int count, uint64_t seed) {
  const double w = f.net->largest(f.resolutions.front()).w;
  std::vector<search_space::ArchSpec> sampled;
  for (int i = 0; i < count; ++i) {
    core::Rng rng(core::derive_seed(seed, uint64_t(i)));
    const int r = f.resolutions[rng.below(uint32_t(f.resolutions.size()))];
    sampled.push_back(f.net->space.sample(rng, w, r));
  }
  return sampled;
}

// Measures in chunks for the progress bar (every rank's share counted; cached figures are not, so that
// rate and ETA are this run's). A stop signal (Slurm's time limit) ends measure_all between two
// measurements with the cache saved: the same request then measures only what is missing.
std::vector<evaluator::MeasuredArch> measure_samples(evaluator::SubnetAccuracy& accuracy, const std::vector<search_space::ArchSpec>& sampled) {
  const dist::Cluster& cluster = dist::Cluster::world();
  std::vector<evaluator::MeasuredArch> measured;
  auto uncached = [&](auto begin, auto end) {
    return int64_t(std::count_if(begin, end, [&](const search_space::ArchSpec& a) { return accuracy.cached(a) < 0; }));
  };
  core::ProgressBar progress("measuring subnets", uncached(sampled.begin(), sampled.end()), "subnets");
  const size_t chunk = size_t(8 * cluster.size());
  for (size_t first = 0; first < sampled.size(); first += chunk) {
    const std::vector<search_space::ArchSpec> part(sampled.begin() + std::ptrdiff_t(first),
                                     sampled.begin() + std::ptrdiff_t(std::min(sampled.size(), first + chunk)));
    const int64_t to_measure = uncached(part.begin(), part.end());
    const std::vector<double> top1 = accuracy.measure_all(part, cluster);
    for (size_t k = 0; k < part.size(); ++k) measured.push_back({part[k], top1[k]});
    if (to_measure > 0) progress.advance(to_measure);
  }
  progress.finish();
  accuracy.save();
  return measured;
}

// How noisy the targets are: the held-out subnets measured on the two halves of the holdout.
evaluator::MeasurementNoise holdout_noise(evaluator::SubnetAccuracy& accuracy, const std::vector<evaluator::MeasuredArch>& test_set, uint64_t seed) {
  const dist::Cluster& cluster = dist::Cluster::world();
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
  return evaluator::measurement_noise(halves, seed);
}

}  // namespace

PredictorResult build_predictor(const PredictorRequest& q) {
  const Experiment& x = q.experiment;
  supernet::configure_torch(q.threads > 0 ? q.threads : x.train.threads);
  auto f = load_experiment_supernet(x, q.supernet);
  const std::string out = q.out.empty() ? predictor_beside(f.path) : q.out;
  const std::string cache = q.cache.empty() ? accuracy_cache_beside(out) : q.cache;
  const int images = q.calibration_images > 0 ? q.calibration_images : x.train.options.recalibration_images;
  // Under MPI the measurements are split between the ranks; rank 0 writes the cache and the predictor.
  const dist::Cluster& cluster = dist::Cluster::world();
  core::install_stop_handlers();
  evaluator::SubnetAccuracyOptions ao = subnet_accuracy_options(f, x, images, cache);
  ao.write_cache = cluster.is_root();
  evaluator::SubnetAccuracy accuracy(f.net, f.net->space, data::open_split(x.data, "train"), data::open_split(x.data, "holdout"), ao);
  const std::vector<evaluator::MeasuredArch> measured = measure_samples(accuracy, predictor_samples(f, q.samples, q.seed));
  PredictorResult result;
  result.measured = accuracy.measured();
  result.cached = accuracy.hits();
  spdlog::info("{} subnets measured, {} from the cache {}", accuracy.measured(), accuracy.hits(), cache);
  const size_t test = std::max<size_t>(2, size_t(double(measured.size()) * q.test_fraction));
  const std::vector<evaluator::MeasuredArch> train_set(measured.begin(), measured.end() - std::ptrdiff_t(test));
  const std::vector<evaluator::MeasuredArch> test_set(measured.end() - std::ptrdiff_t(test), measured.end());
  std::string notes = "supernet " + fs::path(f.path).filename().string() + ", " + ao.cache_tag;
  if (q.noise_check) {
    result.has_noise = true;
    result.noise = holdout_noise(accuracy, test_set, q.seed);
    notes += fmt::format("; noise: sd {:.2f} points, error-free predictor tau {:.3f}", result.noise.sd,
                         result.noise.perfect_predictor_tau);
  }
  if (!cluster.is_root()) return result;  // rank 0 trains and writes the predictor
  evaluator::PredictorTrainOptions po;
  po.epochs = q.epochs;
  po.seed = q.seed;
  spdlog::info("training the predictor on {} subnets ({} epochs)", train_set.size(), po.epochs);
  const evaluator::AccuracyPredictor p = evaluator::AccuracyPredictor::train(f.net->space, train_set, po);
  result.metrics = p.evaluate(test_set);
  result.metrics.train_samples = int(train_set.size());
  core::create_output_dir(fs::absolute(out).parent_path().string());
  p.save(out, result.metrics, notes);
  result.path = out;
  return result;
}

}  // namespace tinynas::nas
