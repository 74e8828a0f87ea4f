#include "tinynas/supernet/image_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tinynas/core/errors.h"

namespace tinynas::data {

namespace {

// One output coordinate of a bilinear resize: value = (1 - w) * src[lo] + w * src[hi].
struct Tap {
  int lo = 0, hi = 0;
  float w = 0;
};

std::vector<Tap> bilinear_taps(double start, double extent, int out_size, int src_size) {
  std::vector<Tap> taps(static_cast<size_t>(out_size));
  const double step = extent / out_size;
  for (int j = 0; j < out_size; ++j) {
    const double x = std::clamp(start + (j + 0.5) * step - 0.5, 0.0, double(src_size - 1));
    Tap& t = taps[size_t(j)];
    t.lo = int(x);  // x >= 0, so truncation is floor
    t.hi = std::min(t.lo + 1, src_size - 1);
    t.w = float(x - t.lo);
  }
  return taps;
}

// v is a convex combination of bytes, so within [0, 255] up to float error; truncating v + 0.5 is
// round-half-up without a call to floor.
uint8_t round_to_byte(float v) { return uint8_t(std::min(v + 0.5f, 255.0f)); }

// The resize loop with the channel count known at compile time (kChannels > 0) so the compiler can
// unroll the per-channel work; kChannels == 0 reads it at run time.
template <int kChannels>
void resize_with_taps(const ImageView& src, const std::vector<Tap>& rows, const std::vector<Tap>& cols, uint8_t* out) {
  const int c = kChannels > 0 ? kChannels : src.channels;
  const size_t row_stride = size_t(src.width) * size_t(c);
  for (const Tap& ty : rows) {
    const uint8_t* top = src.pixels + size_t(ty.lo) * row_stride;
    const uint8_t* bottom = src.pixels + size_t(ty.hi) * row_stride;
    for (const Tap& tx : cols) {
      const size_t lo = size_t(tx.lo) * size_t(c), hi = size_t(tx.hi) * size_t(c);
      for (int k = 0; k < c; ++k) {
        const float upper = (1 - tx.w) * top[lo + size_t(k)] + tx.w * top[hi + size_t(k)];
        const float lower = (1 - tx.w) * bottom[lo + size_t(k)] + tx.w * bottom[hi + size_t(k)];
        *out++ = round_to_byte((1 - ty.w) * upper + ty.w * lower);
      }
    }
  }
}

}  // namespace

CropBox scale_box(const CropBox& box, double sx, double sy) {
  return {box.x * sx, box.y * sy, box.width * sx, box.height * sy};
}

void resize_bilinear(const ImageView& src, const CropBox& box, int out_height, int out_width, uint8_t* out) {
  const std::vector<Tap> rows = bilinear_taps(box.y, box.height, out_height, src.height);
  const std::vector<Tap> cols = bilinear_taps(box.x, box.width, out_width, src.width);
  if (src.channels == 1) resize_with_taps<1>(src, rows, cols, out);
  else if (src.channels == 3) resize_with_taps<3>(src, rows, cols, out);
  else resize_with_taps<0>(src, rows, cols, out);
}

void flip_horizontal(uint8_t* pixels, int height, int width, int channels) {
  for (int y = 0; y < height; ++y) {
    uint8_t* row = pixels + size_t(y) * width * channels;
    for (int left = 0, right = width - 1; left < right; ++left, --right)
      std::swap_ranges(row + size_t(left) * channels, row + size_t(left + 1) * channels, row + size_t(right) * channels);
  }
}

void rgb_to_gray(const uint8_t* rgb, size_t pixel_count, uint8_t* gray) {
  // Integer weights summing to 1000, so a gray pixel stays exactly itself.
  for (size_t i = 0; i < pixel_count; ++i, rgb += 3)
    gray[i] = uint8_t((299u * rgb[0] + 587u * rgb[1] + 114u * rgb[2] + 500u) / 1000u);
}

void gray_to_rgb(const uint8_t* gray, size_t pixel_count, uint8_t* rgb) {
  for (size_t i = 0; i < pixel_count; ++i, rgb += 3) rgb[0] = rgb[1] = rgb[2] = gray[i];
}

Image convert_channels(const Image& image, int channels) {
  if (image.channels == channels) return image;
  Image result{image.height, image.width, channels, {}};
  const size_t count = size_t(image.height) * image.width;
  result.pixels.resize(count * size_t(channels));
  if (image.channels == 3 && channels == 1) rgb_to_gray(image.pixels.data(), count, result.pixels.data());
  else gray_to_rgb(image.pixels.data(), count, result.pixels.data());
  return result;
}

CropBox random_resized_crop(int height, int width, core::Rng& rng, const CropRanges& ranges) {
  const double area = double(height) * width;
  const double log_ratio_min = std::log(ranges.ratio_min), log_ratio_max = std::log(ranges.ratio_max);
  auto uniform = [&rng](double lo, double hi) { return lo + (hi - lo) * rng.uniform(); };
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform(ranges.scale_min, ranges.scale_max);
    const double aspect = std::exp(uniform(log_ratio_min, log_ratio_max));
    const int w = int(std::lround(std::sqrt(target_area * aspect)));
    const int h = int(std::lround(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int top = int(rng.below(uint32_t(height - h + 1)));
      const int left = int(rng.below(uint32_t(width - w + 1)));
      return {double(left), double(top), double(w), double(h)};
    }
  }
  // No sample fitted: the largest centred crop whose aspect ratio is within range.
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < ranges.ratio_min) h = std::max(1, int(std::lround(w / ranges.ratio_min)));
  else if (in_ratio > ranges.ratio_max) w = std::max(1, int(std::lround(h * ranges.ratio_max)));
  return {double((width - w) / 2), double((height - h) / 2), double(w), double(h)};
}

