#pragma once
// The training pipelines of an experiment: its supernet (`tinynas train`) and the accuracy predictor of
// a trained supernet (`tinynas predictor build`). Both are resumable and stop cleanly on SIGTERM/SIGUSR1
// (core::Interrupted after their checkpoint or cache is written).
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/evaluator/accuracy_predictor.h"
#include "tinynas/nas/config.h"
#include "tinynas/supernet/dataset.h"

namespace tinynas::nas {

struct TrainRequest {
  Experiment experiment;
  std::string out;                 // "" = runs/<experiment>-supernet
  bool resume = false;
  int epochs = 0;                  // > 0: the epochs of a sandwich run
  int64_t max_steps_per_epoch = -1;
  double width = 0;                // > 0: the supernet's width (one of the space's)
  std::vector<int> resolutions;    // non-empty: the training resolutions
  int batch_parts = 0;             // > 0: batch parts; 0 = the config's, or the MPI rank count
  int threads = 0;                 // 0 = the config's
};

struct TrainResult {
  std::string out;            // the run folder
  std::string supernet_path;  // OUT/supernet.pt
  int epochs = 0;             // epochs this call ran
};

TrainResult train_experiment(const TrainRequest& request);

// The per-channel normalization a network's stem applies (data.normalize): the configured one, or the
// training split's own statistics over a seeded sample of at most 10,000 images at `resolution` (the
// supernet's largest).
data::Normalization input_normalization(const data::DataConfig& data, const data::Dataset& train, int resolution);

struct PredictorRequest {
  Experiment experiment;
  std::string supernet;         // "" = the experiment's
  std::string out;              // "" = predictor.pt beside the supernet
  std::string cache;            // "" = accuracy_cache.json beside the predictor
  int samples = 1000;
  double test_fraction = 0.2;
  int epochs = 500;
  int calibration_images = 0;   // 0 = the config's
  uint64_t seed = 0;
  bool noise_check = false;
  int threads = 0;
};

struct PredictorResult {
  std::string path;             // "" on MPI ranks other than 0, which write nothing
  evaluator::PredictorMetrics metrics;
  int64_t measured = 0, cached = 0;
  bool has_noise = false;
  evaluator::MeasurementNoise noise;
};

PredictorResult build_predictor(const PredictorRequest& request);

}  // namespace tinynas::nas
