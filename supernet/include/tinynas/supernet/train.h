#pragma once
// Supernet training: progressive shrinking (once-for-all) or the sandwich rule with in-place
// distillation (BigNAS), with per-epoch atomic checkpoints that resume to the same final weights.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tinynas/search_space/space.h"
#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/normalization.h"

namespace tinynas::supernet {

// One training phase: its own SGD optimizer and cosine schedule over `epochs`, with the elastic
// choices it samples from (an empty set = the largest choice only).
struct PhaseOptions {
  std::string name;
  int epochs = 1;
  double lr = 0.05;
  std::vector<int> kernels;  // kernel sizes sampled in this phase; empty = the largest only
  std::vector<int> expands;
  std::vector<int> depths;
  int subnets_per_step = 1;
  // BigNAS sandwich rule: every step trains the largest, the smallest and subnets_per_step - 2 random
  // subnets, the largest (on the true labels) teaching the others through its soft outputs. The step's
  // gradient is the mean over its subnets (once-for-all and BigNAS sum them: scale lr to compare).
  bool sandwich = false;
  // Re-order middle channels by importance before the phase (once-for-all, before elastic expand).
  bool reorder_channels = false;
};

struct TrainOptions {
  search_space::SearchSpace space;  // the space whose subnets the supernet holds
  // What the data are (set by the caller: path, split sizes, holdout seed): part of the options a
  // checkpoint must match, so that a resume cannot silently continue on another split.
  std::string data_description;
  data::Normalization normalization;  // of the input pixels, applied by the supernet's stem
  double width = 0.5;              // the supernet's fixed width multiplier
  std::vector<int> resolutions;    // elastic resolution: one per subnet pass, from this set
  std::vector<PhaseOptions> phases;
  int batch_size = 128;
  uint64_t seed = 0;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 3e-5;      // conv and linear weights only (not BN, biases, kernel transforms)
  double label_smoothing = 0.1;
  // Loss of a distilled subnet: cross-entropy + kd_weight * soft cross-entropy to the teacher. The
  // teacher is the step's largest subnet (sandwich) or the largest subnet frozen at the end of the first
  // progressive-shrinking phase; 0 turns distillation off.
  double kd_weight = 1.0;
  int warmup_epochs = 0;           // linear warm-up at the start of the first phase
  int recalibration_images = 2000; // BN recalibration subset (training images) for the epoch metrics
  int eval_batch_size = 256;
  int64_t max_steps_per_epoch = 0; // 0 = the whole training set (a smaller value is for tests and benchmarks)
  // Data parallelism: every step's batch is split into this many equal parts, each with its own forward
  // and backward pass (BN normalizes per part, as in data-parallel training without synchronized BN);
  // the gradients are averaged over the parts and the BN running statistics, each updated from the same
  // starting point, too. The job's MPI ranks share the parts (rank k runs parts k, k + ranks, ...), so
  // a run on N ranks equals a one-process run with the same batch_parts. Must divide batch_size and be
  // a multiple of the rank count; 1 and one rank is the plain single-batch step.
  int batch_parts = 1;
};

// Where a run writes: checkpoint.pt (latest, every epoch), supernet.pt (final weights + metadata),
// metrics.csv.
struct TrainPaths {
  std::string dir;
  std::string checkpoint() const { return dir + "/checkpoint.pt"; }
  std::string supernet() const { return dir + "/supernet.pt"; }
  std::string metrics() const { return dir + "/metrics.csv"; }
};

struct EpochMetrics {
  std::string phase;
  int epoch = 0;           // 1-based, within the phase
  int global_epoch = 0;    // 1-based, over all phases
  double train_loss = 0;   // mean loss of every subnet pass
  double lr = 0;           // at the end of the epoch
  double images_per_s = 0; // training images per second (one image = one sample of the batch per step)
  double seconds = 0;
  double holdout_largest = 0;   // holdout top-1 after recalibration, largest subnet at the largest r
  double holdout_smallest = 0;  // smallest subnet at the smallest r
  // Data-parallel steps only (not in metrics.csv): time in the gradient MPI_Allreduce and its size.
  double allreduce_seconds = 0;
  int64_t allreduce_floats = 0;  // of the last step's fused buffer
};

// What a progress callback is told: once when an epoch starts (or resumes inside it), then after every step.
struct StepProgress {
  bool epoch_start = false;  // no step of the epoch has run in this process yet; `step` is where it starts
  int64_t step = 0;          // steps done in the epoch
  int64_t steps = 0;         // steps per epoch
  double loss = 0;           // mean loss of the epoch so far
  double images_per_s = 0;   // of this process's steps in the epoch (a resumed run's earlier steps not counted)
};
using StepCallback = std::function<void(const StepProgress&)>;

// Everything train_supernet checks before it writes anything: the options, the data against the space
// and, when resuming, that the checkpoint in paths.dir is intact and from the same options. Callers
// run it before they touch paths.dir (a refused request changes nothing there). InputError otherwise.
void check_training_start(const TrainOptions& options, const data::Dataset& train, const TrainPaths& paths, bool resume);

// Trains a supernet on `train` (holdout metrics on `holdout`); resume = continue from the checkpoint in
// paths.dir, which must come from the same options (InputError otherwise) except that the last phase may
// have more epochs than the run was started with: the run then goes on, its steps from the resume point
// on taking the learning rate the longer cosine schedule gives them (a run started with that many
// epochs would have had a higher rate before the resume too), and ends after the new count. Returns
// every epoch's metrics.
// Under MPI every rank calls it with the same options; rank 0 writes the files (paths.dir must be on a
// file system all ranks see, for resuming). On SIGTERM / SIGUSR1 (on any rank) the run finishes its
// step, writes a checkpoint of that point and throws Interrupted; resuming continues from that step.
std::vector<EpochMetrics> train_supernet(const TrainOptions& options, const data::Dataset& train,
                                         const data::Dataset& holdout, const TrainPaths& paths, bool resume,
                                         const StepCallback& on_step = {});

// The space a phase samples its subnets from: each stage's kernel sizes and depths are those of the
// supernet's space (stage restrictions included) that the phase lists, or the stage's largest when the
// phase lists none of them; the last block takes the phase's kernel sizes, every block its expand ratios.
// The arch layout (block slots per stage) is the supernet's.
search_space::SearchSpace phase_space(const TrainOptions& options, const PhaseOptions& phase);

// The options as JSON: stored in checkpoints (to refuse resuming with different options) and in the
// final supernet file.
nlohmann::json options_to_json(const TrainOptions& options);
// The options that JSON describes (InputError when malformed). Of the keys that files written before
// they existed lack, eval_batch_size and data come from `absent` and batch_parts is 1.
TrainOptions options_from_json(const nlohmann::json& json, const TrainOptions& absent = {});

}  // namespace tinynas::supernet

namespace tinynas::supernet {

struct FinetuneOptions {
  int epochs = 1;
  double lr = 0.01;
  int batch_size = 128;
  double momentum = 0.9;
  double weight_decay = 3e-5;
  double label_smoothing = 0.1;
  uint64_t seed = 0;
  int64_t max_steps_per_epoch = 0;  // 0 = the whole training set
  // When set: the state after every epoch is written there (atomically), and a run that finds the file
  // continues after its last epoch, to the same weights as an uninterrupted run.
  std::string checkpoint{};
};

}  // namespace tinynas::supernet
