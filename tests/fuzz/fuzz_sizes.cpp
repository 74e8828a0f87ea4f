// Sizes and durations as users type them (--sram, --flash, --latency and the YAML fields that take them).
#include <cmath>

#include "fuzz_input.h"
#include "tinynas/core/units.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string text = fuzz::as_text(data, size);
  fuzz::expect_success_or_input_error([&] {
    int64_t bytes = core::parse_size(text, "--sram");
    if (bytes <= 0) std::abort();  // parse_size promises a positive size or an error
    core::format_size(bytes);
  });
  fuzz::expect_success_or_input_error([&] {
    double ms = core::parse_duration_ms(text, "--latency");
    if (!std::isfinite(ms) || ms < 0) std::abort();  // finite and not negative, or an error
  });
  return 0;
}