CropBox center_crop_box(int height, int width, int resolution) {
  const double resized_short_side = double(std::lround(resolution / 0.875));
  const double side = resolution * double(std::min(height, width)) / resized_short_side;
  return {(width - side) / 2, (height - side) / 2, side, side};
}

Image pad_image(const ImageView& src, int pad) {
  Image padded{src.height + 2 * pad, src.width + 2 * pad, src.channels, {}};
  padded.pixels.assign(size_t(padded.height) * padded.width * size_t(src.channels), 0);
  const size_t src_row = size_t(src.width) * size_t(src.channels), dst_row = size_t(padded.width) * size_t(src.channels);
  for (int y = 0; y < src.height; ++y)
    std::memcpy(&padded.pixels[size_t(y + pad) * dst_row + size_t(pad) * size_t(src.channels)],
                src.pixels + size_t(y) * src_row, src_row);
  return padded;
}

void cut_out(uint8_t* pixels, int height, int width, int channels, int centre_y, int centre_x, int side) {
  const int y0 = std::max(0, centre_y - side / 2), y1 = std::min(height, centre_y - side / 2 + side);
  const int x0 = std::max(0, centre_x - side / 2), x1 = std::min(width, centre_x - side / 2 + side);
  for (int y = y0; y < y1; ++y)
    if (x1 > x0) std::memset(pixels + (size_t(y) * width + size_t(x0)) * size_t(channels), 0, size_t(x1 - x0) * size_t(channels));
}

void check_transform(const Transform& t, const std::string& at) {
  if (t.pad < 0 || t.pad > 64) throw core::InputError(at + ": pad must be within 0..64 pixels");
  if (t.cutout < 0 || t.cutout > 1024) throw core::InputError(at + ": cutout must be within 0..1024 pixels");
}

std::string transform_kind_name(Transform::Kind kind) {
  switch (kind) {
    case Transform::Kind::kLarge: return "large";
    case Transform::Kind::kMild: return "mild";
    case Transform::Kind::kSmall: return "small";
  }
  return "?";
}

Transform::Kind parse_transform_kind(const std::string& name) {
  for (Transform::Kind k : {Transform::Kind::kLarge, Transform::Kind::kMild, Transform::Kind::kSmall})
    if (transform_kind_name(k) == name) return k;
  throw core::InputError("transform '" + name + "' is not known (large, mild or small)");
}

void transform_image(const ImageView& src, const Transform& t, bool train, int r, core::Rng& rng, uint8_t* out) {
  const CropBox whole{0, 0, double(src.width), double(src.height)};
  if (!train) {
    resize_bilinear(src, t.kind == Transform::Kind::kLarge ? center_crop_box(src.height, src.width, r) : whole, r, r, out);
    return;
  }
  if (t.kind != Transform::Kind::kSmall) {
    const CropRanges ranges = t.kind == Transform::Kind::kMild ? kMildCrop : CropRanges{};
    resize_bilinear(src, random_resized_crop(src.height, src.width, rng, ranges), r, r, out);
    if (rng.uniform() < 0.5) flip_horizontal(out, r, r, src.channels);
    return;
  }
  const Image padded = pad_image(src, t.pad);
  const int dy = int(rng.below(uint32_t(2 * t.pad + 1))), dx = int(rng.below(uint32_t(2 * t.pad + 1)));
  resize_bilinear(padded.view(), CropBox{double(dx), double(dy), double(src.width), double(src.height)}, r, r, out);
  if (rng.uniform() < 0.5) flip_horizontal(out, r, r, src.channels);
  if (t.cutout > 0) {
    // The square's centre is uniform over the output; its side scales with the resize.
    const int side = std::max(1, int(std::lround(double(t.cutout) * r / src.width)));
    const int cy = int(rng.below(uint32_t(r))), cx = int(rng.below(uint32_t(r)));
    cut_out(out, r, r, src.channels, cy, cx, side);
  }
}

}  // namespace tinynas::data
