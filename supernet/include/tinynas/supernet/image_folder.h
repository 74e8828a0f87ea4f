#pragma once
// An ImageNet-style folder of JPEG and PNG images, root/<class>/<image>, read with libjpeg and libpng
// and transformed in parallel (TBB) into uint8 NHWC batches.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/image_ops.h"

namespace tinynas::data {

// Decodes a JPEG or PNG file (recognised by its first bytes, not its name) at full size into
// `channels` channels (1 = grayscale, 3 = RGB), whatever the file holds: PNG palette, gray, alpha
// (dropped), 16-bit (high byte kept) and interlaced images; JPEG gray, YCbCr, RGB and CMYK/YCCK.
// Throws InputError naming the path for a missing, corrupt or truncated file.
Image decode_image(const std::string& path, int channels);

// Classes are the sorted names of root's sub-folders (hidden ones, starting with '.', are skipped);
// the label of an image is the index of its class. Images are the files of a class folder ending in
// .jpg, .jpeg or .png (any case), sorted by name; other files and nested folders are ignored.
//
// Images are transformed as `transform` says (image_ops.h). With the default, kLarge (ImageNet's
// recipe), each transform is one bilinear resize of a crop box of the source, and JPEGs are decoded at
// the smallest DCT scale (1/8 .. 8/8) that keeps the box at least r x r; the other kinds decode the
// whole image at full size.
class ImageFolderDataset : public Dataset {
 public:
  // Lists the folder (no image is decoded yet). Throws InputError naming the path when the root is
  // missing or not a directory, has no class folders, or a class folder has no images.
  ImageFolderDataset(const std::string& root, int channels, Transform transform = {});

  int size() const override { return int(paths_.size()); }
  int num_classes() const override { return int(classes_.size()); }
  int channels() const override { return channels_; }
  int64_t label(int i) const override { return labels_.at(size_t(i)); }
  std::string describe() const override;
  // Decodes in parallel; a corrupt image throws InputError naming its file.
  void load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const override;

  const std::string& root() const { return root_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int i) const { return paths_.at(size_t(i)); }

 private:
  void load_one(int i, int r, bool train, uint64_t seed, uint8_t* out) const;

  std::string root_;
  int channels_ = 3;
  Transform transform_;
  std::vector<std::string> classes_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
};

}  // namespace tinynas::data
