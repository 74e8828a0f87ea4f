// Inputs from the user's files (nas/input_files.h): .npy arrays written by NumPy itself and images
// written by PIL (python3-numpy and python3-pil, which python3-torch brings) as the independent
// writers; bad files are input errors naming the file.
#include <gtest/gtest.h>

#include <string>

#include "test_helpers.h"
#include "tinynas/nas/input_files.h"

using namespace tinynas::nas;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs a Python snippet in `dir` (numpy as np, PIL.Image as Image).
void python(const TempDir& dir, const std::string& code) {
  ASSERT_EQ(tinynas_test::run_python(dir, "import numpy as np\nfrom PIL import Image\n" + code), "");
}

// NumPy's float32 [2,3,4,5] array of value n*1000 + c*100 + y*10 + x comes out NHWC per input; float64
// [3,4,5] is one input; [N,C] fits an input of size 1 x 1.
TEST(NpyInputs, NumpyArraysComeOutNhwcInOnnxOrder) {
  TempDir dir;
  python(dir,
         "n, c, y, x = np.meshgrid(range(2), range(3), range(4), range(5), indexing='ij')\n"
         "a = (n * 1000 + c * 100 + y * 10 + x).astype(np.float32)\n"
         "np.save('batch.npy', a)\n"
         "np.save('one.npy', a[1].astype(np.float64))\n"
         "np.save('vectors.npy', np.arange(6, dtype=np.float32).reshape(2, 3))\n");
  const InputShape shape{4, 5, 3};
  const auto batch = read_npy_inputs((dir.path / "batch.npy").string(), shape);
  ASSERT_EQ(batch.size(), 2u);
  for (int n = 0; n < 2; ++n)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x)
        for (int c = 0; c < 3; ++c)
          ASSERT_EQ(batch[size_t(n)][size_t((y * 5 + x) * 3 + c)], float(n * 1000 + c * 100 + y * 10 + x));
  const auto one = read_npy_inputs((dir.path / "one.npy").string(), shape);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], batch[1]);
  const auto vectors = read_npy_inputs((dir.path / "vectors.npy").string(), {1, 1, 3});
  ASSERT_EQ(vectors.size(), 2u);
  EXPECT_EQ(vectors[1], (std::vector<float>{3, 4, 5}));
}

TEST(NpyInputs, BadFilesAreInputErrorsNamingTheFile) {
  TempDir dir;
  python(dir,
         "np.save('ints.npy', np.zeros((1, 3, 4, 5), dtype=np.int32))\n"
         "np.save('fortran.npy', np.asfortranarray(np.zeros((1, 3, 4, 5), dtype=np.float32)))\n"
         "np.save('shape.npy', np.zeros((1, 5, 4, 3), dtype=np.float32))\n"
         "np.save('empty.npy', np.zeros((0, 3, 4, 5), dtype=np.float32))\n"
         "np.save('nan.npy', np.full((1, 3, 4, 5), np.nan, dtype=np.float32))\n"
         "np.save('good.npy', np.zeros((2, 3, 4, 5), dtype=np.float32))\n"
         "g = open('good.npy', 'rb').read()\n"
         "open('truncated.npy', 'wb').write(g[:-7])\n"
         "h = g.replace(b'(2, 3, 4, 5), }' + b' ' * 12, b'(1099511627776, 3, 4, 5), }')\n"
         "assert h != g and len(h) == len(g)\n"
         "open('huge.npy', 'wb').write(h)\n"
         "open('random.npy', 'wb').write(bytes(range(256)) * 4)\n");
  const InputShape shape{4, 5, 3};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ints.npy", "element type '<i4'"},
      {"fortran.npy", "Fortran order"},
      {"shape.npy", "shape [1,5,4,3]; the network takes [N,3,4,5]"},
      {"empty.npy", "holds no inputs"},
      {"nan.npy", "not finite"},
      {"truncated.npy", "bytes of data"},
      {"huge.npy", "is too large"},
      {"random.npy", "not a NumPy .npy file"},
      {"missing.npy", "cannot read"},
  };
  for (const auto& [name, part] : cases) {
    const std::string path = (dir.path / name).string();
    const std::string msg = input_error_message([&] { read_npy_inputs(path, shape); });
    EXPECT_TRUE(contains(msg, path)) << msg;
    EXPECT_TRUE(contains(msg, part)) << name << ": " << msg;
  }
}

