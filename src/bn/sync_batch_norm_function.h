#pragma once
#include <torch/torch.h>

#include "bn/kernels.h"

namespace bnlab::bn {

// BatchNorm over the batch of every rank of dist::default_group(): each rank
// holds a shard (N_r, C, *) of one global batch, and every rank normalises
// with the statistics of the whole (sum N_r, C, *) batch. Training mode only
// (eval uses running statistics, which need no communication).
//
// forward (one all_gather of 2C+1 float64 values per call):
//   local per-channel count n_r, mean_r and M2_r (sum of squared deviations)
//   from the kernels' one-pass statistics; every rank gathers all of them and
//   merges them in rank order with Chan's formula, so the merged mean and
//   variance are the same bits on every rank and cancellation-free:
//     n = n_a + n_b,  delta = mean_b - mean_a,
//     mean = mean_a + delta * n_b / n,  M2 = M2_a + M2_b + delta^2 * n_a * n_b / n.
//   y = gamma * (x - mean) * invstd + beta with invstd = 1/sqrt(M2/n + eps);
//   running statistics take mean and the unbiased M2/(n-1), identically on
//   every rank. Ranks may hold different N_r (the last batch of an epoch).
// backward (one all_reduce of 2C float64 values):
//   dx = gamma * invstd * (dy - sum_dy/n - xhat * sum_dy_xhat/n), with both
//   sums all-reduced over ranks. dweight and dbias are this rank's own sums,
//   as in PyTorch's SyncBatchNorm: the data-parallel gradient all-reduce adds
//   the ranks' parameter gradients afterwards.
// For this to be the gradient of the global loss, each rank's dy must be the
// gradient of that global loss (the trainer divides each rank's summed loss
// by the global batch size, and sums gradients over ranks).
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  // Arguments as BatchNormFunction's (absent tensors empty), always with
  // batch statistics.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                               double eps, Kernels kernels);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

// Validates like bn::batch_norm() (the count check over all ranks) and
// applies SyncBatchNormFunction. Optional tensors may be undefined. Every rank
// of the default group must call it, in the same order of layers.
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                              double eps, Kernels kernels = Kernels::kFused);

}  // namespace bnlab::bn
