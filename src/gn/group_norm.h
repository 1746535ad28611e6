#pragma once
#include <torch/torch.h>

#include <ostream>

#include "gn/group_norm_kernels.h"

namespace bnlab::gn {

// Options of bnlab's GroupNorm, with PyTorch's defaults.
struct GroupNormOptions {
  GroupNormOptions(int64_t num_groups, int64_t num_channels) : num_groups_(num_groups), num_channels_(num_channels) {}

  // G: each sample's channels form G groups of C / G consecutive channels,
  // each normalised with its own statistics. 1: LayerNorm (over all of a
  // sample's features, per-channel gamma and beta); C: InstanceNorm.
  TORCH_ARG(int64_t, num_groups);
  // C, the number of channels (features) of the input (N,C,*).
  TORCH_ARG(int64_t, num_channels);
  // Added to the variance before the square root. Default 1e-5.
  TORCH_ARG(double, eps) = 1e-5;
  // Learnable per-channel gamma (`weight`, init 1) and beta (`bias`, init 0). Default true.
  TORCH_ARG(bool, affine) = true;
  // bnlab only: which implementation computes it. Default fused.
  TORCH_ARG(Kernels, kernels) = Kernels::kFused;
};

// LayerNorm as bnlab computes it: one group over all of a sample's C * S
// features, gamma and beta per channel (torch::nn::GroupNorm(1, C)'s
// parametrisation; torch::nn::LayerNorm's for (N, C) inputs).
GroupNormOptions layer_norm_options(int64_t num_channels);
// InstanceNorm: one group per channel (torch::nn::InstanceNorm2d with
// affine = true and no running statistics).
GroupNormOptions instance_norm_options(int64_t num_channels);

// GroupNorm over (N,C,*) inputs, whose math is bnlab::gn::GroupNormFunction.
// Parameter names match torch::nn::GroupNorm, so state loads either way.
// No running statistics: training and evaluation compute the same thing.
class GroupNormImpl : public torch::nn::Cloneable<GroupNormImpl> {
 public:
  explicit GroupNormImpl(const GroupNormOptions& options);

  void reset() override;
  // weight = 1, bias = 0.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor forward(const torch::Tensor& input);

  GroupNormOptions options;
  torch::Tensor weight;  // (C) gamma, when affine
  torch::Tensor bias;    // (C) beta, when affine
};
TORCH_MODULE(GroupNorm);

// The native counterpart of bnlab's LayerNorm: at::layer_norm over all of a
// sample's features (C, *), its elementwise gamma and beta being this
// module's per-channel weight and bias broadcast over * (autograd sums their
// gradients back to (C)). For (N, C) inputs it is torch::nn::LayerNorm(C).
// bnlab's "native-layer" norm and the reference of `bnlab verify --norm layer`.
class NativeLayerNormImpl : public torch::nn::Cloneable<NativeLayerNormImpl> {
 public:
  explicit NativeLayerNormImpl(int64_t num_channels, double eps = 1e-5, bool affine = true);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& input);

  int64_t num_channels;
  double eps;
  bool affine;
  torch::Tensor weight, bias;  // (C), when affine
};
TORCH_MODULE(NativeLayerNorm);

}  // namespace bnlab::gn
