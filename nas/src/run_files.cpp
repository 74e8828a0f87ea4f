#include "tinynas/nas/run_files.h"

#include <filesystem>

namespace tinynas::nas {

namespace fs = std::filesystem;

std::string predictor_beside(const std::string& supernet_path) {
  return (fs::path(supernet_path).parent_path() / "predictor.pt").string();
}

std::string accuracy_cache_beside(const std::string& predictor_path) {
  return (fs::path(predictor_path).parent_path() / "accuracy_cache.json").string();
}

std::string shipped_latency_model(const engine::McuProfile& mcu) {
  return (fs::path(config_dir()) / "calibration" / (mcu.latency_model + ".yaml")).string();
}

std::string calibration_output(const engine::McuProfile& mcu) {
  return (fs::path("runs") / "calibrate" / (mcu.name + ".yaml")).string();
}

std::string training_dir(const Experiment& x) { return "runs/" + x.name + "-supernet"; }

std::string search_supernet_dir(const std::string& search_out) { return (fs::path(search_out) / "supernet").string(); }

}  // namespace tinynas::nas
