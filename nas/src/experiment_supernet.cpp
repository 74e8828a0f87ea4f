#include "tinynas/nas/experiment_supernet.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/evaluate.h"

namespace tinynas::nas {

supernet::SupernetFile load_experiment_supernet(const Experiment& x, const std::string& flag) {
  const std::string path = flag.empty() ? x.supernet.checkpoint : flag;
  if (path.empty())
    throw core::InputError("no supernet: pass --supernet FILE or set supernet.checkpoint in '" + x.path + "'");
  // The experiment's options stand in for those that older files do not record (eval_batch_size, data).
  auto f = supernet::load_supernet(path, x.train.options);
  if (f.net->space.in_channels != x.space.in_channels || f.net->space.num_classes != x.space.num_classes)
    throw core::InputError("'" + path + "' was trained for " + std::to_string(f.net->space.in_channels) + "-channel input and " +
                     std::to_string(f.net->space.num_classes) + " classes, which does not match the experiment '" +
                     x.path + "'");
  return f;
}

search_space::ArchSpec resolve_arch(const supernet::SupernetFile& f, const std::string& arch, int resolution) {
  const auto& rs = f.resolutions;
  if (arch == "largest" || arch == "smallest") {
    const int r = resolution > 0 ? resolution : arch == "largest" ? *std::max_element(rs.begin(), rs.end())
                                                                  : *std::min_element(rs.begin(), rs.end());
    return arch == "largest" ? f.net->largest(r) : f.net->smallest(r);
  }
  search_space::ArchSpec a = search_space::load_arch(arch);
  if (resolution > 0) a.r = resolution;
  f.net->space.validate(a);
  if (std::find(rs.begin(), rs.end(), a.r) == rs.end())
    spdlog::warn("resolution {} is not one the supernet was trained at; its accuracy may be poor", a.r);
  return a;
}

uint64_t training_seed(const supernet::SupernetFile& f, const Experiment& x) {
  return f.train_options ? f.train_options->seed : x.train.options.seed;
}

int training_eval_batch_size(const supernet::SupernetFile& f, const Experiment& x) {
  return f.train_options ? f.train_options->eval_batch_size : x.train.options.eval_batch_size;
}

evaluator::SubnetAccuracyOptions subnet_accuracy_options(const supernet::SupernetFile& f, const Experiment& x, int images,
                                              const std::string& cache_path) {
  evaluator::SubnetAccuracyOptions o;
  o.calibration_images = images;
  o.calibration_seed = supernet::calibration_seed(training_seed(f, x));
  o.batch_size = training_eval_batch_size(f, x);
  o.cache_path = cache_path;
  o.cache_tag = std::filesystem::path(f.path).filename().string() + ", " + std::to_string(images) +
                " recalibration images, " + x.data.kind + " holdout of " + std::to_string(x.data.holdout) + " (seed " +
                std::to_string(x.data.seed) + ")";
  return o;
}

void recalibrate(supernet::SupernetFile& f, const Experiment& x, const search_space::ArchSpec& arch, int images) {
  // The calibration subset and batch size of the run that trained the supernet, so that these figures
  // reproduce its metrics.
  const auto train = data::open_split(x.data, "train");
  f.net->set_active(arch);
  const auto idx = supernet::calibration_indices(*train, images, supernet::calibration_seed(training_seed(f, x)));
  supernet::recalibrate_bn(f.net, *train, idx, arch.r, training_eval_batch_size(f, x));
}

}  // namespace tinynas::nas
