#pragma once
// The latency model: instructions (QEMU) or cycles (a real board) of every layer the engine runs, as a
// linear function of a few features of the layer's shape, one set of coefficients per kernel kind
// (pointwise, depthwise k/s, stem conv, add, pooling, fully connected). The features follow the
// kernels' structure: multiply-accumulates, the per-step epilogues of the matrix multiply, the values
// widened or copied into planes, the per-row and per-channel overheads, a constant for the call.
// The coefficients are fit by least squares to the engine's own measurements (tinynas calibrate), with
// rows weighted by 1 / count so small layers count as much as large ones.
#include <map>
#include <string>
#include <vector>

#include "tinynas/engine/codegen.h"
#include "tinynas/engine/graph.h"
#include "tinynas/engine/patch.h"

namespace tinynas::evaluator {

// The kind of a graph's MFCC front-end (engine::Frontend::Mfcc): one constant, its count per clip.
inline constexpr const char* kFrontendMfccKind = "frontend_mfcc";

// The kind of kernel an op runs, e.g. "pointwise", "depthwise_k3_s1", "conv_k3_s2", "add".
std::string latency_kind(const engine::Graph& g, const engine::Op& op);
// The op's features; latency_feature_names(kind) names them (the first is always the constant 1).
std::vector<double> latency_features(const engine::Graph& g, const engine::Op& op);
// The features of one kernel call of the op with the given shapes (a patch's part of it, patch.h).
std::vector<double> latency_features(const engine::Graph& g, const engine::Op& op, const engine::KernelShape& shape);
// The features of layer `op` as the firmware runs it: in a patch stage (stage not null) the sum over its
// calls, every patch and row (the model is linear in them, so their sum predicts the layer's total).
std::vector<double> layer_features(const engine::Graph& g, const engine::PatchStage* stage, int op);
std::vector<std::string> latency_feature_names(const std::string& kind);

// One measured layer.
struct LayerSample {
  std::string kind;
  std::vector<double> features;
  double count = 0;  // instructions or cycles
};

// The layers of one firmware run (parse_firmware_output) of graph g, run with `stage` (null: layer by
// layer), and its front-end's run as a sample of kind kFrontendMfccKind. Throws InputError when the run
// does not have one layer per op, or MACs other than the schedule's.
std::vector<LayerSample> layer_samples(const engine::Graph& g, const engine::FirmwareOutput& run,
                                       const engine::PatchStage* stage = nullptr);

struct LatencyModel {
  struct Kind {
    std::vector<double> coefficients;  // one per feature
    int samples = 0;
    double rms_relative_error = 0;  // over the samples it was fit to
  };
  std::string mcu;
  std::string unit = "instructions";  // "instructions" (QEMU -icount) or "cycles" (a board's counter)
  double clock_hz = 0;                // turns counts into time
  std::string source;                 // where the measurements came from
  std::map<std::string, Kind> kinds;
  // Whole subnets measured and predicted after the fit (0 subnets = not validated).
  int validation_subnets = 0;
  double validation_mape_percent = 0;
  double validation_max_error_percent = 0;

  // Throws InputError when the model has no coefficients for the op's kind.
  double predict_op(const engine::Graph& g, const engine::Op& op) const;
  // Layer `op` as run with `stage` (null: layer by layer): every patch call of a stage layer.
  double predict_layer(const engine::Graph& g, const engine::PatchStage* stage, int op) const;
  // The count of a layer of `kind` with features `f` (InputError for a kind the model lacks).
  double predict_features(const std::string& kind, const std::vector<double>& f) const;
  double predict_frontend(const engine::Graph& g) const;  // 0 without a front-end
  // The front-end and the sum over the ops, with a patch schedule's recomputation when stage is not null.
  double predict(const engine::Graph& g, const engine::PatchStage* stage = nullptr) const;
  double predict_ms(const engine::Graph& g) const;  // needs clock_hz
};

// Least squares per kind (rank-deficient kinds get the minimum-norm solution).
LatencyModel fit_latency_model(const std::vector<LayerSample>& samples);

// YAML, written atomically; load throws InputError naming the path and the field.
void save_latency_model(const std::string& path, const LatencyModel& model);
LatencyModel load_latency_model(const std::string& path);

}  // namespace tinynas::evaluator
