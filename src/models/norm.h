#pragma once
#include <torch/torch.h>

#include <string>

#include "experiments/run_config.h"

namespace bnlab::models {

// A normalisation layer over `features` channels of a (N,C) (spatial_dims 0)
// or (N,C,H,W) (spatial_dims 2) input: "native" is torch::nn::BatchNorm1d/2d,
// "custom" is bnlab::bn::BatchNorm, both configured from `bn` (eps, momentum,
// affine, gamma and beta init). Throws for "none" or an unknown kind.
torch::nn::AnyModule make_norm(const std::string& kind, int64_t features, int spatial_dims,
                               const experiments::BnConfig& bn);

// True for both BatchNorm implementations (for freezing, logging, counting).
bool is_batch_norm(const torch::nn::Module& module);

}  // namespace bnlab::models
