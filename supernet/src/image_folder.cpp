#include "tinynas/supernet/image_folder.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <png.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <stdexcept>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"
#include "tinynas/core/rng.h"

namespace tinynas::data {

namespace {

namespace fs = std::filesystem;

// Chooses the crop box from the image's full size (known once the header is read), so that the
// box, and any randomness behind it, does not depend on how the image is decoded.
using BoxChooser = std::function<CropBox(int height, int width)>;

// A decoded image and the chosen crop box in its (possibly DCT-scaled) pixel coordinates.
struct DecodedImage {
  Image image;
  CropBox box;
};

// Refuses images whose decoded pixels would not fit in memory comfortably (decompression bombs).
constexpr double kMaxDecodedPixels = double(1 << 28);

[[noreturn]] void throw_too_large(const std::string& path, double pixels) {
  throw core::InputError("image '" + path + "' is too large to decode (" + std::to_string(int64_t(pixels)) + " pixels)");
}

// ---------------------------------------------------------------------------------------------
// JPEG. libjpeg reports errors through error_exit, which must not return; ours longjmps back to the
// setjmp in run_jpeg_decode, whose caller turns the saved message into an InputError. Only libjpeg
// frames and our callbacks lie between, so no C++ destructor is skipped.

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first, so libjpeg's pointer to it is a pointer to the whole struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (msg_level -1) are tolerated, as some real collections (ImageNet among them) hold files
// with stray bytes that decode fine; but a premature end of data is a truncated file, an error as in
// PIL, since libjpeg would silently fill the missing part with gray.
void jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(cinfo);
}

struct JpegDecoder {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager err{};
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo); }  // safe on a zeroed or partly built struct
};

// The smallest numerator of a num/8 DCT scale at which the box is still >= target_size on both sides.
unsigned jpeg_scale_numerator(const CropBox& box, unsigned height, unsigned width, int target_size) {
  for (unsigned num = 1; num < 8; ++num) {
    const double scaled_width = double((width * num + 7) / 8), scaled_height = double((height * num + 7) / 8);
    if (box.width * scaled_width / width >= target_size && box.height * scaled_height / height >= target_size)
      return num;
  }
  return 8;
}

// Colour spaces libjpeg converts from itself; CMYK and YCCK (Adobe) we convert from CMYK ourselves.
bool jpeg_is_cmyk(J_COLOR_SPACE space) { return space == JCS_CMYK || space == JCS_YCCK; }

// Returns false when libjpeg reported an error; the message is then in dec.err.message.
bool run_jpeg_decode(JpegDecoder& dec, const std::string& bytes, const std::string& path, int channels,
                     int target_size, const BoxChooser& choose_box, DecodedImage& out) {
  jpeg_decompress_struct& cinfo = dec.cinfo;
  cinfo.err = jpeg_std_error(&dec.err.pub);
  dec.err.pub.error_exit = jpeg_error_exit;
  dec.err.pub.emit_message = jpeg_emit_message;
  if (setjmp(dec.err.jump)) return false;

  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (jpeg_is_cmyk(cinfo.jpeg_color_space)) cinfo.out_color_space = JCS_CMYK;
  else if (cinfo.jpeg_color_space == JCS_GRAYSCALE || cinfo.jpeg_color_space == JCS_YCbCr ||
           cinfo.jpeg_color_space == JCS_RGB)
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  else
    throw core::InputError("JPEG '" + path + "' has an unsupported colour space");

  const CropBox box = choose_box(int(cinfo.image_height), int(cinfo.image_width));
  cinfo.scale_num = jpeg_scale_numerator(box, cinfo.image_height, cinfo.image_width, target_size);
  cinfo.scale_denom = 8;
  jpeg_calc_output_dimensions(&cinfo);
  const double pixels = double(cinfo.output_width) * cinfo.output_height;
  if (pixels > kMaxDecodedPixels) throw_too_large(path, pixels);

  jpeg_start_decompress(&cinfo);
  Image& image = out.image;
  image.height = int(cinfo.output_height);
  image.width = int(cinfo.output_width);
  image.channels = cinfo.output_components;
  image.pixels.resize(size_t(image.height) * image.width * image.channels);
  const size_t row_bytes = size_t(image.width) * image.channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image.pixels.data() + size_t(cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  out.box = scale_box(box, double(image.width) / cinfo.image_width, double(image.height) / cinfo.image_height);
  return true;
}

// CMYK as stored by Adobe applications (the usual source of CMYK JPEGs) is inverted: 255 = no ink.
Image cmyk_to_rgb(const Image& cmyk, bool adobe_inverted) {
  Image rgb{cmyk.height, cmyk.width, 3, {}};
  const size_t count = size_t(cmyk.height) * cmyk.width;
  rgb.pixels.resize(count * 3);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = &cmyk.pixels[i * 4];
    const unsigned k = adobe_inverted ? p[3] : 255u - p[3];
    for (int c = 0; c < 3; ++c) {
      const unsigned ink = adobe_inverted ? p[c] : 255u - p[c];
      rgb.pixels[i * 3 + size_t(c)] = uint8_t((ink * k + 127u) / 255u);
    }
  }
  return rgb;
}

