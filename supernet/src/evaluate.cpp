#include "tinynas/supernet/evaluate.h"

#include <algorithm>
#include <future>
#include <numeric>

#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"

namespace tinynas::supernet {

torch::Tensor to_input(const uint8_t* pixels, int64_t n, int64_t r, int64_t c, int64_t w) {
  auto u8 = torch::from_blob(const_cast<uint8_t*>(pixels), {n, r, w > 0 ? w : r, c}, torch::kUInt8);
  // Channels-last (NHWC) memory, as the images come: LibTorch's CPU convolutions then take their
  // channels-last path, which trains these depthwise-heavy networks about 3x faster here than NCHW.
  return u8.permute({0, 3, 1, 2})
      .to(torch::kFloat32)
      .sub_(double(kInputZeroPixel))
      .mul_(kInputScale)
      .contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor load_input(const data::Dataset& data, const std::vector<int>& idx, int r, bool train, uint64_t seed) {
  const int c = data.channels();
  const int w = data.width(r);
  std::vector<uint8_t> buf(idx.size() * size_t(r) * size_t(w) * size_t(c));
  data.load_batch(idx, r, train, seed, buf.data());
  return to_input(buf.data(), int64_t(idx.size()), r, c, w);
}

torch::Tensor labels_of(const data::Dataset& data, const std::vector<int>& idx) {
  auto t = torch::empty({int64_t(idx.size())}, torch::kInt64);
  auto* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < idx.size(); ++i) p[i] = data.label(idx[i]);
  return t;
}

namespace {

// Calls fn(batch_input, batch_indices) over consecutive batches of `indices`, loading the next batch on
// a second thread while fn runs.
void for_each_batch(const data::Dataset& data, const std::vector<int>& indices, int r, int batch_size,
                    const std::function<void(const torch::Tensor&, const std::vector<int>&)>& fn) {
  if (batch_size <= 0) throw core::InputError("batch size must be positive");
  std::vector<std::vector<int>> batches;
  for (size_t i = 0; i < indices.size(); i += size_t(batch_size))
    batches.emplace_back(indices.begin() + long(i), indices.begin() + long(std::min(indices.size(), i + size_t(batch_size))));
  if (batches.empty()) return;
  auto load = [&](size_t b) { return load_input(data, batches[b], r); };
  std::future<torch::Tensor> next = std::async(std::launch::async, load, 0);
  for (size_t b = 0; b < batches.size(); ++b) {
    torch::Tensor x = next.get();
    if (b + 1 < batches.size()) next = std::async(std::launch::async, load, b + 1);
    fn(x, batches[b]);
  }
}

}  // namespace

Accuracy evaluate(const Forward& forward, const data::Dataset& data, int r, int batch_size) {
  std::vector<int> all(size_t(data.size()));
  std::iota(all.begin(), all.end(), 0);
  Accuracy acc;
  torch::NoGradGuard no_grad;
  for_each_batch(data, all, r, batch_size, [&](const torch::Tensor& x, const std::vector<int>& idx) {
    const auto pred = forward(x).argmax(1);
    acc.correct += pred.eq(labels_of(data, idx)).sum().item<int64_t>();
    acc.total += int64_t(idx.size());
  });
  return acc;
}

uint64_t calibration_seed(uint64_t train_seed) { return core::derive_seed(train_seed, 4); }

std::vector<int> calibration_indices(const data::Dataset& data, int count, uint64_t seed) {
  const int n = data.size();
  if (count <= 0) throw core::InputError("the BN calibration subset needs at least one image");
  count = std::min(count, n);
  std::vector<int> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  core::Rng rng(core::derive_seed(seed, 0xCA11B));
  for (int i = 0; i < count; ++i) std::swap(perm[size_t(i)], perm[size_t(i) + rng.below(uint32_t(n - i))]);
  perm.resize(size_t(count));
  return perm;
}

void recalibrate_bn(OFASupernet& net, const data::Dataset& data, const std::vector<int>& indices, int r,
                    int batch_size) {
  torch::NoGradGuard no_grad;
  net->eval();
  net->start_calibration();
  try {
    for_each_batch(data, indices, r, batch_size, [&](const torch::Tensor& x, const std::vector<int>&) { net->forward(x); });
  } catch (...) {
    net->abort_calibration();
    throw;
  }
  net->finish_calibration();
}

}  // namespace tinynas::supernet
