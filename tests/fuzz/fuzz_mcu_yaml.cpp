// MCU profile YAML (configs/mcu/): SRAM, Flash, clock and the firmware target.
#include "fuzz_input.h"
#include "tinynas/nas/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string path = fuzz::as_file(data, size, "mcu.yaml");
  fuzz::expect_success_or_input_error([&] { nas::load_mcu(path); });
  return 0;
}
