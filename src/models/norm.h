#pragma once
#include <torch/torch.h>

#include <string>

#include "models/options.h"

namespace bnlab::models {

// A normalisation layer over `features` channels of a (N,C) (spatial_dims 0)
// or (N,C,H,W) (spatial_dims 2) input: native is torch::nn::BatchNorm1d/2d,
// custom is bnlab::bn::BatchNorm, both configured from `options` (eps,
// momentum, affine, gamma and beta init; custom also kernels and sync group).
// then_relu: bnlab's BatchNorm with the ReLU after it computed inside
// (custom only). Throws std::invalid_argument for kind none.
torch::nn::AnyModule make_norm(const NormOptions& options, int64_t features, int spatial_dims, bool then_relu = false);

// True for both BatchNorm implementations (for freezing, logging, counting).
bool is_batch_norm(const torch::nn::Module& module);

}  // namespace bnlab::models

namespace bnlab::models {

// Uniform access to the BatchNorm layers of a model, native or custom.
struct BatchNormLayer {
  std::string name;  // e.g. "norm1"
  std::shared_ptr<torch::nn::Module> module;
  torch::Tensor weight, bias;                     // undefined when affine is off
  torch::Tensor running_mean, running_var;        // undefined without running stats
  std::function<c10::optional<double>()> momentum;
  std::function<void(c10::optional<double>)> set_momentum;
  std::function<void()> reset_running_stats;
};

std::vector<BatchNormLayer> batch_norm_layers(torch::nn::Module& model);

}  // namespace bnlab::models
