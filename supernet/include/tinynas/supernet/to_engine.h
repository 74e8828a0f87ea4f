#pragma once
// The adapter from a trained LibTorch network to the engine: a StaticNet (eval mode) becomes an
// engine FloatModel with BatchNorm folded into the convolutions, in the engine's layouts. The
// engine's float reference then computes what the LibTorch network computes.
#include "tinynas/engine/float_model.h"
#include "tinynas/supernet/ofa.h"

namespace tinynas::supernet {

// Inputs of the networks trained here are (pixel - 128) / 128 (evaluate.h), so the model's input
// mean and std are both 128; a per-channel normalization of the net is folded into the stem.
engine::FloatModel to_float_model(StaticNet& net);

}  // namespace tinynas::supernet
