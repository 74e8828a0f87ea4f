// NumPy .npy input files (export --calibration): any bytes as a file of inputs of two shapes.
#include "fuzz_input.h"
#include "tinynas/nas/input_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string path = fuzz::as_file(data, size, "inputs.npy");
  fuzz::expect_success_or_input_error([&] { nas::read_npy_inputs(path, {4, 5, 3}); });
  fuzz::expect_success_or_input_error([&] { nas::read_npy_inputs(path, {1, 1, 3}); });
  return 0;
}
