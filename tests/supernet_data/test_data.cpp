// The Torch-free data readers: image operations, the JPEG/PNG image folder (on images the tests write
// with libjpeg and libpng themselves), the in-memory data set, subsets and the hold-out split.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <set>
#include <tuple>

#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/rng.h"
#include "tinynas/supernet/idx.h"
#include "tinynas/supernet/image_folder.h"
#include "tinynas/supernet/image_ops.h"
#include "tinynas/supernet/memory_dataset.h"
#include "tinynas/supernet/subset.h"
#include "tinynas/supernet/data_config.h"
#include "tinynas/supernet/normalization.h"

using namespace tinynas;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// ---- Writers for the test images --------------------------------------------------------------

struct PngSpec {
  int width = 0, height = 0;
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  Bytes rows;  // packed rows as PNG stores them (16-bit samples big-endian)
  bool interlaced = false;
  std::vector<png_color> palette;
  std::vector<png_byte> palette_alpha;  // tRNS for palette images
};

int png_samples_per_pixel(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;  // palette
  }
}

// Returns false if libpng failed; it longjmps here, so only C objects live in this frame.
bool write_png_rows(FILE* file, const PngSpec& spec, png_bytepp rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, png_uint_32(spec.width), png_uint_32(spec.height), spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty()) png_set_PLTE(png, info, spec.palette.data(), int(spec.palette.size()));
  if (!spec.palette_alpha.empty())
    png_set_tRNS(png, info, spec.palette_alpha.data(), int(spec.palette_alpha.size()), nullptr);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

bool write_png_file(const std::string& path, const PngSpec& spec) {
  const size_t row_bytes =
      (size_t(spec.width) * size_t(png_samples_per_pixel(spec.color_type)) * size_t(spec.bit_depth) + 7) / 8;
  std::vector<png_bytep> rows(static_cast<size_t>(spec.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = const_cast<png_bytep>(spec.rows.data() + y * row_bytes);
  FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return false;
  const bool written = write_png_rows(file, spec, rows.data());
  return std::fclose(file) == 0 && written;
}

void write_png(const fs::path& path, const PngSpec& spec) { ASSERT_TRUE(write_png_file(path.string(), spec)) << path; }

PngSpec rgb_png(int width, int height, const Bytes& rgb) { return {width, height, PNG_COLOR_TYPE_RGB, 8, rgb, false, {}, {}}; }
PngSpec gray_png(int width, int height, const Bytes& gray) {
  return {width, height, PNG_COLOR_TYPE_GRAY, 8, gray, false, {}, {}};
}

// JPEG bytes at `quality` (libjpeg's default 4:2:0 chroma subsampling for colour), stored in
// `stored_space` if given, else libjpeg's default for `space` (YCbCr for RGB, YCCK for CMYK).
std::string encode_jpeg(int width, int height, int components, J_COLOR_SPACE space, const Bytes& pixels,
                        int quality = 100, J_COLOR_SPACE stored_space = JCS_UNKNOWN) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = JDIMENSION(width);
  cinfo.image_height = JDIMENSION(height);
  cinfo.input_components = components;
  cinfo.in_color_space = space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (stored_space != JCS_UNKNOWN) jpeg_set_colorspace(&cinfo, stored_space);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t row_bytes = size_t(width) * size_t(components);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + cinfo.next_scanline * row_bytes);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  jpeg_destroy_compress(&cinfo);
  return bytes;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ---- Test images ------------------------------------------------------------------------------

Bytes flat(int width, int height, std::initializer_list<uint8_t> colour) {
  Bytes pixels;
  for (int i = 0; i < width * height; ++i) pixels.insert(pixels.end(), colour);
  return pixels;
}

// R = 8x + 4y, G = 4x, B = 100: linear, so any bilinear sample of it is the same linear function.
Bytes linear_rgb(int width, int height) {
  Bytes pixels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) pixels.insert(pixels.end(), {uint8_t(8 * x + 4 * y), uint8_t(4 * x), 100});
  return pixels;
}

Bytes random_bytes(size_t n, uint64_t seed) {
  core::Rng rng(seed);
  Bytes bytes(n);
  for (auto& b : bytes) b = uint8_t(rng.below(256));
  return bytes;
}

int luma(int r, int g, int b) { return int(std::lround(0.299 * r + 0.587 * g + 0.114 * b)); }

int max_abs_difference(const Bytes& a, const Bytes& b) {
  int worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return a.size() == b.size() ? worst : 256;
}

// A folder with three classes and ignored extras:
//   apple/  a.png (40x30 flat (200,30,60)), b.PNG (same colour, 17x23)      -> label 0
//   banana/ x.jpg (500x375 flat (40,90,200)), y.JPEG (64x48 flat, same)     -> label 1
//   cherry/ g.png (16x16 linear_rgb)                                         -> label 2
// plus apple/notes.txt, apple/nested/c.png, .hidden/h.png and a top-level readme.txt.
constexpr uint8_t kAppleR = 200, kAppleG = 30, kAppleB = 60;
constexpr uint8_t kBananaR = 40, kBananaG = 90, kBananaB = 200;

void write_fruit_folder(const fs::path& root) {
  for (const char* dir : {"apple", "apple/nested", "banana", "cherry", ".hidden"}) fs::create_directories(root / dir);
  write_png(root / "apple/a.png", rgb_png(40, 30, flat(40, 30, {kAppleR, kAppleG, kAppleB})));
  write_png(root / "apple/b.PNG", rgb_png(17, 23, flat(17, 23, {kAppleR, kAppleG, kAppleB})));
  write_png(root / "apple/nested/c.png", rgb_png(4, 4, flat(4, 4, {0, 0, 0})));
  write_png(root / ".hidden/h.png", rgb_png(4, 4, flat(4, 4, {0, 0, 0})));
  write_bytes(root / "apple/notes.txt", "not an image");
  write_bytes(root / "readme.txt", "not a class");
  write_bytes(root / "banana/x.jpg", encode_jpeg(500, 375, 3, JCS_RGB, flat(500, 375, {kBananaR, kBananaG, kBananaB})));
  write_bytes(root / "banana/y.JPEG", encode_jpeg(64, 48, 3, JCS_RGB, flat(64, 48, {kBananaR, kBananaG, kBananaB})));
  write_png(root / "cherry/g.png", rgb_png(16, 16, linear_rgb(16, 16)));
}

