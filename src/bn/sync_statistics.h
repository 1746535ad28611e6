#pragma once
// Sync BatchNorm's communication: the batch statistics and the gradient sums
// of a layer whose batch is split across the ranks of a data-parallel job.
// Each rank holds a shard (N_r, C, S) of one global batch; every rank
// normalises with the statistics of the whole (sum N_r, C, S) batch.
//
// Statistics (one all_gather of 2C+1 float64 values per call): each rank's
// count n_r, mean_r and M2_r (sum of squared deviations) from the kernels'
// one-pass moments, merged in rank order with Chan's formula, so the merged
// mean and variance are the same bits on every rank and free of the
// E[x^2] - E[x]^2 cancellation:
//   n = n_a + n_b,  delta = mean_b - mean_a,
//   mean = mean_a + delta * n_b / n,  M2 = M2_a + M2_b + delta^2 * n_a * n_b / n.
// Ranks may hold different N_r (the last batch of an epoch), even none.
//
// Gradient sums (one all_reduce of 2C float64 values): dx needs
// sum dy and sum dy*xhat over the whole batch; dweight and dbias stay this
// rank's own sums, as in PyTorch's SyncBatchNorm, because the data-parallel
// gradient all-reduce adds the ranks' parameter gradients afterwards.
#include <torch/types.h>

#include <utility>

#include "bn/kernels.h"
#include "parallel/group.h"

namespace bnlab::bn::detail {

struct MergedMoments {
  torch::Tensor mean, var;  // (C) float64; var biased (M2 / count)
  int64_t count = 0;        // values per channel over all ranks
};

// This rank's moments of x (N_r, C, S), gathered and merged over `group`.
// A collective: every rank calls it for the same layer.
MergedMoments synced_moments(const KernelSet& kernels, const torch::Tensor& x3, const parallel::Group& group);

// (sum_dy, sum_dy_xhat) of this rank -> the same sums over every rank of
// `group`, (C) float64 each, in one collective.
std::pair<torch::Tensor, torch::Tensor> summed_over_ranks(const torch::Tensor& sum_dy, const torch::Tensor& sum_dy_xhat,
                                                          const parallel::Group& group);

}  // namespace bnlab::bn::detail