// A folder at any depth, a seeded sample, and the preprocessing: a flat 8x6 image of (255, 0, 51) is
// (1 - 0.5) / 0.25 = 2, (0 - 0.5) / 0.5 = -1 and (0.2 - 0) / 0.1 = 2 at every pixel of the 4x4 input.
TEST(CalibrationInputs, ImageFoldersAtAnyDepthWithTheStatedPreprocessing) {
  TempDir dir;
  python(dir,
         "import os\n"
         "os.makedirs('cal/a/deep', exist_ok=True)\n"
         "Image.new('RGB', (8, 6), (255, 0, 51)).save('cal/one.png')\n"
         "Image.new('RGB', (8, 6), (255, 0, 51)).save('cal/a/two.PNG')\n"
         "Image.new('RGB', (8, 6), (255, 0, 51)).save('cal/a/deep/three.jpg', quality=100)\n"
         "open('cal/notes.txt', 'w').write('not an image')\n"
         "os.makedirs('none', exist_ok=True)\n");
  const InputShape shape{4, 4, 3};
  const ImagePreprocessing pre{{0.5f, 0.5f, 0.0f}, {0.25f, 0.5f, 0.1f}};
  const auto all = load_calibration_inputs((dir.path / "cal").string(), shape, 10, 1, pre);
  ASSERT_EQ(all.size(), 3u);
  // Sorted by path: a/deep/three.jpg, a/two.PNG, one.png. The PNGs exactly, the JPEG within its rounding.
  for (size_t i = 0; i < 3; ++i) {
    const float tolerance = i == 0 ? 0.05f : 1e-5f;
    for (size_t p = 0; p < 16; ++p) {
      EXPECT_NEAR(all[i][p * 3 + 0], 2.0f, tolerance);
      EXPECT_NEAR(all[i][p * 3 + 1], -1.0f, tolerance);
      EXPECT_NEAR(all[i][p * 3 + 2], 2.0f, tolerance * 2);
    }
  }
  EXPECT_EQ(load_calibration_inputs((dir.path / "cal").string(), shape, 2, 1, pre).size(), 2u);
  EXPECT_EQ(load_calibration_inputs((dir.path / "cal" / "one.png").string(), shape, 2, 1, pre).size(), 1u);

  std::string msg = input_error_message([&] { load_calibration_inputs((dir.path / "none").string(), shape, 2, 1, pre); });
  EXPECT_TRUE(contains(msg, "holds no JPEG or PNG images")) << msg;
  msg = input_error_message([&] { load_calibration_inputs((dir.path / "nowhere").string(), shape, 2, 1, pre); });
  EXPECT_TRUE(contains(msg, "does not exist")) << msg;
  msg = input_error_message([&] { load_calibration_inputs((dir.path / "cal").string(), shape, 2, 1, {{0.5f, 0.5f}, {}}); });
  EXPECT_TRUE(contains(msg, "--input-mean: 2 values for an input of 3 channels")) << msg;
  msg = input_error_message([&] { load_calibration_inputs((dir.path / "cal").string(), shape, 2, 1, {{}, {0.0f}}); });
  EXPECT_TRUE(contains(msg, "--input-std")) << msg;
  msg = input_error_message([&] { load_calibration_inputs((dir.path / "cal").string(), {4, 4, 2}, 2, 1, {}); });
  EXPECT_TRUE(contains(msg, "images give 1 or 3")) << msg;
}

}  // namespace
