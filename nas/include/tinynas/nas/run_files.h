#pragma once
// The one place that knows where a run keeps its files: the predictor beside its supernet, the measured
// accuracies beside the predictor, the latency model of an MCU, the default output folders.
#include <string>

#include "tinynas/engine/mcu.h"
#include "tinynas/nas/config.h"

namespace tinynas::nas {

std::string predictor_beside(const std::string& supernet_path);        // DIR/predictor.pt
std::string accuracy_cache_beside(const std::string& predictor_path);  // DIR/accuracy_cache.json
// The latency model shipped for the profile: configs/calibration/<its latency_model>.yaml.
std::string shipped_latency_model(const engine::McuProfile& mcu);
// Where `calibrate` writes its fit when not told: runs/calibrate/<MCU>.yaml (never the shipped configs).
std::string calibration_output(const engine::McuProfile& mcu);
std::string training_dir(const Experiment& x);  // runs/<experiment>-supernet
// `search --train`'s supernet folder in the search's output folder: OUT/supernet.
std::string search_supernet_dir(const std::string& search_out);

}  // namespace tinynas::nas
