// Model-zoo network JSON (MCUNet's format, search_space/zoo/): parsed into a network, costed (MACs,
// parameters, activations: integer arithmetic that must not overflow), written back and read again.
#include "fuzz_input.h"
#include "tinynas/search_space/cost.h"
#include "tinynas/search_space/zoo_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas::search_space;
  tinynas::fuzz::expect_written_text_to_read_back(
      tinynas::fuzz::as_text(data, size), [](const std::string& text) { return network_from_zoo_json(text, "<fuzz>"); },
      [](const NetworkDesc& net) {
        compute_cost(net);
        return network_to_zoo_json(net);
      });
  return 0;
}
