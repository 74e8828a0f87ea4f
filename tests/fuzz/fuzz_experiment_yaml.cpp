// Experiment YAML (configs/experiments/): the file with its space, MCU, data, stage-1, supernet and
// training sections. It is read from experiments/ beside a link to the shipped spaces, so that the
// seeds' relative space paths (../spaces/...) resolve as in configs/.
#include "fuzz_input.h"
#include "tinynas/nas/config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::filesystem::create_directory_symlink(TINYNAS_SOURCE_DIR "/configs/spaces",
                                            std::filesystem::path(tinynas::fuzz::work_dir()) / "spaces");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string path = fuzz::as_file(data, size, "experiments/experiment.yaml");
  fuzz::expect_success_or_input_error([&] { nas::load_experiment(path); });
  return 0;
}