DecodedImage decode_jpeg(const std::string& bytes, const std::string& path, int channels, int target_size,
                         const BoxChooser& choose_box) {
  DecodedImage out;
  JpegDecoder dec;
  if (!run_jpeg_decode(dec, bytes, path, channels, target_size, choose_box, out))
    throw core::InputError("corrupt or truncated JPEG '" + path + "': " + dec.err.message);
  if (out.image.channels == 4) out.image = convert_channels(cmyk_to_rgb(out.image, dec.cinfo.saw_Adobe_marker), channels);
  if (out.image.channels != channels) throw core::InputError("JPEG '" + path + "' decoded to an unexpected channel count");
  return out;
}

// ---------------------------------------------------------------------------------------------
// PNG. Same scheme: libpng's error callback saves the message and longjmps to run_png_decode.

struct PngReadState {
  const std::string* bytes = nullptr;
  size_t position = 0;
  char message[256] = {};
};

void png_read_from_memory(png_structp png, png_bytep dst, size_t length) {
  auto* state = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (length > state->bytes->size() - state->position) png_error(png, "file is truncated");
  std::memcpy(dst, state->bytes->data() + state->position, length);
  state->position += length;
}

void png_save_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

struct PngDecoder {
  PngReadState state;
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::vector<png_bytep> rows;
  ~PngDecoder() { png_destroy_read_struct(&png, &info, nullptr); }
};

// Returns false when libpng reported an error; the message is then in dec.state.message.
bool run_png_decode(PngDecoder& dec, const std::string& path, Image& image) {
  png_structp png = dec.png;
  png_infop info = dec.info;
  if (setjmp(png_jmpbuf(png))) return false;

  png_set_read_fn(png, &dec.state, png_read_from_memory);
  png_read_info(png, info);
  const double pixels = double(png_get_image_width(png, info)) * png_get_image_height(png, info);
  if (pixels > kMaxDecodedPixels) throw_too_large(path, pixels);
  png_set_expand(png);  // palette -> RGB, gray below 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  image.height = int(png_get_image_height(png, info));
  image.width = int(png_get_image_width(png, info));
  image.channels = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  image.pixels.resize(size_t(image.height) * row_bytes);
  dec.rows.resize(size_t(image.height));
  for (size_t y = 0; y < dec.rows.size(); ++y) dec.rows[y] = image.pixels.data() + y * row_bytes;
  png_read_image(png, dec.rows.data());
  png_read_end(png, nullptr);  // reads up to IEND, so a file cut after the pixel data is caught too
  return true;
}

// Keeps the colour channels of gray+alpha or RGBA pixels.
Image drop_alpha(const Image& image) {
  const int colour = image.channels - 1;
  Image result{image.height, image.width, colour, {}};
  const size_t count = size_t(image.height) * image.width;
  result.pixels.resize(count * size_t(colour));
  for (size_t i = 0; i < count; ++i)
    std::copy_n(&image.pixels[i * size_t(image.channels)], colour, &result.pixels[i * size_t(colour)]);
  return result;
}

DecodedImage decode_png(const std::string& bytes, const std::string& path, int channels, const BoxChooser& choose_box) {
  PngDecoder dec;
  dec.state.bytes = &bytes;
  dec.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &dec.state, png_save_error, png_ignore_warning);
  if (dec.png) dec.info = png_create_info_struct(dec.png);
  if (!dec.png || !dec.info) throw std::bad_alloc();
  DecodedImage out;
  if (!run_png_decode(dec, path, out.image))
    throw core::InputError("corrupt or truncated PNG '" + path + "': " + dec.state.message);
  if (out.image.channels == 2 || out.image.channels == 4) out.image = drop_alpha(out.image);
  out.image = convert_channels(out.image, channels);
  out.box = choose_box(out.image.height, out.image.width);
  return out;
}

// ---------------------------------------------------------------------------------------------

bool starts_with(const std::string& bytes, const char* magic, size_t length) {
  return bytes.size() >= length && std::memcmp(bytes.data(), magic, length) == 0;
}

