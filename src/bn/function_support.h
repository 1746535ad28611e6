#pragma once
// What BatchNormFunction and SyncBatchNormFunction share: argument checks,
// the empty-for-absent convention of Function::apply, the (N,C,S) view, and
// the per-channel finish of batch statistics.
#include <torch/types.h>

namespace bnlab::bn::detail {

// LibTorch 1.13's Function::apply records device and dtype of every tensor
// argument and fails on undefined ones, so "absent" optional tensors (affine
// or running statistics off) travel through apply as empty tensors.
inline torch::Tensor absent_as_empty(const torch::Tensor& t, const torch::Tensor& like) {
  return t.defined() ? t : torch::empty({0}, like.options());
}
inline torch::Tensor empty_as_absent(const torch::Tensor& t) { return t.numel() ? t : torch::Tensor(); }

// (N, C, *) -> (N, C, S), contiguous; a view when x already is contiguous.
inline torch::Tensor as_ncs(const torch::Tensor& x) { return x.contiguous().view({x.size(0), x.size(1), -1}); }

// Per-channel bookkeeping in one plain loop over C (tensor ops here would
// cost a dispatch and an allocation each, which dominates small layers):
//   running stats: r = (1 - momentum) * r + momentum * batch_stat, running_var
//     with the unbiased variance var * M / (M - 1), in float64, M the count
//     the statistics were taken over;
//   var is turned into invstd = 1 / sqrt(var + eps) in place.
void finish_batch_statistics(const torch::Tensor& batch_mean, torch::Tensor& var_to_invstd,
                             const torch::Tensor& running_mean, const torch::Tensor& running_var, int64_t M,
                             double momentum, double eps);

// PyTorch's checks (rank, dtypes, device, per-channel shapes, running
// statistics present when used), with the values seen in every message.
// Optional tensors may be undefined. The count check is the caller's: sync
// BatchNorm counts values over all ranks.
void check_batch_norm_arguments(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                const torch::Tensor& running_mean, const torch::Tensor& running_var,
                                bool use_batch_stats);

}  // namespace bnlab::bn::detail
