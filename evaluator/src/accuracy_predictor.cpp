#include "tinynas/evaluator/accuracy_predictor.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/checkpoint.h"

namespace tinynas::evaluator {

using json = nlohmann::json;

namespace {

template <typename T>
void one_hot(std::vector<float>& out, const std::vector<T>& choices, T value) {
  for (const T& c : choices) out.push_back(c == value ? 1.0f : 0.0f);
}

// A [out, in] float tensor as an Eigen matrix.
Eigen::MatrixXf to_matrix(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat).contiguous();
  return Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      c.data_ptr<float>(), c.size(0), c.size(1));
}

json space_fingerprint(const search_space::SearchSpace& s) {
  return json{{"kernels", s.kernel_choices},   {"expands", s.expand_choices}, {"depths", s.depth_choices},
              {"widths", s.width_choices},     {"resolutions", s.resolution_choices},
              {"stages", s.num_stages()},      {"encoding", arch_encoding_size(s)}};
}

}  // namespace

std::vector<float> encode_arch(const search_space::SearchSpace& space, const search_space::ArchSpec& arch) {
  const search_space::ArchSpec a = space.normalized(arch);
  std::vector<float> x;
  x.reserve(size_t(arch_encoding_size(space)));
  const int depth = space.max_depth();
  for (int s = 0; s < space.num_stages(); ++s)
    for (int b = 0; b < depth; ++b) {
      const size_t slot = size_t(s * depth + b);
      if (b < a.d[size_t(s)]) {
        one_hot(x, space.kernel_choices, a.ks[slot]);
        one_hot(x, space.expand_choices, a.e[slot]);
      } else {
        x.insert(x.end(), space.kernel_choices.size() + space.expand_choices.size(), 0.0f);
      }
    }
  const size_t last = size_t(space.num_block_slots() - 1);
  one_hot(x, space.kernel_choices, a.ks[last]);
  one_hot(x, space.expand_choices, a.e[last]);
  for (int s = 0; s < space.num_stages(); ++s) one_hot(x, space.depth_choices, a.d[size_t(s)]);
  one_hot(x, space.resolution_choices, a.r);
  if (space.width_choices.size() > 1) one_hot(x, space.width_choices, a.w);
  return x;
}

int arch_encoding_size(const search_space::SearchSpace& space) {
  const int per_slot = int(space.kernel_choices.size() + space.expand_choices.size());
  return space.num_block_slots() * per_slot + space.num_stages() * int(space.depth_choices.size()) +
         int(space.resolution_choices.size()) + (space.width_choices.size() > 1 ? int(space.width_choices.size()) : 0);
}

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw core::InputError("kendall_tau: lists of different lengths");
  int64_t concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) ++ties_a;
      else if (db == 0) ++ties_b;
      else if ((da > 0) == (db > 0)) ++concordant;
      else ++discordant;
    }
  const double n1 = double(concordant + discordant + ties_a), n2 = double(concordant + discordant + ties_b);
  return n1 > 0 && n2 > 0 ? double(concordant - discordant) / std::sqrt(n1 * n2) : 0.0;
}

MeasurementNoise measurement_noise(const std::vector<std::pair<double, double>>& halves, uint64_t seed) {
  if (halves.size() < 3) throw core::InputError("measurement noise needs at least 3 subnets measured on both holdout halves");
  MeasurementNoise m;
  m.subnets = int(halves.size());
  std::vector<double> a, b, full;
  double sum = 0, sum_sq = 0;
  for (const auto& [x, y] : halves) {
    a.push_back(x);
    b.push_back(y);
    full.push_back(0.5 * (x + y));
    sum += x - y;
    sum_sq += (x - y) * (x - y);
  }
  const double n = double(halves.size());
  // Each half's error has twice the variance of the full figure's; their difference, four times.
  const double var_diff = std::max(0.0, (sum_sq - sum * sum / n) / (n - 1));
  m.sd = 0.5 * std::sqrt(var_diff);
  m.halves_tau = kendall_tau(a, b);
  constexpr int kDraws = 200;
  core::Rng rng(seed);
  double tau_sum = 0;
  std::vector<double> noisy(full.size());
  for (int t = 0; t < kDraws; ++t) {
    for (size_t i = 0; i < full.size(); ++i) {
      // Box-Muller; 1 - u keeps the logarithm finite.
      const double u = 1.0 - rng.uniform(), v = rng.uniform();
      noisy[i] = full[i] + m.sd * std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
    }
    tau_sum += kendall_tau(noisy, full);
  }
  m.perfect_predictor_tau = tau_sum / kDraws;
  return m;
}

