// Arch JSON (what search writes and export/extract/profile read): parsed, then its own JSON parsed back
// to the same arch.
#include "fuzz_input.h"
#include "tinynas/search_space/space.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas::search_space;
  tinynas::fuzz::expect_written_text_to_read_back(
      tinynas::fuzz::as_text(data, size), [](const std::string& text) { return arch_from_json(text); },
      [](const ArchSpec& arch) { return to_json(arch); });
  return 0;
}
