#include "tinynas/evaluator/subnet_accuracy.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/stop_signal.h"
#include "tinynas/supernet/cached_dataset.h"
#include "tinynas/supernet/evaluate.h"
#include "tinynas/supernet/subset.h"

namespace tinynas::evaluator {

using json = nlohmann::json;

SubnetAccuracy::SubnetAccuracy(supernet::OFASupernet net, const search_space::SearchSpace& space,
                               std::shared_ptr<const data::Dataset> train, std::shared_ptr<const data::Dataset> holdout,
                               SubnetAccuracyOptions options)
    : net_(std::move(net)), space_(space), train_(std::move(train)), holdout_(std::move(holdout)), options_(options) {
  if (!train_ || !holdout_) throw core::InputError("subnet accuracy needs a training and a holdout split");
  // The calibration images and the holdout stay decoded and resized in memory per resolution: every
  // measurement reads the same images, so after the first one only the forward passes remain.
  const std::vector<int> subset =
      supernet::calibration_indices(*train_, options_.calibration_images, options_.calibration_seed);
  train_ = std::make_shared<data::CachedDataset>(std::make_shared<data::SubsetDataset>(train_, subset));
  holdout_ = std::make_shared<data::CachedDataset>(holdout_);
  std::vector<int> even, odd;
  for (int i = 0; i < holdout_->size(); ++i) (i % 2 ? odd : even).push_back(i);
  holdout_even_ = std::make_shared<data::SubsetDataset>(holdout_, even);
  holdout_odd_ = std::make_shared<data::SubsetDataset>(holdout_, odd);
  for (int i = 0; i < int(subset.size()); ++i) calibration_.push_back(i);
  if (!options_.cache_path.empty() && core::exists(options_.cache_path)) {
    try {
      const json j = json::parse(core::read_text_file(options_.cache_path));
      if (j.at("tag").get<std::string>() != options_.cache_tag)
        throw core::InputError("it holds figures of " + j.at("tag").get<std::string>() + ", not of " + options_.cache_tag);
      for (const auto& [key, value] : j.at("top1").items()) {
        const double top1 = value.get<double>();
        if (!(top1 >= 0 && top1 <= 100))  // NaN too
          throw core::InputError("the figure of " + key + " is " + value.dump() + ", not a top-1 between 0 and 100 %");
        cache_[key] = top1;
      }
    } catch (const core::InputError& e) {
      throw core::InputError("accuracy cache " + options_.cache_path + ": " + e.what());
    } catch (const std::exception& e) {
      throw core::InputError("accuracy cache " + options_.cache_path + " is not a cache file (" + e.what() + ")");
    }
  }
}

double SubnetAccuracy::cached(const search_space::ArchSpec& arch) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = cache_.find(search_space::arch_key(space_, arch));
  return it == cache_.end() ? -1.0 : it->second;
}

double SubnetAccuracy::operator()(const search_space::ArchSpec& arch) {
  const std::string key = search_space::arch_key(space_, arch);
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = cache_.find(key); it != cache_.end()) {
    ++hits_;
    return it->second;
  }
  torch::NoGradGuard no_grad;
  activate_and_recalibrate(arch);
  const double top1 = supernet::evaluate([&](const torch::Tensor& in) { return net_->forward(in); }, *holdout_, arch.r,
                                         options_.batch_size)
                          .top1();
  cache_[key] = top1;
  ++measured_;
  if (save_every > 0 && measured_ % save_every == 0) write_cache_file();
  return top1;
}

void SubnetAccuracy::activate_and_recalibrate(const search_space::ArchSpec& arch) {
  net_->set_active(arch);
  supernet::recalibrate_bn(net_, *train_, calibration_, arch.r, options_.batch_size);
}

void SubnetAccuracy::write_cache_file() const {
  if (options_.cache_path.empty() || !options_.write_cache) return;
  std::filesystem::create_directories(std::filesystem::absolute(options_.cache_path).parent_path());
  json j{{"tag", options_.cache_tag}, {"top1", cache_}};
  core::write_file_atomic(options_.cache_path, j.dump(1) + "\n");
}

std::pair<double, double> SubnetAccuracy::split_halves(const search_space::ArchSpec& arch) {
  std::lock_guard<std::mutex> lock(mutex_);
  torch::NoGradGuard no_grad;
  activate_and_recalibrate(arch);
  const auto forward = [&](const torch::Tensor& in) { return net_->forward(in); };
  return {supernet::evaluate(forward, *holdout_even_, arch.r, options_.batch_size).top1(),
          supernet::evaluate(forward, *holdout_odd_, arch.r, options_.batch_size).top1()};
}

std::vector<double> SubnetAccuracy::measure_all(const std::vector<search_space::ArchSpec>& archs, const dist::Cluster& cluster,
                                                const std::function<void()>& on_measured) {
  std::vector<std::string> keys;
  std::string all_keys;
  for (const auto& a : archs) {
    keys.push_back(search_space::arch_key(space_, a));
    all_keys += keys.back() + "\n";
  }
  if (cluster.size() > 1) {
    // The ranks run the same deterministic steps; a different list would pair wrong figures with archs.
    std::string root_keys = all_keys;
    cluster.broadcast(root_keys);
    if (cluster.any(root_keys != all_keys))
      throw core::RuntimeFailure("MPI ranks disagree on the subnets to measure (rank " + std::to_string(cluster.rank()) +
                           "): they must run the same command with the same files");
  }
  std::vector<size_t> todo;  // uncached, first occurrence only
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, bool> queued;
    for (size_t i = 0; i < archs.size(); ++i) {
      if (cache_.count(keys[i])) ++hits_;
      else if (queued.emplace(keys[i], true).second) todo.push_back(i);
    }
  }
  // One measurement per rank at a time, with a stop signal (Slurm's time limit: SIGTERM, then SIGKILL
  // after the grace period, 30 s by default) checked on every rank between them: a stopped job keeps
  // what it measured and ends within one measurement.
  const size_t chunk = size_t(cluster.size());
  for (size_t first = 0; first < todo.size(); first += chunk) {
    if (cluster.any(core::stop_requested())) {
      save();
      throw core::Interrupted("stopped by a signal after measuring " + std::to_string(first) + " of " +
                              std::to_string(todo.size()) + " subnets" +
                              (options_.cache_path.empty() ? std::string() : ", cached in " + options_.cache_path));
    }
    const size_t count = std::min(chunk, todo.size() - first);
    int64_t measured_here = 0;
    const auto figures = dist::map_items(cluster, count, [&](size_t k) {
      const double top1 = (*this)(archs[todo[first + k]]);
      ++measured_here;
      if (on_measured) on_measured();
      return json(top1).dump();
    });
    std::lock_guard<std::mutex> lock(mutex_);
    measured_ += int64_t(count) - measured_here;  // the other ranks' measurements count too
    for (size_t k = 0; k < count; ++k) cache_[keys[todo[first + k]]] = json::parse(figures[k]).get<double>();
  }
  std::vector<double> out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& key : keys) out.push_back(cache_.at(key));
  }
  if (!todo.empty()) save();
  return out;
}

void SubnetAccuracy::save() const {
  std::lock_guard<std::mutex> lock(mutex_);
  write_cache_file();
}

}  // namespace tinynas::evaluator
