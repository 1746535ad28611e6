#pragma once
// The networks of the Keras BatchNorm tutorials, with switches for the
// normalisation layer (none, native, custom), its placement, activation,
// dropout and initialisation.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/options.h"

namespace bnlab::models {

// Builds the model:
//  mlp: Flatten, then per hidden size: Linear, [norm] act [norm], [dropout];
//       then Linear(., 10). Default: 784-128-64-10, BN between Linear and ReLU
//       (with bnlab's BN, one layer computing both, either placement: see
//       fuses_relu).
//  cnn: per conv entry: Conv2d(3x3), act/norm block (BatchNorm2d), MaxPool2x2 (pool/max_pool.h),
//       [dropout]; Flatten; dense blocks as the mlp; Linear(., 10). Default:
//       Conv(32)-ReLU-BN-MaxPool-Flatten-Dense(64)-ReLU-BN-Dense(10).
// Layers are named (dense1, norm1, act1, ..., logits) for inspection.
torch::nn::Sequential build_model(const ModelOptions& options);

// Whether each block's BatchNorm and ReLU are one layer (named normK, no
// actK): bnlab's BN right before a ReLU (bn::BatchNormOptions::relu) or
// right after one (relu_input), with fuse_relu on. Not when dropout sits
// between the ReLU and BN (placement after, dropout before the norm).
bool fuses_relu(const ModelOptions& options);

// Whether each conv block's BatchNorm and max-pool are one layer (named
// normK, no poolK): bnlab's BN right before the pool, that is after the
// ReLU (placement after) or with the ReLU after it inside (fuses_relu),
// with fuse_pool on.
bool fuses_pool(const ModelOptions& options);

// Parameters that train (requires_grad), summed.
int64_t count_parameters(const torch::nn::Module& model);

// One line per layer: name, type, output shape for a (1,1,28,28) input, parameters.
std::vector<std::string> model_summary(torch::nn::Sequential& model);

}  // namespace bnlab::models

namespace bnlab::models {

// Parameter groups for staged training (ParamGroup). Sets requires_grad accordingly (frozen parameters get no
// gradient at all) and returns the trainable ones for the optimiser.
std::vector<torch::Tensor> select_trainable(torch::nn::Module& model, ParamGroup group);

// Copies every parameter and buffer that `to` shares with `from` (same name
// and shape); returns the names of those `to` has that `from` lacks (e.g.
// BatchNorm layers inserted into a model trained without them).
std::vector<std::string> transfer_weights(torch::nn::Module& from, torch::nn::Module& to);

}  // namespace bnlab::models
