// Search-space YAML (configs/spaces/): parsed, then written back and parsed again to the same space.
#include "fuzz_input.h"
#include "tinynas/search_space/space_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas::search_space;
  tinynas::fuzz::expect_written_text_to_read_back(
      tinynas::fuzz::as_text(data, size), [](const std::string& text) { return space_from_yaml(text, "<fuzz>"); },
      [](const SearchSpace& space) { return space_to_yaml(space); });
  return 0;
}
