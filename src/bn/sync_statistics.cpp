#include "bn/sync_statistics.h"

#include <vector>

namespace bnlab::bn::detail {
namespace {

// This rank's [n_r, mean_r (C), M2_r (C)], float64: what gets gathered.
torch::Tensor local_moments(const KernelSet& k, const torch::Tensor& x3) {
  const NcsShape shape(x3);
  const int64_t C = shape.C, n = shape.count();
  auto packed = torch::zeros({2 * C + 1}, torch::kFloat64);
  double* out = packed.data_ptr<double>();
  out[0] = double(n);
  if (n == 0) return packed;                     // a rank without samples adds nothing
  const auto [mean, var] = k.batch_moments(x3);  // (C) float64 each, var biased
  const double* m = mean.data_ptr<double>();
  const double* v = var.data_ptr<double>();
  for (int64_t c = 0; c < C; ++c) {
    out[1 + c] = m[c];
    out[1 + C + c] = v[c] * double(n);  // M2 = n * biased variance
  }
  return packed;
}

// Chan et al.'s pairwise merge, in rank order: gathered is (W, 2C+1).
MergedMoments merge_moments(const torch::Tensor& gathered) {
  const int64_t W = gathered.size(0), C = (gathered.size(1) - 1) / 2;
  const auto g = gathered.accessor<double, 2>();
  std::vector<double> mean(C, 0.0), m2(C, 0.0);
  double n = 0;
  for (int64_t r = 0; r < W; ++r) {
    const double n_b = g[r][0];
    if (n_b == 0) continue;
    const double total = n + n_b;
    for (int64_t c = 0; c < C; ++c) {
      const double delta = g[r][1 + c] - mean[c];
      mean[c] += delta * n_b / total;
      m2[c] += g[r][1 + C + c] + delta * delta * n * n_b / total;
    }
    n = total;
  }
  MergedMoments merged{torch::tensor(mean, torch::kFloat64), torch::tensor(m2, torch::kFloat64), int64_t(n)};
  if (n > 0) merged.var.div_(n);
  return merged;
}

}  // namespace

MergedMoments synced_moments(const KernelSet& kernels, const torch::Tensor& x3, const parallel::Group& group) {
  return merge_moments(group.all_gather(local_moments(kernels, x3)));  // (W, 2C+1) gathered
}

std::pair<torch::Tensor, torch::Tensor> summed_over_ranks(const torch::Tensor& sum_dy, const torch::Tensor& sum_dy_xhat,
                                                          const parallel::Group& group) {
  const int64_t C = sum_dy.numel();
  auto sums = torch::cat({sum_dy, sum_dy_xhat});  // (2C): one collective for both
  group.all_reduce_sum(sums);
  return {sums.slice(0, 0, C), sums.slice(0, C)};
}

}  // namespace bnlab::bn::detail
