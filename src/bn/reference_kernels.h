#pragma once
// The reference BatchNorm math: plain per-channel loops, written to be read
// next to docs/batchnorm.md. Forward and backward sit side by side and use the
// same names; gradients are prefixed `d`.
//
// Shapes: every activation tensor is viewed as (N, C, S), contiguous, where
// S = L for (N,C,L) input, H*W for (N,C,H,W) and 1 for (N,C); M = N*S values
// per channel. Per-channel statistics (mean, var, invstd, sums) are float64
// whatever the input dtype, because they are reductions over M values and
// the large-offset case (mean 1e4, std 1e-2 in float32) needs the headroom.
#include <torch/types.h>

#include <utility>

#include "bn/kernels.h"

namespace bnlab::bn::reference {

// These loops as a KernelSet (kernels.h); they have no whole-layer entries.
const KernelSet& kernel_set();

// mean[c] = 1/M sum x;  var[c] = 1/M sum (x - mean)^2  (biased).
// Two passes: the centred second pass has no E[x^2] - E[x]^2 cancellation.
// x: (N,C,S) -> mean, var: (C) float64
std::pair<torch::Tensor, torch::Tensor> batch_moments(const torch::Tensor& x);

// y = (x - mean) * invstd * gamma + beta, per channel.
// x: (N,C,S); mean, invstd: (C) float64; gamma, beta: (C) of x's dtype or
// undefined (affine off: gamma = 1, beta = 0) -> y: (N,C,S)
torch::Tensor normalize_forward(const torch::Tensor& x, const torch::Tensor& mean,
                                const torch::Tensor& invstd, const torch::Tensor& gamma,
                                const torch::Tensor& beta);

// The two per-channel reductions every gradient needs:
// dbeta[c] = sum dy;  dgamma[c] = sum dy * xhat,  xhat = (x - mean) * invstd.
// dy, x: (N,C,S); mean, invstd: (C) float64 -> sum_dy, sum_dy_xhat: (C) float64
std::pair<torch::Tensor, torch::Tensor> grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean,
                                                  const torch::Tensor& invstd);

// dx when mean and invstd were the batch's own statistics (training):
// dx = gamma * invstd * (dy - sum_dy / M - xhat * sum_dy_xhat / M)
// M = count, the number of values mean, invstd and the sums were taken over:
// N*S for one process, the whole batch's count under sync BatchNorm.
// dy, x: (N,C,S); per-channel tensors: (C) -> dx: (N,C,S)
torch::Tensor normalize_backward_batch_stats(const torch::Tensor& dy, const torch::Tensor& x,
                                             const torch::Tensor& mean, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma,
                                             const torch::Tensor& sum_dy,
                                             const torch::Tensor& sum_dy_xhat, int64_t count);

// dx when mean and invstd were constants (eval with running statistics):
// dx = gamma * invstd * dy
// dy: (N,C,S); invstd: (C) float64; gamma: (C) or undefined -> dx: (N,C,S)
torch::Tensor normalize_backward_fixed_stats(const torch::Tensor& dy, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma);

}  // namespace bnlab::bn::reference