Bytes load(const data::Dataset& ds, const std::vector<int>& idx, int r, bool train, uint64_t seed) {
  Bytes out(idx.size() * size_t(r) * size_t(r) * size_t(ds.channels()));
  ds.load_batch(idx, r, train, seed, out.data());
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// ---- Image operations -------------------------------------------------------------------------

TEST(ImageOps, ResizeToOwnSizeIsTheIdentity) {
  const Bytes src = random_bytes(5 * 7 * 3, 1);
  Bytes out(src.size());
  data::resize_bilinear({src.data(), 5, 7, 3}, {0, 0, 7, 5}, 5, 7, out.data());
  EXPECT_EQ(out, src);
}

TEST(ImageOps, TwoTimesDownscaleAveragesTwoByTwoBlocks) {
  // Block averages: (0+10+40+50)/4 = 25; (20+31+60+70)/4 = 45.25 -> 45; (1+1+0+0)/4 = 0.5 -> 1 (halves
  // up); (200+201+202+202)/4 = 201.25 -> 201.
  const Bytes src = {0, 10, 20, 31,  //
                     40, 50, 60, 70,  //
                     1, 1, 200, 201,  //
                     0, 0, 202, 202};
  Bytes out(4);
  data::resize_bilinear({src.data(), 4, 4, 1}, {0, 0, 4, 4}, 2, 2, out.data());
  EXPECT_EQ(out, (Bytes{25, 45, 1, 201}));
}

TEST(ImageOps, ResizingAWholePixelBoxToItsSizeCopiesTheBox) {
  const Bytes src = random_bytes(6 * 5 * 3, 2);
  Bytes out(3 * 2 * 3);
  data::resize_bilinear({src.data(), 6, 5, 3}, {1, 2, 2, 3}, 3, 2, out.data());
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 2; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out[size_t((y * 2 + x) * 3 + c)], src[size_t(((y + 2) * 5 + x + 1) * 3 + c)]);
}

TEST(ImageOps, FlipMirrorsEachRow) {
  Bytes img = {1, 2, 3, 4, 5, 6, 7, 8, 9,  //
               10, 11, 12, 13, 14, 15, 16, 17, 18};
  data::flip_horizontal(img.data(), 2, 3, 3);
  EXPECT_EQ(img, (Bytes{7, 8, 9, 4, 5, 6, 1, 2, 3, 16, 17, 18, 13, 14, 15, 10, 11, 12}));
  Bytes even = {1, 2, 3, 4};
  data::flip_horizontal(even.data(), 1, 4, 1);
  EXPECT_EQ(even, (Bytes{4, 3, 2, 1}));
}

TEST(ImageOps, GrayscaleIsRoundedBt601Luma) {
  const Bytes rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 77, 77, 77, kAppleR, kAppleG, kAppleB};
  Bytes gray(6);
  data::rgb_to_gray(rgb.data(), 6, gray.data());
  // 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1.
  EXPECT_EQ(gray, (Bytes{76, 150, 29, 255, 77, uint8_t(luma(kAppleR, kAppleG, kAppleB))}));
  Bytes back(18);
  data::gray_to_rgb(gray.data(), 6, back.data());
  EXPECT_EQ(back[3], 150);
  EXPECT_EQ(back[4], 150);
  EXPECT_EQ(back[5], 150);
}

TEST(ImageOps, RandomResizedCropStaysInRangeAndIsSeeded) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    core::Rng rng(seed);
    const data::CropBox b = data::random_resized_crop(375, 500, rng);
    ASSERT_GE(b.x, 0);
    ASSERT_GE(b.y, 0);
    ASSERT_LE(b.x + b.width, 500);
    ASSERT_LE(b.y + b.height, 375);
    EXPECT_EQ(b.x, std::floor(b.x));
    EXPECT_EQ(b.width, std::floor(b.width));
    // Rounding to whole pixels moves area and aspect a little beyond the sampled ranges.
    const double area = b.width * b.height / (375.0 * 500.0), aspect = b.width / b.height;
    EXPECT_GE(area, 0.075);
    EXPECT_LE(area, 1.0);
    EXPECT_GE(aspect, 0.74);
    EXPECT_LE(aspect, 1.35);
    core::Rng again(seed);
    const data::CropBox c = data::random_resized_crop(375, 500, again);
    EXPECT_EQ(c.x, b.x);
    EXPECT_EQ(c.height, b.height);
  }
}

TEST(ImageOps, RandomResizedCropFallsBackToTheCentre) {
  // 1000 wide, 10 high: no sample fits, so the fallback is 10 high and round(10 * 4/3) = 13 wide,
  // centred at (1000 - 13) / 2 = 493.
  core::Rng rng(7);
  const data::CropBox b = data::random_resized_crop(10, 1000, rng);
  EXPECT_EQ(b.x, 493);
  EXPECT_EQ(b.y, 0);
  EXPECT_EQ(b.width, 13);
  EXPECT_EQ(b.height, 10);
  // And a narrow one: 10 wide, 1000 high -> 10 wide, round(10 / (3/4)) = 13 high.
  const data::CropBox t = data::random_resized_crop(1000, 10, rng);
  EXPECT_EQ(t.width, 10);
  EXPECT_EQ(t.height, 13);
  EXPECT_EQ(t.y, 493);
}

TEST(ImageOps, CenterCropBoxIsResizeThenCentreCrop) {
  // 224: shorter side to 256, crop 224 -> on a 256x256 source a 224 box at 16.
  const data::CropBox a = data::center_crop_box(256, 256, 224);
  EXPECT_DOUBLE_EQ(a.x, 16);
  EXPECT_DOUBLE_EQ(a.width, 224);
  // 64 on 500x375: shorter side to round(73.14) = 73, so the box side is 64 * 375 / 73.
  const data::CropBox b = data::center_crop_box(375, 500, 64);
  const double side = 64.0 * 375.0 / 73.0;
  EXPECT_DOUBLE_EQ(b.width, side);
  EXPECT_DOUBLE_EQ(b.height, side);
  EXPECT_DOUBLE_EQ(b.x, (500 - side) / 2);
  EXPECT_DOUBLE_EQ(b.y, (375 - side) / 2);
}

