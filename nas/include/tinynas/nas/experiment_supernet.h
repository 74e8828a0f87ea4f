#pragma once
// The trained supernet of an experiment as every pipeline loads it: the file, the arch to activate, the
// training run's seed and calibration subset, BN recalibration.
#include <string>

#include "tinynas/evaluator/subnet_accuracy.h"
#include "tinynas/nas/config.h"
#include "tinynas/supernet/checkpoint.h"

namespace tinynas::nas {

// --supernet, else the experiment's supernet.checkpoint; InputError when neither is set.
supernet::SupernetFile load_experiment_supernet(const Experiment& x, const std::string& flag);
// "largest" / "smallest" (at `resolution`, default the supernet's largest / smallest training
// resolution) or an arch JSON file (whose r `resolution` overrides when given).
search_space::ArchSpec resolve_arch(const supernet::SupernetFile& f, const std::string& arch, int resolution);
// The seed and evaluation batch size of the run that trained the supernet (its calibration subset
// follows from the seed), the experiment's when the file does not say.
uint64_t training_seed(const supernet::SupernetFile& f, const Experiment& x);
int training_eval_batch_size(const supernet::SupernetFile& f, const Experiment& x);
// How `predictor build` and `search` measure subnets of `f`: the training run's calibration subset and
// batch size, `images` recalibration images, figures cached in `cache_path` under a tag naming the
// supernet file and the data.
evaluator::SubnetAccuracyOptions subnet_accuracy_options(const supernet::SupernetFile& f, const Experiment& x, int images,
                                              const std::string& cache_path);
// Recalibrates the BN statistics of the active subnet on the experiment's fixed calibration subset.
void recalibrate(supernet::SupernetFile& f, const Experiment& x, const search_space::ArchSpec& arch, int images);

}  // namespace tinynas::nas
