// The IDX reader on generated files (gzip and plain) and on Debian's Fashion-MNIST.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/supernet/idx.h"

using namespace tinynas;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;

namespace {

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string idx3(uint32_t n, uint32_t h, uint32_t w, const std::string& data) {
  return be32(0x0803) + be32(n) + be32(h) + be32(w) + data;
}

std::string idx1(const std::string& labels) { return be32(0x0801) + be32(uint32_t(labels.size())) + labels; }

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

// Three 2x3 images with pixel value 10 * image + position, labels 2, 0, 1.
std::string three_images() {
  std::string px;
  for (int i = 0; i < 3; ++i)
    for (int p = 0; p < 6; ++p) px += char(10 * i + p);
  return px;
}

}  // namespace

TEST(Idx, ReadsGzipFiles) {
  TempDir dir;
  const std::string im = (dir.path / "im.gz").string(), lb = (dir.path / "lb.gz").string();
  write_gz(im, idx3(3, 2, 3, three_images()));
  write_gz(lb, idx1(std::string("\x02\x00\x01", 3)));
  const data::ImageSet s = data::read_idx(im, lb);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.height, 2);
  EXPECT_EQ(s.width, 3);
  EXPECT_EQ(s.channels, 1);
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.labels, (std::vector<int64_t>{2, 0, 1}));
  ASSERT_EQ(s.pixels.size(), 18u);
  EXPECT_EQ(s.pixels[0], 0);
  EXPECT_EQ(s.pixels[7], 11);  // image 1, position 1
  EXPECT_EQ(s.pixels[17], 25);
}

TEST(Idx, ReadsUncompressedFilesToo) {
  TempDir dir;
  dir.write("im", idx3(3, 2, 3, three_images()));
  dir.write("lb", idx1(std::string("\x02\x00\x01", 3)));
  const auto s = data::read_idx((dir.path / "im").string(), (dir.path / "lb").string());
  EXPECT_EQ(s.pixels[17], 25);
}

TEST(Idx, MalformedFilesAreInputErrorsNamingThePath) {
  TempDir dir;
  const std::string lb = dir.write("lb", idx1(std::string("\x02\x00\x01", 3)));
  const std::string bad_magic = dir.write("magic", be32(0x0903) + be32(3) + be32(2) + be32(3) + three_images());
  const std::string truncated = dir.write("short", idx3(3, 2, 3, three_images().substr(0, 10)));
  const std::string mismatch = dir.write("four", idx3(4, 2, 3, three_images() + three_images().substr(0, 6)));
  const std::string missing = (dir.path / "nope.gz").string();
  EXPECT_NE(input_error_message([&] { data::read_idx(bad_magic, lb); }).find("magic"), std::string::npos);
  EXPECT_NE(input_error_message([&] { data::read_idx(truncated, lb); }).find("truncated"), std::string::npos);
  EXPECT_NE(input_error_message([&] { data::read_idx(mismatch, lb); }).find("4 images"), std::string::npos);
  EXPECT_NE(input_error_message([&] { data::read_idx(missing, lb); }).find("nope.gz"), std::string::npos);
  EXPECT_NE(input_error_message([&] { data::load_fashion_mnist("valid"); }).find("'valid'"), std::string::npos);
  EXPECT_NE(input_error_message([&] { data::load_fashion_mnist("train", dir.path.string()); }).find("train-images"),
            std::string::npos);
}

// Fashion-MNIST has 60,000 training and 10,000 test images of 28x28, exactly balanced over 10 classes.
TEST(FashionMnist, DebianFilesHaveThePublishedShape) {
  if (!std::filesystem::exists(data::kFashionMnistDir)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  for (const auto& [split, count] : {std::pair<std::string, int>{"train", 60000}, {"test", 10000}}) {
    const auto s = data::load_fashion_mnist(split);
    EXPECT_EQ(s.count, count);
    EXPECT_EQ(s.height, 28);
    EXPECT_EQ(s.width, 28);
    EXPECT_EQ(s.num_classes, 10);
    std::vector<int> per_class(10, 0);
    for (int64_t l : s.labels) ++per_class[size_t(l)];
    for (int c : per_class) EXPECT_EQ(c, count / 10) << split;
    // Not blank: Fashion-MNIST's mean pixel is about 72.9 (train) on 0..255.
    double sum = 0;
    for (uint8_t p : s.pixels) sum += p;
    EXPECT_NEAR(sum / double(s.pixels.size()), 72.9, 2.0) << split;
  }
}