// ---- Decoding ---------------------------------------------------------------------------------

TEST(DecodeImage, PngVariantsDecodeExactly) {
  TempDir dir;
  // 16-bit RGB: the high byte is kept.
  write_png(dir.path / "rgb16.png", {2, 1, PNG_COLOR_TYPE_RGB, 16, {0x12, 0xAB, 0x34, 0xCD, 0x56, 0xEF, 0xFF, 0xFF, 0x00, 0x01, 0x80, 0x00}, false, {}, {}});
  EXPECT_EQ(data::decode_image((dir.path / "rgb16.png").string(), 3).pixels, (Bytes{0x12, 0x34, 0x56, 0xFF, 0x00, 0x80}));
  // 16-bit gray with alpha: alpha dropped, high byte kept.
  write_png(dir.path / "ga16.png", {2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, {0x40, 0x99, 0x00, 0x00, 0xC0, 0x01, 0xFF, 0xFF}, false, {}, {}});
  EXPECT_EQ(data::decode_image((dir.path / "ga16.png").string(), 1).pixels, (Bytes{0x40, 0xC0}));
  // 2-bit palette with transparency: palette colours, alpha dropped; 4 pixels = one byte 0b00011011.
  const std::vector<png_color> palette = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}, {255, 255, 255}};
  write_png(dir.path / "pal.png", {4, 1, PNG_COLOR_TYPE_PALETTE, 2, {0x1B}, false, palette, {0, 128, 255, 255}});
  EXPECT_EQ(data::decode_image((dir.path / "pal.png").string(), 3).pixels,
            (Bytes{10, 20, 30, 200, 100, 50, 0, 255, 0, 255, 255, 255}));
  EXPECT_EQ(data::decode_image((dir.path / "pal.png").string(), 1).pixels,
            (Bytes{uint8_t(luma(10, 20, 30)), uint8_t(luma(200, 100, 50)), 150, 255}));
  // RGBA: alpha dropped.
  write_png(dir.path / "rgba.png", {1, 2, PNG_COLOR_TYPE_RGB_ALPHA, 8, {1, 2, 3, 0, 4, 5, 6, 255}, false, {}, {}});
  EXPECT_EQ(data::decode_image((dir.path / "rgba.png").string(), 3).pixels, (Bytes{1, 2, 3, 4, 5, 6}));
  // 1-bit gray expands to 0 / 255, replicated to RGB.
  write_png(dir.path / "bits.png", {3, 1, PNG_COLOR_TYPE_GRAY, 1, {0xA0}, false, {}, {}});
  EXPECT_EQ(data::decode_image((dir.path / "bits.png").string(), 3).pixels, (Bytes{255, 255, 255, 0, 0, 0, 255, 255, 255}));
  EXPECT_EQ(data::decode_image((dir.path / "bits.png").string(), 1).pixels, (Bytes{255, 0, 255}));
}

TEST(DecodeImage, InterlacedPngEqualsItsPixels) {
  TempDir dir;
  const Bytes pixels = random_bytes(13 * 11 * 3, 3);
  PngSpec spec = rgb_png(13, 11, pixels);
  spec.interlaced = true;
  write_png(dir.path / "adam7.png", spec);
  const data::Image image = data::decode_image((dir.path / "adam7.png").string(), 3);
  EXPECT_EQ(image.width, 13);
  EXPECT_EQ(image.height, 11);
  EXPECT_EQ(image.pixels, pixels);
}

TEST(DecodeImage, JpegColourSpaces) {
  TempDir dir;
  // Grayscale JPEG replicated to RGB: the channels are equal, the value close to the source.
  write_bytes(dir.path / "gray.jpg", encode_jpeg(24, 16, 1, JCS_GRAYSCALE, flat(24, 16, {123})));
  const data::Image rgb = data::decode_image((dir.path / "gray.jpg").string(), 3);
  ASSERT_EQ(rgb.pixels.size(), 24u * 16u * 3u);
  for (size_t i = 0; i < rgb.pixels.size(); i += 3) {
    EXPECT_EQ(rgb.pixels[i], rgb.pixels[i + 1]);
    EXPECT_EQ(rgb.pixels[i], rgb.pixels[i + 2]);
    EXPECT_NEAR(rgb.pixels[i], 123, 1);
  }
  // CMYK as Adobe stores it (inverted, 255 = no ink): full magenta and yellow ink, no cyan or black,
  // which is red.
  write_bytes(dir.path / "cmyk.jpg", encode_jpeg(16, 16, 4, JCS_CMYK, flat(16, 16, {255, 0, 0, 255})));
  const data::Image red = data::decode_image((dir.path / "cmyk.jpg").string(), 3);
  ASSERT_EQ(red.channels, 3);
  EXPECT_LE(max_abs_difference(red.pixels, flat(16, 16, {255, 0, 0})), 3);
  // Colour to gray.
  write_bytes(dir.path / "col.jpg", encode_jpeg(16, 16, 3, JCS_RGB, flat(16, 16, {kBananaR, kBananaG, kBananaB})));
  const data::Image gray = data::decode_image((dir.path / "col.jpg").string(), 1);
  EXPECT_LE(max_abs_difference(gray.pixels, Bytes(256, uint8_t(luma(kBananaR, kBananaG, kBananaB)))), 2);
  // Stored as RGB (Adobe transform 0) rather than YCbCr: to RGB and to gray.
  write_bytes(dir.path / "rgbcoded.jpg",
              encode_jpeg(16, 16, 3, JCS_RGB, flat(16, 16, {kBananaR, kBananaG, kBananaB}), 100, JCS_RGB));
  EXPECT_LE(max_abs_difference(data::decode_image((dir.path / "rgbcoded.jpg").string(), 3).pixels,
                               flat(16, 16, {kBananaR, kBananaG, kBananaB})),
            2);
  EXPECT_LE(max_abs_difference(data::decode_image((dir.path / "rgbcoded.jpg").string(), 1).pixels,
                               Bytes(256, uint8_t(luma(kBananaR, kBananaG, kBananaB)))),
            2);
}

