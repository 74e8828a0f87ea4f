#include "tinynas/supernet/cached_dataset.h"

#include <algorithm>
#include <cstring>

#include "tinynas/core/errors.h"

namespace tinynas::data {

CachedDataset::CachedDataset(std::shared_ptr<const Dataset> parent, int64_t max_bytes)
    : parent_(std::move(parent)), max_bytes_(max_bytes) {
  if (!parent_) throw core::InputError("CachedDataset: no parent data set");
}

const std::vector<uint8_t>* CachedDataset::images_at(int r) const {
  const int64_t image = int64_t(r) * parent_->width(r) * parent_->channels();
  if (image * parent_->size() > max_bytes_) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(r);
  if (it == cache_.end()) {
    std::vector<uint8_t> all(size_t(image * parent_->size()));
    const int chunk = 512;
    for (int start = 0; start < parent_->size(); start += chunk) {
      std::vector<int> idx;
      for (int i = start; i < std::min(parent_->size(), start + chunk); ++i) idx.push_back(i);
      parent_->load_batch(idx, r, false, 0, all.data() + size_t(start) * size_t(image));
    }
    it = cache_.emplace(r, std::move(all)).first;
  }
  return &it->second;
}

void CachedDataset::load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const {
  const std::vector<uint8_t>* images = train ? nullptr : images_at(r);
  if (!images) {
    parent_->load_batch(idx, r, train, seed, out);
    return;
  }
  const size_t image = size_t(r) * size_t(parent_->width(r)) * size_t(parent_->channels());
  for (size_t j = 0; j < idx.size(); ++j) {
    if (idx[j] < 0 || idx[j] >= parent_->size()) throw core::InputError("CachedDataset: image index out of range");
    std::memcpy(out + j * image, images->data() + size_t(idx[j]) * image, image);
  }
}

}  // namespace tinynas::data
