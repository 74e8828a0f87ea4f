#include "tinynas/supernet/subset.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"

namespace tinynas::data {

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> parent, std::vector<int> indices)
    : parent_(std::move(parent)), indices_(std::move(indices)) {
  if (!parent_) throw std::invalid_argument("SubsetDataset needs a parent data set");
  for (int i : indices_)
    if (i < 0 || i >= parent_->size())
      throw core::InputError("subset index " + std::to_string(i) + " is outside " + parent_->describe() + " (" +
                       std::to_string(parent_->size()) + " images)");
}

std::string SubsetDataset::describe() const {
  return parent_->describe() + " (subset of " + std::to_string(indices_.size()) + " images)";
}

void SubsetDataset::load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const {
  std::vector<int> parent_idx(idx.size());
  for (size_t j = 0; j < idx.size(); ++j) {
    if (idx[j] < 0 || idx[j] >= size())
      throw std::out_of_range(describe() + ": image index " + std::to_string(idx[j]) + " is outside 0.." +
                              std::to_string(size() - 1));
    parent_idx[j] = indices_[size_t(idx[j])];
  }
  parent_->load_batch(parent_idx, r, train, seed, out);
}

HoldoutSplit split_holdout(int n, int holdout_count, uint64_t seed) {
  if (holdout_count < 0 || holdout_count >= n)
    throw core::InputError("hold-out count must be in 0.." + std::to_string(n - 1) + " for " + std::to_string(n) +
                     " images, got " + std::to_string(holdout_count));
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  core::Rng rng(seed);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint32_t(i + 1))]);
  HoldoutSplit split;
  split.holdout.assign(order.begin(), order.begin() + holdout_count);
  split.train.assign(order.begin() + holdout_count, order.end());
  std::sort(split.holdout.begin(), split.holdout.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

}  // namespace tinynas::data