TEST(DecodeImage, StrayBytesBeforeAMarkerAreTolerated) {
  // libjpeg warns about extraneous bytes (some ImageNet files have them) but decodes the image; only a
  // premature end of data is an error.
  TempDir dir;
  const std::string jpeg = encode_jpeg(16, 16, 3, JCS_RGB, flat(16, 16, {kBananaR, kBananaG, kBananaB}));
  ASSERT_EQ(jpeg.substr(jpeg.size() - 2), "\xFF\xD9");
  write_bytes(dir.path / "stray.jpg", jpeg.substr(0, jpeg.size() - 2) + "\x01\x02\x03" + "\xFF\xD9");
  const data::Image image = data::decode_image((dir.path / "stray.jpg").string(), 3);
  EXPECT_LE(max_abs_difference(image.pixels, flat(16, 16, {kBananaR, kBananaG, kBananaB})), 3);
}

// ---- ImageFolderDataset -----------------------------------------------------------------------

TEST(ImageFolder, DiscoversSortedClassesAndImages) {
  TempDir dir;
  write_fruit_folder(dir.path);
  const data::ImageFolderDataset ds(dir.path.string(), 3);
  EXPECT_EQ(ds.classes(), (std::vector<std::string>{"apple", "banana", "cherry"}));
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.channels(), 3);
  ASSERT_EQ(ds.size(), 5);
  const std::vector<std::string> names = {"apple/a.png", "apple/b.PNG", "banana/x.jpg", "banana/y.JPEG", "cherry/g.png"};
  const std::vector<int64_t> labels = {0, 0, 1, 1, 2};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ds.path(i), (dir.path / names[size_t(i)]).string());
    EXPECT_EQ(ds.label(i), labels[size_t(i)]);
  }
  EXPECT_TRUE(contains(ds.describe(), dir.path.string()));
}

TEST(ImageFolder, EvaluationOfFlatImagesIsTheirColour) {
  TempDir dir;
  write_fruit_folder(dir.path);
  const data::ImageFolderDataset rgb(dir.path.string(), 3);
  const int r = 16;
  const Bytes out = load(rgb, {0, 1, 2, 3}, r, false, 0);
  const size_t n = size_t(r) * r;
  const Bytes apple = flat(r, r, {kAppleR, kAppleG, kAppleB}), banana = flat(r, r, {kBananaR, kBananaG, kBananaB});
  EXPECT_EQ(Bytes(out.begin(), out.begin() + long(3 * n)), apple);                       // PNG: exact
  EXPECT_EQ(Bytes(out.begin() + long(3 * n), out.begin() + long(6 * n)), apple);         // smaller than r: upscaled
  EXPECT_LE(max_abs_difference(Bytes(out.begin() + long(6 * n), out.begin() + long(9 * n)), banana), 3);  // 1/8 DCT
  EXPECT_LE(max_abs_difference(Bytes(out.begin() + long(9 * n), out.end()), banana), 3);

  const data::ImageFolderDataset gray(dir.path.string(), 1);
  const Bytes g = load(gray, {0, 2}, r, false, 0);
  EXPECT_EQ(Bytes(g.begin(), g.begin() + long(n)), Bytes(n, uint8_t(luma(kAppleR, kAppleG, kAppleB))));
  EXPECT_LE(max_abs_difference(Bytes(g.begin() + long(n), g.end()), Bytes(n, uint8_t(luma(kBananaR, kBananaG, kBananaB)))), 3);
}

TEST(ImageFolder, EvaluationOfALinearPngIsHandComputable) {
  // cherry/g.png is 16x16 with R = 8x + 4y, G = 4x, B = 100. At r = 7 the shorter side goes to
  // round(7 / 0.875) = 8, so the box is the centred 14x14 square at (1, 1) and output pixel (i, j)
  // samples (2j + 1.5, 2i + 1.5): R = 16j + 8i + 18, G = 8j + 6.
  TempDir dir;
  write_fruit_folder(dir.path);
  const data::ImageFolderDataset ds(dir.path.string(), 3);
  const Bytes out = load(ds, {4}, 7, false, 0);
  Bytes expected;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 7; ++j) expected.insert(expected.end(), {uint8_t(16 * j + 8 * i + 18), uint8_t(8 * j + 6), 100});
  EXPECT_EQ(out, expected);
}

TEST(ImageFolder, DctScaledJpegKeepsTheGeometry) {
  // A large linear gradient JPEG (R = 255 x / 799, G = 255 y / 599) decoded at 1/8 scale for r = 32
  // must still sample the centre crop where the full-size image would be sampled.
  TempDir dir;
  fs::create_directories(dir.path / "only");
  const int w = 800, h = 600;
  Bytes pixels;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      pixels.insert(pixels.end(), {uint8_t(std::lround(255.0 * x / (w - 1))), uint8_t(std::lround(255.0 * y / (h - 1))), 128});
  write_bytes(dir.path / "only/big.jpg", encode_jpeg(w, h, 3, JCS_RGB, pixels));
  const data::ImageFolderDataset ds(dir.path.string(), 3);
  const int r = 32;
  const Bytes out = load(ds, {0}, r, false, 0);
  const data::CropBox box = data::center_crop_box(h, w, r);
  int worst = 0;
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < r; ++j) {
      const double x = box.x + (j + 0.5) * box.width / r - 0.5, y = box.y + (i + 0.5) * box.height / r - 0.5;
      const uint8_t* p = &out[size_t((i * r + j) * 3)];
      worst = std::max({worst, std::abs(int(p[0]) - int(std::lround(255.0 * x / (w - 1)))),
                        std::abs(int(p[1]) - int(std::lround(255.0 * y / (h - 1)))), std::abs(int(p[2]) - 128)});
    }
  EXPECT_LE(worst, 3);
}

