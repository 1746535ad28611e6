#pragma once
// Tensor-level entry points of the fused kernels (see kernels.h); same
// contracts as reference_kernels.h. Inputs must be contiguous (N, C, S).
#include <torch/types.h>

#include <tuple>
#include <utility>

#include "bn/kernels.h"

namespace bnlab::bn::fused {

// These entry points as a KernelSet (kernels.h), whole-layer entries included.
const KernelSet& kernel_set();

std::pair<torch::Tensor, torch::Tensor> batch_moments(const torch::Tensor& x);
torch::Tensor normalize_forward(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
                                const torch::Tensor& gamma, const torch::Tensor& beta);
// The whole-layer entries of KernelSet (see kernels.h).
BatchStatsForward forward_batch_stats(const torch::Tensor& x, const torch::Tensor& gamma, const torch::Tensor& beta,
                                      double eps, bool relu, bool relu_input);
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward_with_batch_stats(
    const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
    const torch::Tensor& gamma, const torch::Tensor& relu_mask, bool relu_input);
std::pair<torch::Tensor, torch::Tensor> grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean, const torch::Tensor& invstd);
torch::Tensor normalize_backward_batch_stats(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean,
                                             const torch::Tensor& invstd, const torch::Tensor& gamma,
                                             const torch::Tensor& sum_dy, const torch::Tensor& sum_dy_xhat,
                                             int64_t count);
torch::Tensor normalize_backward_fixed_stats(const torch::Tensor& dy, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma);

}  // namespace bnlab::bn::fused
