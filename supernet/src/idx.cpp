#include "tinynas/supernet/idx.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace tinynas::data {

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

GzFile open_gz(const std::string& path) {
  if (!core::is_file(path))
    throw core::InputError("data file '" + path + "' does not exist (Fashion-MNIST comes from Debian's dataset-fashion-mnist)");
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) throw core::InputError("cannot open '" + path + "'");
  gzbuffer(f.get(), 1 << 17);
  return f;
}

void read_exact(gzFile_s* f, void* dst, size_t n, const std::string& path) {
  auto* p = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const unsigned chunk = unsigned(std::min<size_t>(n, 1u << 30));
    const int got = gzread(f, p, chunk);
    if (got <= 0) {
      int err = Z_OK;
      const char* msg = gzerror(f, &err);
      throw core::InputError("'" + path + "' is truncated or corrupt" + (err != Z_OK && err != Z_STREAM_END ? std::string(": ") + msg : ""));
    }
    p += got;
    n -= size_t(got);
  }
}

uint32_t read_be32(gzFile_s* f, const std::string& path) {
  unsigned char b[4];
  read_exact(f, b, 4, path);
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}

// The magic number: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
std::vector<uint32_t> read_header(gzFile_s* f, const std::string& path, uint32_t dims) {
  const uint32_t magic = read_be32(f, path);
  if (magic != (0x0800u | dims))
    throw core::InputError("'" + path + "' is not an IDX file of unsigned bytes with " + std::to_string(dims) +
                     " dimensions (magic " + std::to_string(magic) + ")");
  std::vector<uint32_t> shape(dims);
  for (auto& d : shape) d = read_be32(f, path);
  return shape;
}

}  // namespace

ImageSet read_idx(const std::string& images_path, const std::string& labels_path) {
  GzFile images = open_gz(images_path);
  GzFile labels = open_gz(labels_path);
  const auto ishape = read_header(images.get(), images_path, 3);
  const auto lshape = read_header(labels.get(), labels_path, 1);
  if (ishape[0] != lshape[0])
    throw core::InputError("'" + images_path + "' holds " + std::to_string(ishape[0]) + " images but '" + labels_path +
                     "' holds " + std::to_string(lshape[0]) + " labels");
  if (ishape[0] == 0 || ishape[1] == 0 || ishape[2] == 0 || ishape[1] > 4096 || ishape[2] > 4096)
    throw core::InputError("'" + images_path + "' has an implausible shape");
  ImageSet set;
  set.count = int(ishape[0]);
  set.height = int(ishape[1]);
  set.width = int(ishape[2]);
  set.pixels.resize(size_t(set.count) * set.height * set.width);
  read_exact(images.get(), set.pixels.data(), set.pixels.size(), images_path);
  std::vector<uint8_t> raw(size_t(set.count));
  read_exact(labels.get(), raw.data(), raw.size(), labels_path);
  set.labels.assign(raw.begin(), raw.end());
  set.num_classes = int(*std::max_element(raw.begin(), raw.end())) + 1;
  return set;
}

ImageSet load_fashion_mnist(const std::string& split, const std::string& dir) {
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test") prefix = "t10k";
  else throw core::InputError("Fashion-MNIST split must be 'train' or 'test', got '" + split + "'");
  return read_idx(dir + "/" + prefix + "-images-idx3-ubyte.gz", dir + "/" + prefix + "-labels-idx1-ubyte.gz");
}

}  // namespace tinynas::data
