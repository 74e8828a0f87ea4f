// CachedDataset: evaluation batches equal the parent's at every resolution, read the parent once per
// resolution, training batches and too-large resolutions go to the parent every time.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "synthetic_dataset.h"
#include "tinynas/supernet/cached_dataset.h"

using namespace tinynas;

namespace {

// Counts the images its parent decodes.
class CountingDataset : public tinynas_test::SyntheticImages {
 public:
  using SyntheticImages::SyntheticImages;
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override {
    loaded += int(idx.size());
    SyntheticImages::load_batch(idx, r, train, seed, out);
  }
  mutable std::atomic<int> loaded{0};
};

std::vector<uint8_t> batch(const data::Dataset& d, const std::vector<int>& idx, int r, bool train) {
  std::vector<uint8_t> out(idx.size() * size_t(r * r * d.channels()));
  d.load_batch(idx, r, train, 7, out.data());
  return out;
}

}  // namespace

TEST(CachedDataset, EvaluationBatchesComeFromMemoryAndEqualTheParents) {
  auto parent = std::make_shared<CountingDataset>(700, 10, 3, 1);
  const data::CachedDataset cached(parent);
  const tinynas_test::SyntheticImages reference(700, 10, 3, 1);
  const std::vector<int> idx = {5, 0, 699, 512, 5};
  for (const int r : {8, 12}) {
    EXPECT_EQ(batch(cached, idx, r, false), batch(reference, idx, r, false)) << r;
    EXPECT_EQ(batch(cached, {1, 2, 3}, r, false), batch(reference, {1, 2, 3}, r, false)) << r;
  }
  EXPECT_EQ(parent->loaded.load(), 2 * 700);  // every image once per resolution, nothing after
  EXPECT_EQ(cached.size(), 700);
  EXPECT_EQ(cached.label(13), reference.label(13));
  // Training batches (random flips) are the parent's, every time.
  EXPECT_EQ(batch(cached, idx, 8, true), batch(reference, idx, 8, true));
  EXPECT_EQ(parent->loaded.load(), 2 * 700 + 5);
}

TEST(CachedDataset, TooLargeResolutionsAreNotCached) {
  auto parent = std::make_shared<CountingDataset>(100, 10, 1, 2);
  const data::CachedDataset cached(parent, 100 * 8 * 8);  // room for 8x8, not for 9x9
  batch(cached, {1, 2}, 9, false);
  batch(cached, {1, 2}, 9, false);
  EXPECT_EQ(parent->loaded.load(), 4);
  batch(cached, {1, 2}, 8, false);
  EXPECT_EQ(parent->loaded.load(), 4 + 100);
}