TEST(ImageFolder, LargeJpegsAreDecodedAtAReducedDctScale) {
  // One-pixel vertical stripes of 0 and 255: any DCT scale of 1/2 or less averages them to a flat
  // 127.5, whereas a full-size decode resized without antialiasing would keep much of the contrast.
  // r = 32 on 256x256 needs only 1/4 scale.
  TempDir dir;
  fs::create_directories(dir.path / "s");
  Bytes stripes;
  for (int y = 0; y < 256; ++y)
    for (int x = 0; x < 256; ++x) stripes.push_back(x % 2 ? 255 : 0);
  write_bytes(dir.path / "s/stripes.jpg", encode_jpeg(256, 256, 1, JCS_GRAYSCALE, stripes));
  const data::ImageFolderDataset ds(dir.path.string(), 1);
  const Bytes out = load(ds, {0}, 32, false, 0);
  const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
  EXPECT_GE(*lo, 120);
  EXPECT_LE(*hi, 135);
  // The full-size decode really has the stripes.
  const data::Image full = data::decode_image(ds.path(0), 1);
  EXPECT_LE(max_abs_difference(full.pixels, stripes), 8);
}

// Eight 40x30 PNGs of random content and two JPEGs, in two classes.
void write_noise_folder(const fs::path& root) {
  fs::create_directories(root / "a");
  fs::create_directories(root / "b");
  for (int i = 0; i < 8; ++i)
    write_png(root / (i < 4 ? "a" : "b") / ("n" + std::to_string(i) + ".png"), rgb_png(40, 30, random_bytes(40 * 30 * 3, uint64_t(i))));
  write_bytes(root / "b/j1.jpg", encode_jpeg(120, 90, 3, JCS_RGB, random_bytes(120 * 90 * 3, 100), 90));
  write_bytes(root / "b/j2.jpg", encode_jpeg(90, 120, 3, JCS_RGB, random_bytes(120 * 90 * 3, 101), 90));
}

TEST(ImageFolder, TrainingBatchesAreDeterministicPerImage) {
  TempDir dir;
  write_noise_folder(dir.path);
  const data::ImageFolderDataset ds(dir.path.string(), 3);
  const std::vector<int> idx = {3, 9, 0, 8, 5, 1, 7, 2, 6, 4};
  const int r = 12;
  const Bytes whole = load(ds, idx, r, true, 42);
  EXPECT_EQ(load(ds, idx, r, true, 42), whole);
  EXPECT_NE(load(ds, idx, r, true, 43), whole);
  EXPECT_NE(load(ds, idx, r, false, 42), whole);
  // Two halves give the same bytes as the whole batch.
  const std::vector<int> first(idx.begin(), idx.begin() + 4), second(idx.begin() + 4, idx.end());
  Bytes halves = load(ds, first, r, true, 42);
  const Bytes rest = load(ds, second, r, true, 42);
  halves.insert(halves.end(), rest.begin(), rest.end());
  EXPECT_EQ(halves, whole);
  // And one thread gives the same bytes as many.
  Bytes single(whole.size());
  tbb::task_arena one_thread(1);
  one_thread.execute([&] { ds.load_batch(idx, r, true, 42, single.data()); });
  EXPECT_EQ(single, whole);
  // Evaluation ignores the seed.
  EXPECT_EQ(load(ds, idx, r, false, 1), load(ds, idx, r, false, 2));
}

TEST(ImageFolder, TrainingTransformIsTheSeededCropThenFlip) {
  // The documented order of random draws per image: Rng(derive_seed(seed, index)) picks the crop on
  // the full-size image, then the flip. PNG decoding is exact, so the reference is exact too.
  TempDir dir;
  write_noise_folder(dir.path);
  const data::ImageFolderDataset ds(dir.path.string(), 3);
  const int r = 10;
  int flips = 0;
  const int png_images[] = {0, 1, 2, 3, 6, 7, 8, 9};  // a/n0..n3, b/j1.jpg, b/j2.jpg, b/n4..n7
  for (uint64_t seed = 0; seed < 16; ++seed) {
    const int i = png_images[seed % 8];
    const data::Image image = data::decode_image(ds.path(i), 3);
    core::Rng rng(core::derive_seed(seed, uint64_t(i)));
    Bytes expected(size_t(r) * r * 3);
    data::resize_bilinear(image.view(), data::random_resized_crop(30, 40, rng), r, r, expected.data());
    if (rng.uniform() < 0.5) {
      data::flip_horizontal(expected.data(), r, r, 3);
      ++flips;
    }
    EXPECT_EQ(load(ds, {i}, r, true, seed), expected) << "seed " << seed;
  }
  EXPECT_GT(flips, 0);
  EXPECT_LT(flips, 16);
}

TEST(ImageFolder, FlipReallyMirrors) {
  // A horizontal ramp (value 4x, constant down the columns): every training crop of it increases
  // left to right, unless flipped, when it decreases. Both happen about equally often.
  TempDir dir;
  fs::create_directories(dir.path / "ramp");
  Bytes ramp;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) ramp.push_back(uint8_t(4 * x));
  write_png(dir.path / "ramp/r.png", gray_png(64, 48, ramp));
  const data::ImageFolderDataset ds(dir.path.string(), 1);
  const int r = 16;
  int increasing = 0, decreasing = 0;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    const Bytes out = load(ds, {0}, r, true, seed);
    bool up = true, down = true;
    for (int y = 0; y < r; ++y)
      for (int x = 1; x < r; ++x) {
        up = up && out[size_t(y * r + x)] > out[size_t(y * r + x - 1)];
        down = down && out[size_t(y * r + x)] < out[size_t(y * r + x - 1)];
      }
    ASSERT_TRUE(up != down) << "seed " << seed;
    increasing += up;
    decreasing += down;
  }
  EXPECT_GE(increasing, 16);
  EXPECT_GE(decreasing, 16);
}