// target_size: the box's smallest side needed after decoding, which bounds the JPEG DCT scaling.
DecodedImage decode_for_box(const std::string& path, int channels, int target_size, const BoxChooser& choose_box) {
  const std::string bytes = core::read_text_file(path);  // binary-safe; core::InputError naming the path
  if (starts_with(bytes, "\xFF\xD8\xFF", 3)) return decode_jpeg(bytes, path, channels, target_size, choose_box);
  if (starts_with(bytes, "\x89PNG\r\n\x1A\n", 8)) return decode_png(bytes, path, channels, choose_box);
  throw core::InputError("'" + path + "' is neither a JPEG nor a PNG file");
}

void check_channels(int channels, const std::string& what) {
  if (channels != 1 && channels != 3)
    throw core::InputError(what + ": channels must be 1 (grayscale) or 3 (RGB), got " + std::to_string(channels));
}

bool is_image_file_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The entries of `dir`, sorted by name; InputError naming the folder when it cannot be listed.
std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(it->path());
  if (ec) throw core::InputError("cannot list folder '" + dir.string() + "': " + ec.message());
  std::sort(entries.begin(), entries.end());
  return entries;
}

bool is_hidden(const fs::path& path) { return path.filename().string().rfind('.', 0) == 0; }

}  // namespace

Image decode_image(const std::string& path, int channels) {
  check_channels(channels, "decoding '" + path + "'");
  const auto whole_image = [](int height, int width) { return CropBox{0, 0, double(width), double(height)}; };
  return decode_for_box(path, channels, std::numeric_limits<int>::max(), whole_image).image;  // never scaled
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, int channels, Transform transform)
    : root_(root), channels_(channels), transform_(transform) {
  check_channels(channels, "image folder '" + root + "'");
  std::error_code ec;
  if (!fs::exists(root, ec)) throw core::InputError("image folder '" + root + "' does not exist");
  if (!fs::is_directory(root, ec)) throw core::InputError("image folder '" + root + "' is not a directory");
  for (const fs::path& class_dir : sorted_entries(root)) {
    if (is_hidden(class_dir) || !fs::is_directory(class_dir, ec)) continue;
    const int64_t label = int64_t(classes_.size());
    const size_t images_before = paths_.size();
    for (const fs::path& file : sorted_entries(class_dir)) {
      if (!is_image_file_name(file) || !fs::is_regular_file(file, ec)) continue;
      paths_.push_back(file.string());
      labels_.push_back(label);
    }
    if (paths_.size() == images_before)
      throw core::InputError("class folder '" + class_dir.string() + "' has no .jpg, .jpeg or .png images");
    classes_.push_back(class_dir.filename().string());
  }
  if (classes_.empty()) throw core::InputError("image folder '" + root + "' has no class sub-folders");
  if (paths_.size() > size_t(std::numeric_limits<int>::max()))
    throw core::InputError("image folder '" + root + "' holds too many images");
}

std::string ImageFolderDataset::describe() const { return "image folder '" + root_ + "'"; }

void ImageFolderDataset::load_one(int i, int r, bool train, uint64_t seed, uint8_t* out) const {
  core::Rng rng(core::derive_seed(seed, uint64_t(i)));
  if (transform_.kind != Transform::Kind::kLarge) {
    transform_image(decode_image(paths_[size_t(i)], channels_).view(), transform_, train, r, rng, out);
    return;
  }
  const auto choose_box = [&](int height, int width) {
    return train ? random_resized_crop(height, width, rng) : center_crop_box(height, width, r);
  };
  const DecodedImage decoded = decode_for_box(paths_[size_t(i)], channels_, r, choose_box);
  resize_bilinear(decoded.image.view(), decoded.box, r, r, out);
  if (train && rng.uniform() < 0.5) flip_horizontal(out, r, r, channels_);  // drawn after the crop
}

void ImageFolderDataset::load_batch(const std::vector<int>& idx, int r, bool train, uint64_t seed, uint8_t* out) const {
  if (r <= 0) throw core::InputError(describe() + ": resolution must be positive, got " + std::to_string(r));
  for (int i : idx)
    if (i < 0 || i >= size())
      throw std::out_of_range(describe() + ": image index " + std::to_string(i) + " is outside 0.." +
                              std::to_string(size() - 1));
  const size_t image_bytes = size_t(r) * r * size_t(channels_);
  // One image is a few milliseconds of decoding, so every image is worth a task of its own.
  tbb::parallel_for(tbb::blocked_range<size_t>(0, idx.size(), 1), [&](const tbb::blocked_range<size_t>& range) {
    for (size_t j = range.begin(); j != range.end(); ++j) load_one(idx[j], r, train, seed, out + j * image_bytes);
  });
}

}  // namespace tinynas::data
