#pragma once
// One subnet of an experiment's trained supernet: its accuracy (`tinynas eval`) and a standalone copy of
// it, optionally fine-tuned (`tinynas extract`). `extract --network` trains a network given layer by layer
// (a ResNet-8, a zoo network) on the experiment's data the same way, without a supernet.
#include <cstdint>
#include <optional>
#include <string>

#include "tinynas/nas/config.h"
#include "tinynas/search_space/space.h"
#include "tinynas/supernet/train.h"

namespace tinynas::nas {

struct SubnetRequest {
  Experiment experiment;
  std::string supernet;       // "" = the experiment's
  std::string arch;           // an arch JSON file, largest or smallest (resolve_arch)
  int resolution = 0;         // > 0 overrides the arch's
  int threads = 0;            // LibTorch threads; 0 = the experiment's
};

struct EvalRequest : SubnetRequest {
  std::string split = "holdout";  // holdout (carved from the training split) or test
  int calibration_images = 0;     // BN recalibration images; 0 = the config's
};

struct EvalResult {
  std::string supernet;  // the file evaluated
  search_space::ArchSpec arch;
  std::string split;
  int calibration_images = 0;
  int64_t correct = 0, total = 0;
  double top1 = 0;  // percent
};

// The subnet's top-1 on the split after BN recalibration.
EvalResult evaluate_subnet(const EvalRequest& request);

struct ExtractRequest : SubnetRequest {
  // Instead of `arch`: a network JSON file (zoo_json.h) trained from random weights (needs finetune.epochs)
  // at its resolution (or `resolution`), with the experiment's normalization.
  std::string network;
  std::string out;             // the subnet file (.pt)
  bool from_scratch = false;   // re-initialize the weights (a static baseline; needs finetune.epochs > 0)
  bool test = false;           // also measure the test split
  // Fine-tuning epochs (0 = none) and learning rate; batch size and seed are the experiment's.
  supernet::FinetuneOptions finetune{0, 0.01};
  supernet::StepCallback on_finetune_step;
};

struct ExtractResult {
  std::string path;
  std::optional<search_space::ArchSpec> arch;  // none for a --network
  int resolution = 0;
  int blocks = 0;
  double extracted_holdout_top1 = 0;  // before fine-tuning
  double holdout_top1 = 0;            // of the file written
  std::optional<double> test_top1;
};

// Extracts the subnet (BN recalibrated, or re-initialized), fine-tunes it when asked and writes it
// atomically.
ExtractResult extract_subnet(const ExtractRequest& request);

// Where extract_subnet keeps the fine-tuning state after every epoch (removed once `out` is written): a
// rerun with the same request continues from it.
inline std::string finetune_checkpoint_path(const std::string& out) { return out + ".finetune-checkpoint"; }

}  // namespace tinynas::nas
