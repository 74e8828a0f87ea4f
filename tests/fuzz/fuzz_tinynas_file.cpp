// tinynas files (supernet and subnet .pt): any bytes as a file, read as a supernet and as a subnet.
#include "fuzz_input.h"
#include "tinynas/supernet/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string path = fuzz::as_file(data, size, "model.pt");
  fuzz::expect_success_or_input_error([&] { supernet::load_supernet(path); });
  fuzz::expect_success_or_input_error([&] { supernet::load_subnet(path); });
  return 0;
}