AccuracyPredictor AccuracyPredictor::train(const search_space::SearchSpace& space, const std::vector<MeasuredArch>& data,
                                           const PredictorTrainOptions& o) {
  if (data.empty()) throw core::InputError("the accuracy predictor needs measured subnets to train on");
  // One thread: for an MLP this small, a second one only adds synchronisation (measured: 5 ms per
  // step on one thread, 15 ms on two). Restored on the way out.
  struct ThreadsGuard {
    int saved = torch::get_num_threads();
    ThreadsGuard() { torch::set_num_threads(1); }
    ~ThreadsGuard() { torch::set_num_threads(saved); }
  } threads;
  torch::manual_seed(o.seed);
  const int64_t n = int64_t(data.size()), in = arch_encoding_size(space);
  torch::Tensor x = torch::empty({n, in});
  torch::Tensor y = torch::empty({n, 1});
  double mean = 0;
  for (const auto& d : data) mean += d.top1;
  mean /= double(n);
  double var = 0;
  for (const auto& d : data) var += (d.top1 - mean) * (d.top1 - mean);
  const double scale = std::max(std::sqrt(var / double(n)), 1e-3);
  for (int64_t i = 0; i < n; ++i) {
    const auto e = encode_arch(space, data[size_t(i)].arch);
    std::copy(e.begin(), e.end(), x[i].data_ptr<float>());
    y[i][0] = float((data[size_t(i)].top1 - mean) / scale);
  }
  torch::nn::Sequential mlp;
  int64_t width = in;
  for (int l = 0; l < o.layers; ++l) {
    mlp->push_back(torch::nn::Linear(width, o.hidden));
    mlp->push_back(torch::nn::ReLU());
    width = o.hidden;
  }
  mlp->push_back(torch::nn::Linear(width, 1));
  torch::optim::Adam opt(mlp->parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  core::Rng rng(o.seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[rng.below(uint32_t(i + 1))]);
    for (int64_t start = 0; start < n; start += o.batch_size) {
      const int64_t end = std::min(n, start + o.batch_size);
      const torch::Tensor idx = torch::tensor(std::vector<int64_t>(order.begin() + start, order.begin() + end));
      opt.zero_grad();
      const torch::Tensor loss = torch::mse_loss(mlp->forward(x.index_select(0, idx)), y.index_select(0, idx));
      loss.backward();
      opt.step();
    }
  }
  AccuracyPredictor p;
  p.space_ = space;
  p.mean_ = mean;
  p.scale_ = scale;
  for (const auto& m : mlp->modules(false)) {
    if (const auto* linear = m->as<torch::nn::Linear>()) {
      const torch::Tensor w = linear->weight.detach().contiguous(), b = linear->bias.detach().contiguous();
      p.weights_.push_back(to_matrix(w));
      p.biases_.push_back(Eigen::Map<const Eigen::VectorXf>(b.data_ptr<float>(), b.size(0)));
    }
  }
  return p;
}

double AccuracyPredictor::predict(const search_space::ArchSpec& arch) const {
  if (weights_.empty()) throw core::InputError("the accuracy predictor is not trained");
  const std::vector<float> e = encode_arch(space_, arch);
  Eigen::VectorXf h = Eigen::Map<const Eigen::VectorXf>(e.data(), Eigen::Index(e.size()));
  for (size_t l = 0; l < weights_.size(); ++l) {
    h = weights_[l] * h + biases_[l];
    if (l + 1 < weights_.size()) h = h.cwiseMax(0.0f);
  }
  return mean_ + scale_ * double(h(0));
}

