#pragma once
// The data-set interface training and evaluation read through: labelled images delivered as uint8 NHWC
// batches at a requested resolution. Torch-free, so readers stay cheap to compile and test.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tinynas::data {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int size() const = 0;
  virtual int num_classes() const = 0;
  virtual int channels() const = 0;  // 1 (grayscale) or 3 (RGB)
  virtual int64_t label(int i) const = 0;
  // A short description for logs and errors (the path it came from).
  virtual std::string describe() const = 0;

  // The width of its inputs at height r: r (square images) unless the data fixes it, as audio features
  // do (frames x coefficients).
  virtual int width(int r) const { return r; }

  // Writes images `idx` as idx.size() x r x width(r) x channels() uint8 into `out`.
  // train: the training augmentation, whose random choices for image idx[j] come only from
  //   derive_seed(seed, idx[j]), so a batch is the same whatever the thread count or batch split;
  // !train: the deterministic evaluation transform.
  virtual void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const = 0;
};

}  // namespace tinynas::data
