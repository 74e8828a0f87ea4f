#pragma once
// Fine-tuning of an extracted subnet on its own (SGD with momentum, cosine LR, label smoothing).
#include <vector>

#include "tinynas/supernet/dataset.h"
#include "tinynas/supernet/ofa.h"
#include "tinynas/supernet/train.h"

namespace tinynas::supernet {

// SGD parameter groups: conv and linear weights with weight decay; BN parameters, biases and kernel
// transforms (which start as identities) without.
std::vector<torch::optim::OptimizerParamGroup> sgd_param_groups(torch::nn::Module& net, double lr, double momentum,
                                                                bool nesterov, double weight_decay);

// Trains `net` in place at resolution r; returns the holdout top-1 after every epoch.
std::vector<double> finetune(StaticNet& net, const data::Dataset& train, const data::Dataset& holdout, int r,
                             const FinetuneOptions& options, const StepCallback& on_step = {});

}  // namespace tinynas::supernet
