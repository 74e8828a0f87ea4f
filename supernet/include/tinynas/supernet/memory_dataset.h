#pragma once
// A data set held in memory as one ImageSet (Fashion-MNIST: 28x28 grayscale), transformed on the fly
// into uint8 NHWC batches.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/idx.h"
#include "tinynas/supernet/image_ops.h"

namespace tinynas::data {

// Images are transformed as `transform` says (image_ops.h); the default, kMild, suits small centred
// objects such as Fashion-MNIST's.
class MemoryDataset : public Dataset {
 public:
  // `description` names the source for logs and errors (e.g. the IDX path). Throws InputError when
  // the set is empty or its pixel and label counts do not match its shape.
  MemoryDataset(ImageSet images, std::string description, Transform transform = {Transform::Kind::kMild});

  int size() const override { return images_.count; }
  int num_classes() const override { return images_.num_classes; }
  int channels() const override { return images_.channels; }
  int64_t label(int i) const override { return images_.labels.at(size_t(i)); }
  std::string describe() const override { return description_; }
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override;

  const ImageSet& images() const { return images_; }

 private:
  void load_one(int i, int r, bool train, uint64_t seed, uint8_t* out) const;

  ImageSet images_;
  std::string description_;
  Transform transform_;
};

}  // namespace tinynas::data
