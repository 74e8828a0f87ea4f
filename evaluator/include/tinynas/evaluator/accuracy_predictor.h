#pragma once
// The accuracy predictor of once-for-all: an MLP over a one-hot encoding of the arch (kernel and
// expand ratio of every active block slot, the depth of every stage, the resolution and, when the
// space has several, the width), trained in LibTorch on measured subnets and evaluated in plain C++
// (Eigen), so the search can query it from many threads at once.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "tinynas/search_space/space.h"

namespace tinynas::evaluator {

// The encoding the predictor reads; its length is arch_encoding_size(space).
std::vector<float> encode_arch(const search_space::SearchSpace& space, const search_space::ArchSpec& arch);
int arch_encoding_size(const search_space::SearchSpace& space);

struct MeasuredArch {
  search_space::ArchSpec arch;
  double top1 = 0;
};

struct PredictorTrainOptions {
  int hidden = 400;  // once-for-all's predictor: 3 hidden layers of 400
  int layers = 3;
  int epochs = 500;
  int batch_size = 64;
  double lr = 1e-3;
  double weight_decay = 1e-4;
  uint64_t seed = 0;
};

struct PredictorMetrics {
  int train_samples = 0, test_samples = 0;
  double rmse = 0;         // top-1 points, on the test samples
  double kendall_tau = 0;  // rank agreement on the test samples
};

// Kendall's tau-b of two equally long lists.
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);

// How noisy the predictor's targets are, from subnets measured on the two halves of the holdout
// (equal sizes, so a full-holdout figure is their mean): the limit on the tau any predictor can reach
// against measured figures.
struct MeasurementNoise {
  int subnets = 0;
  double sd = 0;                     // error of a full-holdout figure, points: sd(half A - half B) / 2
  double halves_tau = 0;             // tau between the two half-holdout figures
  double perfect_predictor_tau = 0;  // expected tau of an error-free predictor against full-holdout figures
};
// Throws InputError for fewer than 3 subnets. The last figure is simulated (full figures plus Gaussian
// noise of `sd`, 200 draws, deterministic in the seed); it slightly overestimates the limit, since the
// measured figures are themselves spread wider than the true accuracies.
MeasurementNoise measurement_noise(const std::vector<std::pair<double, double>>& halves, uint64_t seed = 0);

class AccuracyPredictor {
 public:
  AccuracyPredictor() = default;
  // Trains on `train` (deterministic in the seed); throws InputError for an empty set.
  static AccuracyPredictor train(const search_space::SearchSpace& space, const std::vector<MeasuredArch>& train,
                                 const PredictorTrainOptions& options);
  double predict(const search_space::ArchSpec& arch) const;  // top-1 (%); thread-safe
  PredictorMetrics evaluate(const std::vector<MeasuredArch>& test) const;

  // A torch archive (weights and a JSON description), written atomically; load throws InputError
  // naming the path, also when the file was made for another space.
  void save(const std::string& path, const PredictorMetrics& metrics, const std::string& notes) const;
  static AccuracyPredictor load(const std::string& path, const search_space::SearchSpace& space);
  const PredictorMetrics& saved_metrics() const { return saved_metrics_; }
  const std::string& notes() const { return notes_; }

 private:
  search_space::SearchSpace space_;
  std::vector<Eigen::MatrixXf> weights_;  // [out, in] per layer
  std::vector<Eigen::VectorXf> biases_;
  double mean_ = 0, scale_ = 1;           // targets are normalized for training
  PredictorMetrics saved_metrics_;
  std::string notes_;
};

}  // namespace tinynas::evaluator
