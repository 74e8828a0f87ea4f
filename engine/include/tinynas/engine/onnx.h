#pragma once
// ONNX in and out for the engine's float and int8 models (library engine_onnx, which links ONNX; the
// engine library itself does not).
//
// Import brings an ONNX CNN (NCHW; any batch, fixed or symbolic, runs as batch 1) to a FloatModel:
//  - Conv (depthwise when group == channels), QLinearConv (weights and bias dequantized), Gemm and
//    MatMul (FullyConnected; alpha, beta and transB folded into the weights), Add, AveragePool (with
//    count_include_pad: a depthwise conv of weights 1/k^2; one window over the whole input: a global
//    average pool), MaxPool, GlobalAveragePool, ReduceMean over the spatial axes, Softmax (over channels),
//    Sigmoid, HardSigmoid, HardSwish, Tanh, LeakyRelu, Elu, Selu, Softplus, PRelu with one slope (Unary ops; x times
//    HardSigmoid(x, 1/6, 1/2), the opset-10 form of HardSwish, is one HardSwish), Mul of two
//    activations of one shape or by a per-channel [1,C,1,1] activation;
//  - folded into the op that produces their input, when that op's output has no other reader:
//    BatchNormalization (into a Conv or Gemm), Relu and Clip [0, 6] / [0, inf) (the op's activation),
//    Add / Sub / Mul / Div of a per-channel constant (weights and bias). Elsewhere they become a 1x1
//    depthwise conv;
//  - folded into the Conv or AveragePool that reads it: a zero Pad of the height and width;
//  - no data change: Flatten and Reshape to [1, N] (a following Gemm's weights are permuted from NCHW
//    to NHWC order) or, for a 1x1 tensor, to [1, C, 1, 1], Identity, Dropout, Clip without bounds, and QuantizeLinear / DequantizeLinear on
//    activations (a quantized tensor is represented by its real value; rounding and saturation are
//    dropped). DequantizeLinear and QuantizeLinear of constants are folded;
//  - no data change either: Squeeze, Unsqueeze and Transpose that only add, drop or move axes of size 1;
//  - shape arithmetic folded to constants: Shape of an activation (batch 1), and Gather, Unsqueeze,
//    Squeeze, Transpose, Concat, Slice, Cast, Add, Sub, Mul, Div of constants.
// The one graph input maps to the engine's NHWC input: [N,C,H,W] -> HxWxC, [N,C,L] -> Lx1xC,
// [N,C] -> 1x1xC; the output likewise (a flattened output keeps the NHWC order of the tensor it
// flattens). A uint8 input read by DequantizeLinear / QLinearConv gives input_mean = zero point and
// input_std = 1 / scale (int8: mean = zero point + 128); a float input takes them from the metadata the
// exports write, or keeps FloatModel's default (pixel - 128) / 128.
// The model is checked (onnx::checker, strict shape inference) and every shape recomputed; anything
// else (other ops, dilations, non-square kernels or strides, other groups, per-channel activation
// quantization, ...) throws InputError naming the node.
//
// Export writes an NCHW float input "input" of shape [1,C,H,W] and an output "output", checks the
// model with onnx::checker and shape inference, and writes it to a temporary file renamed over `path`:
//  - float, opset 10: Conv (group = channels for depthwise), Relu, Clip(min 0, max 6 as attributes: the
//    form OpenCV's DNN module reads) for ReLU6, Add, AveragePool, MaxPool, GlobalAveragePool,
//    Flatten + Gemm, Softmax (on 1x1 tensors; opset 10 has no per-pixel softmax);
//  - quantized, opset 13: the same graph in QuantizeLinear/DequantizeLinear (QDQ) form: int8 weights
//    with per-channel scales, int32 biases, and a Q/DQ pair on the input and on every op's output.
// Both record the model's input mean and std in the metadata (keys below).
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "tinynas/engine/float_model.h"
#include "tinynas/engine/quantize.h"

namespace tinynas::engine {

// The model metadata keys that carry FloatModel::input_mean / input_std through an ONNX file.
inline constexpr const char* kOnnxInputMeanKey = "tinynas.input_mean";
inline constexpr const char* kOnnxInputStdKey = "tinynas.input_std";

// Throws InputError naming the file (missing, not ONNX, invalid) or the node the engine cannot run.
FloatModel import_onnx(const std::string& path);
// `origin` names the model in error messages.
FloatModel import_onnx(const onnx::ModelProto& model, const std::string& origin = "<onnx model>");

onnx::ModelProto float_model_to_onnx(const FloatModel& model);
onnx::ModelProto quantized_model_to_onnx(const QuantizedModel& model);
void export_onnx_float(const FloatModel& model, const std::string& path);
void export_onnx_quantized(const QuantizedModel& model, const std::string& path);

// The values of an ONNX tensor (float, double, int8, uint8, int32 or int64), widened to double;
// throws InputError for other types, external data or a size that does not match the shape.
std::vector<double> onnx_tensor_values(const onnx::TensorProto& tensor);

}  // namespace tinynas::engine
