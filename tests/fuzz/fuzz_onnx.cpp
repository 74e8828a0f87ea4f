// ONNX import: any bytes as a model file, through the checker, shape inference and the engine's import.
#include "fuzz_input.h"
#include "tinynas/engine/onnx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string path = fuzz::as_file(data, size, "model.onnx");
  fuzz::expect_success_or_input_error([&] { engine::import_onnx(path); });
  return 0;
}
