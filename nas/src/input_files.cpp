#include "tinynas/nas/input_files.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "tinynas/core/errors.h"
#include "tinynas/supernet/image_folder.h"
#include "tinynas/supernet/image_ops.h"

namespace fs = std::filesystem;

namespace tinynas::nas {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image_file(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The value of `key` in a .npy header, a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 32, 32), }: a quoted string (quotes kept),
// a tuple (parentheses kept) or a word.
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  const auto missing = [&] {
    return core::InputError("'" + path + "': not a NumPy .npy file (its header has no '" + key + "')");
  };
  size_t at = std::string::npos;
  for (const char quote : {'\'', '"'}) {
    at = header.find(quote + key + quote);
    if (at != std::string::npos) break;
  }
  if (at == std::string::npos) throw missing();
  at += key.size() + 2;
  while (at < header.size() && std::isspace(static_cast<unsigned char>(header[at]))) ++at;
  if (at >= header.size() || header[at] != ':') throw missing();
  ++at;
  while (at < header.size() && std::isspace(static_cast<unsigned char>(header[at]))) ++at;
  if (at >= header.size()) throw missing();
  const char open = header[at];
  size_t end;
  if (open == '\'' || open == '"') {
    end = header.find(open, at + 1);
  } else if (open == '(') {
    end = header.find(')', at);
  } else {
    end = at;
    while (end < header.size() && std::isalnum(static_cast<unsigned char>(header[end]))) ++end;
    return header.substr(at, end - at);
  }
  if (end == std::string::npos) throw missing();
  return header.substr(at, end - at + 1);
}

}  // namespace

void check_preprocessing(const ImagePreprocessing& pre, int channels) {
  for (const auto* values : {&pre.mean, &pre.std}) {
    const char* name = values == &pre.mean ? "--input-mean" : "--input-std";
    if (values->size() > 1 && int(values->size()) != channels)
      throw core::InputError(std::string(name) + ": " + std::to_string(values->size()) + " values for an input of " +
                             std::to_string(channels) + " channels (give 1 or " + std::to_string(channels) + ")");
    for (float v : *values)
      if (!std::isfinite(v) || (values == &pre.std && !(v > 0.0f)))
        throw core::InputError(std::string(name) + ": " + std::to_string(v) +
                               (values == &pre.std ? " is not a positive number" : " is not a number"));
  }
}

std::vector<float> read_image_input(const std::string& path, const InputShape& shape, const ImagePreprocessing& pre) {
  check_preprocessing(pre, shape.channels);
  if (shape.channels != 1 && shape.channels != 3)
    throw core::InputError("'" + path + "': the network takes " + std::to_string(shape.channels) +
                           " channels; images give 1 or 3 (use a .npy file)");
  const data::Image image = data::decode_image(path, shape.channels);
  std::vector<uint8_t> resized(shape.elements());
  data::resize_bilinear(image.view(), {0, 0, double(image.width), double(image.height)}, shape.height, shape.width,
                        resized.data());
  std::vector<float> x(resized.size());
  const size_t c_count = size_t(shape.channels);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = i % c_count;
    const float mean = pre.mean.empty() ? 0.0f : pre.mean[pre.mean.size() == 1 ? 0 : c];
    const float std = pre.std.empty() ? 1.0f : pre.std[pre.std.size() == 1 ? 0 : c];
    x[i] = (float(resized[i]) / 255.0f - mean) / std;
  }
  return x;
}