TEST(ImageFolder, BadFoldersAreInputErrorsNamingThePath) {
  TempDir dir;
  const std::string missing = (dir.path / "nowhere").string();
  EXPECT_TRUE(contains(input_error_message([&] { data::ImageFolderDataset(missing, 3); }), missing));
  const std::string file = dir.write("plain.txt", "x");
  EXPECT_TRUE(contains(input_error_message([&] { data::ImageFolderDataset(file, 3); }), file));
  fs::create_directories(dir.path / "empty_root");
  write_bytes(dir.path / "empty_root/readme.txt", "no classes here");
  const std::string empty_root = (dir.path / "empty_root").string();
  EXPECT_TRUE(contains(input_error_message([&] { data::ImageFolderDataset(empty_root, 3); }), empty_root));
  fs::create_directories(dir.path / "root/full");
  fs::create_directories(dir.path / "root/hollow");
  write_png(dir.path / "root/full/a.png", gray_png(2, 2, {1, 2, 3, 4}));
  write_bytes(dir.path / "root/hollow/notes.txt", "no images");
  const std::string hollow = (dir.path / "root/hollow").string();
  EXPECT_TRUE(contains(input_error_message([&] { data::ImageFolderDataset((dir.path / "root").string(), 3); }), hollow));
  EXPECT_TRUE(contains(input_error_message([&] { data::ImageFolderDataset((dir.path / "root/..").string(), 2); }),
                       "channels"));
}

TEST(ImageFolder, BadImagesAreInputErrorsNamingTheFile) {
  TempDir dir;
  fs::create_directories(dir.path / "c");
  const fs::path good_jpeg = dir.path / "c/0good.jpg", good_png = dir.path / "c/0good.png";
  write_bytes(good_jpeg, encode_jpeg(200, 150, 3, JCS_RGB, random_bytes(200 * 150 * 3, 5), 90));
  write_png(good_png, rgb_png(50, 40, random_bytes(50 * 40 * 3, 6)));
  const std::string jpeg = read_bytes(good_jpeg), png = read_bytes(good_png);
  write_bytes(dir.path / "c/corrupt.jpg", "\xFF\xD8\xFF" + std::string(500, '\x42'));
  write_bytes(dir.path / "c/corrupt.png", png.substr(0, 16) + std::string(500, '\x42'));
  write_bytes(dir.path / "c/cut.jpg", jpeg.substr(0, jpeg.size() / 2));
  write_bytes(dir.path / "c/cut.png", png.substr(0, png.size() / 2));
  write_bytes(dir.path / "c/text.png", "this is not an image at all");
  const data::ImageFolderDataset ds(dir.path.string(), 3);
  ASSERT_EQ(ds.size(), 7);
  EXPECT_NO_THROW(load(ds, {0, 1}, 8, true, 0));  // the good ones
  for (int i = 2; i < ds.size(); ++i) {
    const std::string message = input_error_message([&] { load(ds, {0, i, 1}, 8, i % 2 == 0, 0); });
    EXPECT_TRUE(contains(message, ds.path(i))) << message;
  }
  EXPECT_TRUE(contains(input_error_message([&] { load(ds, {4}, 8, false, 0); }), "truncated"));  // cut.jpg
  EXPECT_TRUE(contains(input_error_message([&] { load(ds, {5}, 8, false, 0); }), "truncated"));  // cut.png
  const std::string missing = (dir.path / "c/gone.png").string();
  EXPECT_TRUE(contains(input_error_message([&] { data::decode_image(missing, 3); }), missing));
  EXPECT_THROW(load(ds, {ds.size()}, 8, false, 0), std::out_of_range);
  EXPECT_THROW(load(ds, {0}, 0, false, 0), core::InputError);
}

// ---- MemoryDataset ----------------------------------------------------------------------------

namespace {

// `count` 8x8 gray images; image i has pixel (y, x) = 3 * (8y + x) + i, label i % 3.
data::ImageSet synthetic_set(int count) {
  data::ImageSet s;
  s.count = count;
  s.height = s.width = 8;
  s.channels = 1;
  s.num_classes = 3;
  for (int i = 0; i < count; ++i) {
    for (int p = 0; p < 64; ++p) s.pixels.push_back(uint8_t(3 * p + i));
    s.labels.push_back(i % 3);
  }
  return s;
}

}  // namespace

TEST(MemoryDataset, EvaluationResizesTheWholeImage) {
  const data::ImageSet set = synthetic_set(3);
  const data::MemoryDataset ds(set, "synthetic");
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.channels(), 1);
  EXPECT_EQ(ds.label(2), 2);
  EXPECT_EQ(ds.describe(), "synthetic");
  // Own size: identity.
  EXPECT_EQ(load(ds, {1}, 8, false, 0), Bytes(set.pixels.begin() + 64, set.pixels.begin() + 128));
  // Half size: the mean of each 2x2 block, 3 * (8 * (2y + 0.5) + 2x + 0.5) + i = 48y + 6x + 13.5 + i,
  // rounded half up.
  const Bytes half = load(ds, {2}, 4, false, 0);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_EQ(half[size_t(y * 4 + x)], 48 * y + 6 * x + 16);
}

TEST(MemoryDataset, TrainingIsDeterministicAndParallelSafe) {
  const data::MemoryDataset ds(synthetic_set(200), "synthetic");
  std::vector<int> idx(200);
  std::iota(idx.begin(), idx.end(), 0);
  std::reverse(idx.begin(), idx.end());
  const int r = 10;
  const Bytes whole = load(ds, idx, r, true, 9);  // large enough to run in parallel
  EXPECT_EQ(load(ds, idx, r, true, 9), whole);
  EXPECT_NE(load(ds, idx, r, true, 10), whole);
  Bytes one_by_one;
  for (int i : idx) {
    const Bytes single = load(ds, {i}, r, true, 9);
    one_by_one.insert(one_by_one.end(), single.begin(), single.end());
  }
  EXPECT_EQ(one_by_one, whole);
}

TEST(MemoryDataset, TrainingCropsKeepMostOfTheImage) {
  // A flat image stays flat whatever the crop; a crop of area >= 0.85 of a ramp spans most of it.
  data::ImageSet s;
  s.count = 2;
  s.height = s.width = 20;
  s.num_classes = 1;
  s.labels = {0, 0};
  s.pixels.assign(400, 77);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) s.pixels.push_back(uint8_t(10 * x));
  const data::MemoryDataset ds(std::move(s), "ramp");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const Bytes out = load(ds, {0, 1}, 20, true, seed);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 400), Bytes(400, 77));
    const auto [lo, hi] = std::minmax_element(out.begin() + 400, out.end());
    EXPECT_GE(*hi - *lo, 140) << "seed " << seed;  // ramp spans 0..190; the crop is at least 16 of 20 wide
  }
}

