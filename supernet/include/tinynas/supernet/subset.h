#pragma once
// A view of part of another data set (e.g. a hold-out split of the training images), and the seeded
// split that picks the parts.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tinynas/supernet/dataset.h"

namespace tinynas::data {

// Image i of the subset is image indices[i] of the parent. load_batch forwards the mapped indices, so
// an image's training augmentation is seeded by its parent index and is the same in the subset as in
// the parent.
class SubsetDataset : public Dataset {
 public:
  // Throws InputError when an index is outside the parent.
  SubsetDataset(std::shared_ptr<const Dataset> parent, std::vector<int> indices);

  int size() const override { return int(indices_.size()); }
  int num_classes() const override { return parent_->num_classes(); }
  int channels() const override { return parent_->channels(); }
  int width(int r) const override { return parent_->width(r); }
  int64_t label(int i) const override { return parent_->label(parent_index(i)); }
  std::string describe() const override;
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override;

  int parent_index(int i) const { return indices_.at(size_t(i)); }
  const std::vector<int>& indices() const { return indices_; }
  const Dataset& parent() const { return *parent_; }

 private:
  std::shared_ptr<const Dataset> parent_;
  std::vector<int> indices_;
};

// Indices 0..n-1 split into a hold-out part of holdout_count and the rest, chosen by a Fisher-Yates
// shuffle with Rng(seed); both parts sorted ascending.
struct HoldoutSplit {
  std::vector<int> train;
  std::vector<int> holdout;
};
// Throws InputError unless 0 <= holdout_count < n.
HoldoutSplit split_holdout(int n, int holdout_count, uint64_t seed);

}  // namespace tinynas::data
