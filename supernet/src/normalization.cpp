#include "tinynas/supernet/normalization.h"

#include <cmath>
#include <fmt/format.h>
#include <numeric>

#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"

namespace tinynas::data {

std::string Normalization::describe() const {
  if (is_fixed()) return "fixed";
  const auto join = [](const std::vector<double>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "/" : "") + fmt::format("{:.1f}", v[i]);
    return s;
  };
  return "mean " + join(mean) + ", std " + join(std);
}

void check_normalization(const Normalization& n, int channels, const std::string& at) {
  if (n.is_fixed() && n.std.empty()) return;
  if (n.mean.size() != size_t(channels) || n.std.size() != size_t(channels))
    throw core::InputError(at + ": normalization needs " + std::to_string(channels) + " means and " +
                           std::to_string(channels) + " standard deviations (one per channel)");
  for (double m : n.mean)
    if (!(m >= 0 && m <= 255)) throw core::InputError(at + ": a normalization mean must be within 0..255 (pixel units)");
  for (double s : n.std)
    if (!(s > 0 && s <= 255)) throw core::InputError(at + ": a normalization std must be within (0, 255] (pixel units)");
}

Normalization measure_normalization(const Dataset& data, int r, int max_images, uint64_t seed) {
  const int c = data.channels();
  std::vector<int> idx(size_t(data.size()));
  std::iota(idx.begin(), idx.end(), 0);
  if (max_images > 0 && int(idx.size()) > max_images) {
    core::Rng rng(seed);
    for (size_t i = idx.size() - 1; i > 0; --i) std::swap(idx[i], idx[rng.below(uint32_t(i + 1))]);
    idx.resize(size_t(max_images));
  }
  // Sums per channel in chunks of images, in double: exact for any realistic count of uint8 pixels.
  std::vector<double> sum(size_t(c), 0.0), sum_sq(size_t(c), 0.0);
  const size_t image_bytes = size_t(r) * size_t(data.width(r)) * size_t(c), chunk = 256;
  std::vector<uint8_t> buf;
  for (size_t first = 0; first < idx.size(); first += chunk) {
    const std::vector<int> part(idx.begin() + std::ptrdiff_t(first), idx.begin() + std::ptrdiff_t(std::min(idx.size(), first + chunk)));
    buf.resize(part.size() * image_bytes);
    data.load_batch(part, r, false, 0, buf.data());
    for (size_t i = 0; i < buf.size(); ++i) {
      const double v = buf[i];
      sum[i % size_t(c)] += v;
      sum_sq[i % size_t(c)] += v * v;
    }
  }
  const double count = double(idx.size()) * r * data.width(r);
  Normalization n;
  for (int k = 0; k < c; ++k) {
    const double mean = sum[size_t(k)] / count;
    n.mean.push_back(mean);
    // At least one pixel: a (nearly) constant channel must not be blown up into noise.
    n.std.push_back(std::max(1.0, std::sqrt(std::max(sum_sq[size_t(k)] / count - mean * mean, 0.0))));
  }
  return n;
}

}  // namespace tinynas::data
