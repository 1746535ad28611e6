#pragma once
#include <torch/torch.h>

#include <string>

#include "models/options.h"

namespace bnlab::models {

// A normalisation layer over `features` channels of a (N,C) (spatial_dims 0)
// or (N,C,H,W) (spatial_dims 2) input: native is torch::nn::BatchNorm1d/2d,
// custom is bnlab::bn::BatchNorm, both configured from `options` (eps,
// momentum, affine, gamma and beta init; custom also kernels and sync group).
// fused_relu: bnlab's BatchNorm with the ReLU after it (kAfterNorm,
// bn::BatchNormOptions::relu) or before it (kBeforeNorm, relu_input)
// computed inside (custom only). max_pool: the 2x2 max-pool after it inside
// too (custom only, spatial_dims 2; bn::BatchNormOptions::max_pool_2x2).
// Throws std::invalid_argument for kind none.
enum class FusedRelu { kNone, kBeforeNorm, kAfterNorm };
torch::nn::AnyModule make_norm(const NormOptions& options, int64_t features, int spatial_dims,
                               FusedRelu fused_relu = FusedRelu::kNone, bool max_pool = false);

// The number of groups a group-kind norm uses on a layer of `channels`
// channels, a Dense layer (one value per channel and sample) or a conv layer
// (H*W >= 9 values per channel in these networks):
//   layer: 1; instance: channels; group with options.groups = 0 (auto): the
//   largest divisor of channels that is at most 32 (Wu & He's default) and
//   leaves each group at least 8 values (all of them when the layer has
//   fewer), so Dense layers get groups of 8+ features and conv layers 32
//   groups; group with G > 0: G when it divides
//   the channels, one group per channel when the layer has fewer than G.
// Throws std::invalid_argument naming the layer's channels when G does not
// divide them, or when a group would hold a single value (y would be beta).
int64_t groups_for_layer(const NormOptions& options, int64_t channels, bool dense);

// Whether a norm of this kind goes on a Dense layer: not instance norm
// (one value per channel and sample: y would be beta); the CNN then
// normalises its conv layers only.
bool normalises_dense_layers(NormKind kind);

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
