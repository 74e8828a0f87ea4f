#pragma once
// Small operations on uint8 HWC images that the data readers share: bilinear resize of a crop box,
// horizontal flip, grayscale <-> RGB, the crop boxes of the training (random-resized-crop) and
// evaluation (resize + centre crop) transforms, and the transforms a data set is configured with.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/core/rng.h"

namespace tinynas::data {

// A read-only view of an HWC uint8 image with rows stored contiguously.
struct ImageView {
  const uint8_t* pixels = nullptr;
  int height = 0, width = 0, channels = 0;
};

// An owned HWC uint8 image.
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels

  ImageView view() const { return {pixels.data(), height, width, channels}; }
};

// A region of a source image in pixel units: the pixel (x, y) covers [x, x+1) x [y, y+1), so the
// whole image is {0, 0, width, height}. Fractional boxes are allowed.
struct CropBox {
  double x = 0, y = 0;
  double width = 0, height = 0;
};

// The box scaled by (sx, sy): the same region of the image after resizing it by those factors.
CropBox scale_box(const CropBox& box, double sx, double sy);

// Bilinear resize of `box` of `src` to out_height x out_width x src.channels, written to `out`.
// Pixel centres are mapped as with align_corners=false (PIL / torchvision bilinear without
// antialias): output pixel (i, j) samples the source at
//   x = box.x + (j + 0.5) * box.width / out_width - 0.5   (and likewise y),
// with coordinates clamped to the image, so pixels just outside the box may contribute at its
// edges, as with PIL's resize(box=...). Results are rounded to nearest, halves up. Resizing a whole
// image to its own size is the identity and a 2x downscale averages 2x2 blocks.
void resize_bilinear(const ImageView& src, const CropBox& box, int out_height, int out_width, uint8_t* out);

// Mirrors an HWC image left-right in place.
void flip_horizontal(uint8_t* pixels, int height, int width, int channels);

// ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B rounded to nearest, for `pixel_count` RGB pixels.
void rgb_to_gray(const uint8_t* rgb, size_t pixel_count, uint8_t* gray);
// Replicates each gray value into R, G and B.
void gray_to_rgb(const uint8_t* gray, size_t pixel_count, uint8_t* rgb);
// `image` converted to `channels` (1 or 3) channels; a copy when it already has them.
Image convert_channels(const Image& image, int channels);

// The ranges random-resized-crop samples from: area fraction (uniform) and aspect ratio w/h
// (log-uniform).
struct CropRanges {
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
};

// torchvision's RandomResizedCrop.get_params: up to 10 tries of a random area fraction and aspect
// ratio, rounded to whole pixels, placed uniformly where it fits; if none fits, the centred largest
// crop whose aspect ratio is within range. Returns a box of whole pixels inside the image.
CropBox random_resized_crop(int height, int width, core::Rng& rng, const CropRanges& ranges = {});

// The evaluation transform as one box on the source: resize the shorter side to
// round(resolution / 0.875), then centre-crop resolution x resolution. That is the centred square of
// side resolution * min(height, width) / round(resolution / 0.875) (torchvision rounds the resized
// long side and the crop offset to whole pixels; this box does not).
CropBox center_crop_box(int height, int width, int resolution);

// The image with `pad` black (0) pixels added on every side.
Image pad_image(const ImageView& src, int pad);

// Sets the side x side square centred at (centre_y, centre_x), clipped to the image, to 0 (Cutout).
void cut_out(uint8_t* pixels, int height, int width, int channels, int centre_y, int centre_x, int side);

// The training augmentation and evaluation preprocessing of a data set (`data.transform` in a config).
//   kLarge (ImageNet): train random-resized-crop (area 0.08..1, aspect 3/4..4/3) + flip; evaluate the
//          centred crop of center_crop_box (shorter side resized to r / 0.875).
//   kMild (small centred objects, Fashion-MNIST): train random-resized-crop with kMildCrop + flip;
//          evaluate the whole image resized to r x r.
//   kSmall (the CIFAR recipe): train a random crop of the source size from the image padded with
//          `pad` black pixels on every side, flip, then optionally Cutout (a black square of side
//          `cutout` source pixels at a uniform random centre, clipped at the borders); the result is
//          resized to r x r (an identity at the native size). Evaluate the whole image resized to r x r.
// Every flip has probability 1/2.
struct Transform {
  enum class Kind { kLarge, kMild, kSmall };
  Kind kind = Kind::kLarge;
  int pad = 4;     // kSmall only, source pixels
  int cutout = 0;  // kSmall only, source pixels; 0 = none
};

// Area 0.85..1, aspect 3/4..4/3: shifts and stretches the object a little without cutting much away.
constexpr CropRanges kMildCrop{0.85, 1.0, 3.0 / 4.0, 4.0 / 3.0};

// InputError (prefixed with `at`) unless pad is within 0..64 and cutout within 0..1024 source pixels.
void check_transform(const Transform& transform, const std::string& at);

// "large", "mild" or "small"; parse_transform_kind throws core::InputError for another name.
std::string transform_kind_name(Transform::Kind kind);
Transform::Kind parse_transform_kind(const std::string& name);

// One sample of the whole image `src` at r x r (src.channels channels) written to `out`: the training
// augmentation (its random choices drawn from rng, in a fixed order) or the evaluation preprocessing.
void transform_image(const ImageView& src, const Transform& transform, bool train, int r, core::Rng& rng, uint8_t* out);

}  // namespace tinynas::data