TEST(MemoryDataset, InconsistentSetsAreInputErrors) {
  data::ImageSet s = synthetic_set(3);
  s.labels.pop_back();
  EXPECT_TRUE(contains(input_error_message([&] { data::MemoryDataset(s, "broken set"); }), "broken set"));
  data::ImageSet empty;
  EXPECT_TRUE(contains(input_error_message([&] { data::MemoryDataset(empty, "nothing"); }), "nothing"));
}

TEST(MemoryDataset, FashionMnistSmoke) {
  if (!fs::exists(data::kFashionMnistDir)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  data::ImageSet set = data::load_fashion_mnist("test");
  const std::vector<int64_t> labels(set.labels.begin(), set.labels.begin() + 64);
  const data::MemoryDataset ds(std::move(set), "fashion-mnist test");
  std::vector<int> idx(64);
  std::iota(idx.begin(), idx.end(), 0);
  const Bytes eval = load(ds, idx, 32, false, 0);
  double mean = 0;
  for (uint8_t p : eval) mean += p;
  mean /= double(eval.size());
  EXPECT_GT(mean, 40);  // Fashion-MNIST's mean pixel is about 73
  EXPECT_LT(mean, 110);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(ds.label(i), labels[size_t(i)]);
  EXPECT_EQ(load(ds, idx, 32, true, 5), load(ds, idx, 32, true, 5));
}

// ---- SubsetDataset and the hold-out split -----------------------------------------------------

TEST(Subset, ForwardsThroughTheIndexList) {
  auto parent = std::make_shared<data::MemoryDataset>(synthetic_set(10), "synthetic");
  const data::SubsetDataset subset(parent, {5, 2, 7});
  EXPECT_EQ(subset.size(), 3);
  EXPECT_EQ(subset.num_classes(), 3);
  EXPECT_EQ(subset.channels(), 1);
  EXPECT_EQ(subset.label(0), 2);  // parent image 5
  EXPECT_EQ(subset.label(1), 2);
  EXPECT_EQ(subset.label(2), 1);
  EXPECT_EQ(subset.parent_index(2), 7);
  EXPECT_TRUE(contains(subset.describe(), "synthetic"));
  // The same bytes as the parent's images, augmentation included (seeded by the parent index).
  EXPECT_EQ(load(subset, {2, 0}, 6, true, 3), load(*parent, {7, 5}, 6, true, 3));
  EXPECT_EQ(load(subset, {1}, 8, false, 0), load(*parent, {2}, 8, false, 0));
  EXPECT_THROW(load(subset, {3}, 8, false, 0), std::out_of_range);
  EXPECT_TRUE(contains(input_error_message([&] { data::SubsetDataset(parent, {10}); }), "synthetic"));
}

TEST(Subset, HoldoutSplitPartitionsDeterministically) {
  const data::HoldoutSplit split = data::split_holdout(100, 30, 11);
  EXPECT_EQ(split.holdout.size(), 30u);
  EXPECT_EQ(split.train.size(), 70u);
  EXPECT_TRUE(std::is_sorted(split.holdout.begin(), split.holdout.end()));
  EXPECT_TRUE(std::is_sorted(split.train.begin(), split.train.end()));
  std::set<int> all(split.train.begin(), split.train.end());
  for (int i : split.holdout) EXPECT_TRUE(all.insert(i).second) << i << " is in both parts";
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 99);
  const data::HoldoutSplit again = data::split_holdout(100, 30, 11);
  EXPECT_EQ(again.holdout, split.holdout);
  EXPECT_EQ(again.train, split.train);
  EXPECT_NE(data::split_holdout(100, 30, 12).holdout, split.holdout);
  // Not just the first or last indices.
  EXPECT_GT(split.holdout.back() - split.holdout.front(), 50);
  EXPECT_TRUE(data::split_holdout(5, 0, 1).holdout.empty());
  EXPECT_EQ(data::split_holdout(5, 0, 1).train, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(data::split_holdout(5, 4, 1).train.size(), 1u);
  EXPECT_TRUE(contains(input_error_message([] { data::split_holdout(10, -1, 0); }), "-1"));
  EXPECT_TRUE(contains(input_error_message([] { data::split_holdout(10, 10, 0); }), "10"));
  EXPECT_NE(input_error_message([] { data::split_holdout(0, 0, 0); }), "<no exception>");
}

// ---- The small-image recipe (pad + random crop + flip, cutout), folders without val/, normalization ----

namespace {

// A 6x6 RGB image whose every byte is distinct and non-zero, so a window of its zero-padded copy is
// recognised by its content.
data::Image distinct_image() {
  data::Image img{6, 6, 3, {}};
  for (int i = 0; i < 6 * 6 * 3; ++i) img.pixels.push_back(uint8_t(1 + i));
  return img;
}

// The window (dx, dy) of `img` padded with `pad` zeros on every side, optionally mirrored.
Bytes padded_window(const data::Image& img, int pad, int dx, int dy, bool mirrored) {
  Bytes out;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const int sy = y + dy - pad, sx = (mirrored ? img.width - 1 - x : x) + dx - pad;
      for (int c = 0; c < img.channels; ++c)
        out.push_back(sy < 0 || sy >= img.height || sx < 0 || sx >= img.width
                          ? 0
                          : img.pixels[size_t((sy * img.width + sx) * img.channels + c)]);
    }
  return out;
}

}  // namespace

TEST(SmallTransform, TrainingIsAShiftedWindowOfTheZeroPaddedImageOrItsMirror) {
  const data::Image square = distinct_image();
  const data::Transform t{data::Transform::Kind::kSmall, 2, 0};
  std::set<std::tuple<int, int, bool>> seen;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    core::Rng rng(seed);
    // At the native size the resize of a window of whole pixels is the identity.
    Bytes got(square.pixels.size());
    data::transform_image(square.view(), t, true, 6, rng, got.data());
    bool found = false;
    for (int dy = 0; dy <= 4 && !found; ++dy)
      for (int dx = 0; dx <= 4 && !found; ++dx)
        for (bool mirrored : {false, true})
          if (got == padded_window(square, 2, dx, dy, mirrored)) {
            seen.insert({dx, dy, mirrored});
            found = true;
            break;
          }
    EXPECT_TRUE(found) << "seed " << seed << ": not a window of the padded image";
  }
  EXPECT_EQ(seen.size(), 50u);  // every shift in 0..2*pad on both axes, each with and without the flip
}