PredictorMetrics AccuracyPredictor::evaluate(const std::vector<MeasuredArch>& test) const {
  PredictorMetrics m;
  m.test_samples = int(test.size());
  std::vector<double> predicted, measured;
  double sq = 0;
  for (const auto& t : test) {
    predicted.push_back(predict(t.arch));
    measured.push_back(t.top1);
    sq += (predicted.back() - t.top1) * (predicted.back() - t.top1);
  }
  m.rmse = test.empty() ? 0 : std::sqrt(sq / double(test.size()));
  m.kendall_tau = test.size() > 1 ? kendall_tau(predicted, measured) : 0;
  return m;
}

void AccuracyPredictor::save(const std::string& path, const PredictorMetrics& metrics, const std::string& notes) const {
  torch::serialize::OutputArchive archive;
  json meta{{"format", "tinynas-accuracy-predictor-1"},
            {"space", space_fingerprint(space_)},
            {"mean", mean_},
            {"scale", scale_},
            {"layers", weights_.size()},
            {"train_samples", metrics.train_samples},
            {"test_samples", metrics.test_samples},
            {"rmse", metrics.rmse},
            {"kendall_tau", metrics.kendall_tau},
            {"notes", notes}};
  archive.write("meta", c10::IValue(meta.dump()));
  for (size_t l = 0; l < weights_.size(); ++l) {
    const auto& w = weights_[l];
    // Row-major [out, in], as torch::nn::Linear keeps it.
    const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = w;
    archive.write("weight" + std::to_string(l), torch::from_blob(const_cast<float*>(rows.data()), {w.rows(), w.cols()}).clone());
    archive.write("bias" + std::to_string(l),
                  torch::from_blob(const_cast<float*>(biases_[l].data()), {biases_[l].size()}).clone());
  }
  supernet::save_archive_atomic(archive, path);
}

AccuracyPredictor AccuracyPredictor::load(const std::string& path, const search_space::SearchSpace& space) {
  torch::serialize::InputArchive archive;
  supernet::load_archive(archive, path);
  try {
    c10::IValue v;
    if (!archive.try_read("meta", v) || !v.isString()) throw core::InputError("no description record");
    const json meta = json::parse(v.toStringRef());
    if (meta.at("format") != "tinynas-accuracy-predictor-1") throw core::InputError("not an accuracy predictor");
    if (meta.at("space") != space_fingerprint(space))
      throw core::InputError("it was trained for another space: " + meta.at("space").dump());
    AccuracyPredictor p;
    p.space_ = space;
    p.mean_ = meta.at("mean").get<double>();
    p.scale_ = meta.at("scale").get<double>();
    p.saved_metrics_.train_samples = meta.at("train_samples").get<int>();
    p.saved_metrics_.test_samples = meta.at("test_samples").get<int>();
    p.saved_metrics_.rmse = meta.at("rmse").get<double>();
    p.saved_metrics_.kendall_tau = meta.at("kendall_tau").get<double>();
    p.notes_ = meta.at("notes").get<std::string>();
    const size_t layers = meta.at("layers").get<size_t>();
    for (size_t l = 0; l < layers; ++l) {
      torch::Tensor w, b;
      archive.read("weight" + std::to_string(l), w);
      archive.read("bias" + std::to_string(l), b);
      w = w.contiguous();
      b = b.contiguous();
      p.weights_.push_back(to_matrix(w));
      p.biases_.push_back(Eigen::Map<const Eigen::VectorXf>(b.data_ptr<float>(), b.size(0)));
    }
    if (p.weights_.empty() || p.weights_.front().cols() != arch_encoding_size(space))
      throw core::InputError("its first layer does not read this space's encoding");
    return p;
  } catch (const core::InputError& e) {
    throw core::InputError(path + ": " + e.what());
  } catch (const std::exception& e) {
    throw core::InputError(path + ": not an accuracy predictor (" + e.what() + ")");
  }
}

}  // namespace tinynas::evaluator
