#pragma once
// A data set whose evaluation-transform images are kept in memory per resolution: the first batch at
// a resolution decodes and resizes every image once, later batches copy. Measuring hundreds of subnets
// on the same holdout and calibration images then costs the network's forward passes only.
// Training-transform batches (random crops) are not cached and go to the parent.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "tinynas/supernet/dataset.h"

namespace tinynas::data {

class CachedDataset : public Dataset {
 public:
  // Resolutions whose images would take more than max_bytes are not cached.
  CachedDataset(std::shared_ptr<const Dataset> parent, int64_t max_bytes = int64_t(1) << 30);
  int size() const override { return parent_->size(); }
  int num_classes() const override { return parent_->num_classes(); }
  int channels() const override { return parent_->channels(); }
  int width(int r) const override { return parent_->width(r); }
  int64_t label(int i) const override { return parent_->label(i); }
  std::string describe() const override { return parent_->describe(); }
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override;

 private:
  const std::vector<uint8_t>* images_at(int r) const;  // nullptr when too large

  std::shared_ptr<const Dataset> parent_;
  int64_t max_bytes_;
  mutable std::mutex mutex_;
  mutable std::map<int, std::vector<uint8_t>> cache_;
};

}  // namespace tinynas::data