TEST(SmallTransform, CutoutBlacksOneClippedSquare) {
  data::Image flat_image{8, 8, 1, Bytes(64, 100)};
  const data::Transform t{data::Transform::Kind::kSmall, 0, 4};
  int whole_squares = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    core::Rng rng(seed);
    Bytes got(64);
    data::transform_image(flat_image.view(), t, true, 8, rng, got.data());
    // The black pixels form one rectangle of at most 4 x 4; the rest keeps its value.
    int y0 = 8, y1 = -1, x0 = 8, x1 = -1, black = 0;
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const uint8_t v = got[size_t(y * 8 + x)];
        ASSERT_TRUE(v == 0 || v == 100);
        if (v == 0) {
          ++black;
          y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
        }
      }
    ASSERT_GT(black, 0) << "seed " << seed;
    EXPECT_EQ(black, (y1 - y0 + 1) * (x1 - x0 + 1)) << "seed " << seed;
    EXPECT_LE(y1 - y0 + 1, 4);
    EXPECT_LE(x1 - x0 + 1, 4);
    whole_squares += black == 16;
  }
  EXPECT_GT(whole_squares, 50);  // centres away from the border keep the whole square
}

TEST(SmallTransform, EvaluationIsTheWholeImageAtNativeSize) {
  const data::Image square = distinct_image();
  const data::Transform t{data::Transform::Kind::kSmall, 4, 16};
  core::Rng rng(1);
  Bytes got(square.pixels.size());
  data::transform_image(square.view(), t, false, 6, rng, got.data());
  EXPECT_EQ(got, square.pixels);  // no 0.875 centre crop, no padding, no cutout
}

TEST(SmallTransform, FolderImagesGetTheRecipeToo) {
  TempDir dir;
  fs::create_directories(dir.path / "a");
  const data::Image img = distinct_image();
  write_png(dir.path / "a/x.png", rgb_png(6, 6, img.pixels));
  const data::ImageFolderDataset ds(dir.path.string(), 3, data::Transform{data::Transform::Kind::kSmall, 1, 0});
  EXPECT_EQ(load(ds, {0}, 6, false, 0), img.pixels);
  int shifted = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const Bytes got = load(ds, {0}, 6, true, seed);
    bool found = false;
    for (int dy = 0; dy <= 2; ++dy)
      for (int dx = 0; dx <= 2; ++dx)
        for (bool mirrored : {false, true}) found = found || got == padded_window(img, 1, dx, dy, mirrored);
    EXPECT_TRUE(found) << "seed " << seed;
    shifted += got != img.pixels;
  }
  EXPECT_GT(shifted, 20);
}

TEST(DataConfig, AFolderWithoutValOrTestHasNoTestSplitButTrainsAndHoldsOut) {
  TempDir dir;
  for (const char* cls : {"train/a", "train/b"}) {
    fs::create_directories(dir.path / cls);
    for (int i = 0; i < 5; ++i)
      write_png(dir.path / cls / ("i" + std::to_string(i) + ".png"), gray_png(4, 4, Bytes(16, uint8_t(40 * i))));
  }
  data::DataConfig c;
  c.kind = "folder";
  c.path = dir.path.string();
  c.channels = 1;
  c.holdout = 3;
  EXPECT_FALSE(data::has_test_split(c));
  EXPECT_EQ(data::open_split(c, "train")->size(), 7);
  EXPECT_EQ(data::open_split(c, "holdout")->size(), 3);
  const std::string msg = input_error_message([&] { data::open_split(c, "test"); });
  EXPECT_TRUE(contains(msg, "no test split")) << msg;
  EXPECT_TRUE(contains(msg, dir.path.string())) << msg;
  fs::create_directories(dir.path / "test/a");
  write_png(dir.path / "test/a/t.png", gray_png(4, 4, Bytes(16, 7)));
  EXPECT_TRUE(data::has_test_split(c));
  EXPECT_EQ(data::open_split(c, "test")->size(), 1);
}

TEST(Normalization, MeasuredPerChannelOverTheEvaluationImages) {
  // Two 2x2 RGB images: channel 0 holds 10, 20, 30, 40 then 50, 60, 70, 80; channel 1 is 100 throughout;
  // channel 2 alternates 0 and 200.
  data::ImageSet s;
  s.count = 2;
  s.height = s.width = 2;
  s.channels = 3;
  s.num_classes = 1;
  s.labels = {0, 0};
  for (int i = 0; i < 8; ++i) {
    s.pixels.push_back(uint8_t(10 * (i + 1)));
    s.pixels.push_back(100);
    s.pixels.push_back(uint8_t(i % 2 ? 200 : 0));
  }
  const data::MemoryDataset ds(s, "tiny");
  const data::Normalization n = data::measure_normalization(ds, 2, 0, 0);
  ASSERT_EQ(n.mean.size(), 3u);
  EXPECT_DOUBLE_EQ(n.mean[0], 45.0);
  EXPECT_NEAR(n.std[0], std::sqrt(525.0), 1e-9);  // mean of squared deviations of 10..80 step 10
  EXPECT_DOUBLE_EQ(n.mean[1], 100.0);
  EXPECT_EQ(n.std[1], 1.0);  // a constant channel: the floor of one pixel, not a division by ~0
  EXPECT_DOUBLE_EQ(n.mean[2], 100.0);
  EXPECT_NEAR(n.std[2], 100.0, 1e-9);
  EXPECT_EQ(n.describe(), "mean 45.0/100.0/100.0, std 22.9/1.0/100.0");
  // A sample of one image is one of the two.
  const data::Normalization one = data::measure_normalization(ds, 2, 1, 3);
  EXPECT_TRUE(one.mean[0] == 25.0 || one.mean[0] == 65.0) << one.mean[0];
}