std::vector<std::vector<float>> read_npy_inputs(const std::string& path, const InputShape& shape) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::InputError("cannot read '" + path + "'");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto bad = [&](const std::string& what) { return core::InputError("'" + path + "': " + what); };

  // Magic and version (8 bytes), then the header length: 2 bytes in version 1, 4 in versions 2 and 3
  // (little endian).
  unsigned char prefix[8] = {};
  if (!in.read(reinterpret_cast<char*>(prefix), 8) || std::memcmp(prefix, "\x93NUMPY", 6) != 0)
    throw bad("not a NumPy .npy file");
  const int major = prefix[6];
  if (major < 1 || major > 3) throw bad("NumPy .npy version " + std::to_string(major) + " is not supported");
  const int length_bytes = major == 1 ? 2 : 4;
  unsigned char length[4] = {};
  if (!in.read(reinterpret_cast<char*>(length), length_bytes)) throw bad("truncated .npy header");
  uint64_t header_length = 0;
  for (int i = length_bytes - 1; i >= 0; --i) header_length = header_length * 256 + length[i];
  const uint64_t data_offset = 8 + uint64_t(length_bytes) + header_length;
  if (header_length > 65536 || data_offset > file_size) throw bad("truncated or malformed .npy header");
  std::string header(size_t(header_length), '\0');
  if (!in.read(header.data(), std::streamsize(header_length))) throw bad("truncated .npy header");

  const std::string descr = header_value(header, "descr", path);
  if (descr.size() < 2 || (descr[0] != '\'' && descr[0] != '"')) throw bad("malformed .npy header (descr)");
  const std::string type = descr.substr(1, descr.size() - 2);
  size_t word = 0;
  if (type == "<f4") word = 4;
  if (type == "<f8") word = 8;
  if (word == 0) throw bad("element type '" + type + "'; the inputs must be float32 or float64 (little endian)");
  if (header_value(header, "fortran_order", path) != "False") throw bad("Fortran order; save the array in C order");
  std::vector<uint64_t> dims;
  {
    const std::string tuple = header_value(header, "shape", path);
    if (tuple.empty() || tuple[0] != '(') throw bad("malformed .npy header (shape)");
    std::string digits;
    for (char c : tuple.substr(1) + ",") {
      if (std::isdigit(static_cast<unsigned char>(c))) {
        digits += c;
        if (digits.size() > 12) throw bad("shape " + tuple + " is too large");
      } else if (c == ',' || c == ')') {
        if (!digits.empty()) dims.push_back(std::stoull(digits));
        digits.clear();
      } else if (!std::isspace(static_cast<unsigned char>(c))) {
        throw bad("malformed shape " + tuple);
      }
    }
  }

  // [N,C,H,W] / [C,H,W], or [N,C] / [C] for an input of size 1 x 1.
  const bool spatial = shape.height != 1 || shape.width != 1;
  const std::vector<uint64_t> one = spatial ? std::vector<uint64_t>{uint64_t(shape.channels), uint64_t(shape.height),
                                                                      uint64_t(shape.width)}
                                            : std::vector<uint64_t>{uint64_t(shape.channels)};
  uint64_t count = 1;
  const bool batched = dims.size() == one.size() + 1;
  if (batched) count = dims[0];
  if ((!batched && dims != one) || (batched && !std::equal(one.begin(), one.end(), dims.begin() + 1))) {
    std::string want = "[N";
    for (uint64_t d : one) want += "," + std::to_string(d);
    std::string got = "[";
    for (size_t i = 0; i < dims.size(); ++i) got += (i ? "," : "") + std::to_string(dims[i]);
    throw bad("shape " + got + "]; the network takes " + want + "] (ONNX's layout, N optional)");
  }
  if (count == 0) throw bad("holds no inputs (N = 0)");
  const uint64_t elements = shape.elements();
  const uint64_t data_bytes = file_size - data_offset, input_bytes = elements * word;
  if (data_bytes % input_bytes != 0 || data_bytes / input_bytes != count)
    throw bad("holds " + std::to_string(data_bytes) + " bytes of data; " + std::to_string(count) + " inputs need " +
              std::to_string(input_bytes) + " bytes each");

  std::vector<std::vector<float>> inputs;
  std::vector<char> raw(size_t(elements * word));
  const size_t hw = size_t(shape.height) * size_t(shape.width);
  for (uint64_t n = 0; n < count; ++n) {
    if (!in.read(raw.data(), std::streamsize(raw.size()))) throw bad("truncated data");
    std::vector<float> x(static_cast<size_t>(elements));
    for (size_t i = 0; i < size_t(elements); ++i) {
      float v;
      if (word == 4) {
        std::memcpy(&v, raw.data() + i * 4, 4);
      } else {
        double d;
        std::memcpy(&d, raw.data() + i * 8, 8);
        v = float(d);
      }
      if (!std::isfinite(v)) throw bad("input " + std::to_string(n) + " holds a value that is not finite");
      // CHW (file) to HWC (engine).
      const size_t c = i / hw, pixel = i % hw;
      x[pixel * size_t(shape.channels) + c] = v;
    }
    inputs.push_back(std::move(x));
  }
  return inputs;
}

std::vector<std::vector<float>> read_inputs(const std::string& path, const InputShape& shape,
                                            const ImagePreprocessing& pre) {
  if (is_image_file(path)) return {read_image_input(path, shape, pre)};
  return read_npy_inputs(path, shape);
}

std::vector<std::vector<float>> load_calibration_inputs(const std::string& path, const InputShape& shape, int count,
                                                        uint64_t seed, const ImagePreprocessing& pre) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw core::InputError("--calibration: '" + path + "' does not exist");
  if (!fs::is_directory(path, ec)) {
    auto inputs = read_inputs(path, shape, pre);
    if (int(inputs.size()) > count) inputs.resize(size_t(count));
    return inputs;
  }
  check_preprocessing(pre, shape.channels);
  std::vector<std::string> images;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && is_image_file(it->path())) images.push_back(it->path().string());
  if (ec) throw core::InputError("--calibration: cannot list '" + path + "': " + ec.message());
  if (images.empty()) throw core::InputError("--calibration: '" + path + "' holds no JPEG or PNG images");
  std::sort(images.begin(), images.end());
  // Folders are often ordered by class: a seeded sample, not the first files.
  if (int(images.size()) > count) {
    std::shuffle(images.begin(), images.end(), std::mt19937_64(seed));
    images.resize(size_t(count));
    std::sort(images.begin(), images.end());
  }
  std::vector<std::vector<float>> inputs;
  for (const auto& image : images) inputs.push_back(read_image_input(image, shape, pre));
  return inputs;
}

}  // namespace tinynas::nas
