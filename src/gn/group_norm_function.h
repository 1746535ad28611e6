#pragma once
#include <torch/torch.h>

#include "gn/group_norm_kernels.h"

namespace bnlab::gn {

// GroupNorm (Wu & He 2018) as one autograd node with an analytic backward
// (docs/group-norm.md). LayerNorm is one group, InstanceNorm one group per
// channel.
//
// forward arguments:
//   x            (N,C,*) float32 or float64, C divisible by groups
//   weight, bias (C) gamma and beta, or empty when affine is off (empty,
//                not undefined: LibTorch 1.13's Function::apply rejects
//                undefined tensor arguments; group_norm() converts)
//   groups       G: each sample's channels in G groups of C / G consecutive
//                channels, each normalised with its own mean and biased
//                variance over its (C / G) * prod(*) values
//   eps          added to the variance
//   kernels      which implementation of the math runs
// Returns y, shaped like x, channels-last when x is (as native GroupNorm).
class GroupNormFunction : public torch::autograd::Function<GroupNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, int64_t groups, double eps,
                               Kernels kernels);

  // dx, dweight, dbias (each undefined when not needed), and undefined
  // gradients for groups, eps and kernels.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

// Checks the arguments like PyTorch does (rank, C divisible by groups, the
// affine shapes, dtypes), with the values seen in every message, then
// applies GroupNormFunction. weight and bias may be undefined.
torch::Tensor group_norm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight, const torch::Tensor& bias,
                         double eps = 1e-5, Kernels kernels = Kernels::kFused);

}  // namespace bnlab::gn
