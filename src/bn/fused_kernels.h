#pragma once
// Tensor-level entry points of the fused kernels (see kernels.h); same
// contracts as reference_kernels.h. Inputs must be contiguous (N, C, S).
#include <torch/types.h>

#include <tuple>
#include <utility>

#include "bn/kernels.h"

namespace bnlab::bn::fused {

// Channels per block of the whole-layer kernels on (N, C, S) input of
// element_bytes values, which read `reread` tensors twice (x for the
// statistics, then to normalise; dy and x for the gradient sums, then for
// dx): as many as keep those tensors' share of a block within cache_budget
// bytes, so the second read comes from L2 rather than L3 or DRAM. C (one
// block, every pass sweeping the whole layer) when the layer fits the budget
// anyway, when one channel alone exceeds it (a block of one channel reads N
// runs of S values far apart: on (256,32,26,26), 2.7 KB runs, slower than
// the sweep), and for S == 1, whose rows hold every channel. The callers
// budget a quarter of the L2 the OS reports (core/cpu.h); docs/batchnorm.md
// has the measurements.
int64_t channels_per_block(int64_t N, int64_t C, int64_t S, int64_t element_bytes, int64_t reread,
                           int64_t cache_budget);

// Whether a whole-layer backward writes its dx of dx_bytes with
// non-temporal stores: when dx is 8 MB or more and either no layer reads it
// next (dx_read_next false: x is a leaf, as in bench bn) or it would not
// stay in cache until read anyway (pass_bytes, what the dx pass reads and
// writes, over l3_bytes). fused_kernels.cpp has the measurements.
bool streams_dx(int64_t dx_bytes, int64_t pass_bytes, bool dx_read_next, int64_t l3_bytes);

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
    const torch::Tensor& gamma, const torch::Tensor& relu_mask, bool relu_input, bool dx_read_next);
BatchStatsForward forward_batch_stats_pooled(const torch::Tensor& x, const torch::Tensor& gamma,
                                             const torch::Tensor& beta, double eps, bool relu, bool relu_input);
std::pair<torch::Tensor, torch::Tensor> forward_fixed_stats_pooled(const torch::Tensor& x, const torch::Tensor& mean,
                                                                   const torch::Tensor& invstd,
                                                                   const torch::Tensor& gamma,
                                                                   const torch::Tensor& beta, bool relu,
                                                                   bool relu_input);
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward_with_batch_stats_pooled(
    const torch::Tensor& dy, const torch::Tensor& winner, const torch::Tensor& x, const torch::Tensor& mean,
    const torch::Tensor& invstd, const torch::Tensor& gamma, bool relu_input, bool dx_read_next);
std::pair<torch::Tensor, torch::Tensor> grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean, const torch::Tensor& invstd);
torch::Tensor normalize_backward_batch_stats(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean,
                                             const torch::Tensor& invstd, const torch::Tensor& gamma,
                                             const torch::Tensor& sum_dy, const torch::Tensor& sum_dy_xhat,
                                             int64_t count);
torch::Tensor normalize_backward_fixed_stats(const torch::Tensor& dy, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma);

}  // namespace bnlab::bn::fused
