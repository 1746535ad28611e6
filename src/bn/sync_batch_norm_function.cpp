#include "bn/sync_batch_norm_function.h"

#include "bn/function_support.h"
#include "dist/group.h"

namespace bnlab::bn {
namespace {

using namespace detail;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// This rank's [n_r, mean_r (C), M2_r (C)], float64: what forward gathers.
torch::Tensor local_moments(const KernelSet& k, const torch::Tensor& x3) {
  const int64_t C = x3.size(1), n = x3.size(0) * x3.size(2);
  auto packed = torch::zeros({2 * C + 1}, torch::kFloat64);
  double* out = packed.data_ptr<double>();
  out[0] = double(n);
  if (n == 0) return packed;  // a rank without samples adds nothing
  const auto [mean, var] = k.batch_moments(x3);  // (C) float64 each, var biased
  const double* m = mean.data_ptr<double>();
  const double* v = var.data_ptr<double>();
  for (int64_t c = 0; c < C; ++c) {
    out[1 + c] = m[c];
    out[1 + C + c] = v[c] * double(n);  // M2 = n * biased variance
  }
  return packed;
}

struct MergedMoments {
  torch::Tensor mean, var;  // (C) float64, var biased (M2 / n)
  int64_t count = 0;
};

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
  MergedMoments merged;
  merged.mean = torch::tensor(mean, torch::kFloat64);
  merged.var = torch::tensor(m2, torch::kFloat64);
  if (n > 0) merged.var.div_(n);
  merged.count = int64_t(n);
  return merged;
}

}  // namespace

// ---- forward ------------------------------------------------------------------

torch::Tensor SyncBatchNormFunction::forward(AutogradContext* ctx, const torch::Tensor& x,
                                             const torch::Tensor& weight_or_empty, const torch::Tensor& bias_or_empty,
                                             const torch::Tensor& running_mean_or_empty,
                                             const torch::Tensor& running_var_or_empty, double momentum, double eps,
                                             Kernels kernels) {
  const KernelSet& k = kernel_set(kernels);
  const auto weight = affine_or_absent(weight_or_empty);  // (C) or undefined
  const auto bias = affine_or_absent(bias_or_empty);
  auto x3 = as_ncs(x);  // (N_r,C,S), this rank's shard
  const auto gathered = dist::default_group().all_gather(local_moments(k, x3));  // (W, 2C+1)
  auto [mean, invstd, count] = merge_moments(gathered);  // invstd holds the variance until finished
  TORCH_CHECK(count > 1, "SyncBatchNorm: expected more than 1 value per channel over all ranks when training, got ",
              count, " (input size on this rank ", x.sizes(), ")");
  finish_batch_statistics(mean, invstd, empty_as_absent(running_mean_or_empty),
                          empty_as_absent(running_var_or_empty), count, momentum, eps);
  auto y3 = k.normalize_forward(x3, mean, invstd, weight, bias);  // (N_r,C,S)

  ctx->save_for_backward({x3, weight});
  ctx->saved_data["mean"] = mean;
  ctx->saved_data["invstd"] = invstd;
  ctx->saved_data["count"] = count;
  ctx->saved_data["kernels"] = static_cast<int64_t>(kernels);
  return y3.view(x.sizes());
}

// ---- backward -----------------------------------------------------------------

variable_list SyncBatchNormFunction::backward(AutogradContext* ctx, variable_list grad_outputs) {
  TORCH_CHECK(!torch::GradMode::is_enabled(),
              "SyncBatchNormFunction: double backward (create_graph=true) is not supported");
  const auto saved = ctx->get_saved_variables();
  const torch::Tensor& x3 = saved[0];      // (N_r,C,S)
  const torch::Tensor& weight = saved[1];  // (C) or undefined
  const auto mean = ctx->saved_data["mean"].toTensor();      // (C) float64, global
  const auto invstd = ctx->saved_data["invstd"].toTensor();  // (C) float64, global
  const int64_t count = ctx->saved_data["count"].toInt();    // values per channel over all ranks
  const KernelSet& k = kernel_set(static_cast<Kernels>(ctx->saved_data["kernels"].toInt()));
  auto dy3 = grad_outputs[0].contiguous().view(x3.sizes());  // (N_r,C,S)
  const int64_t C = x3.size(1);

  // This rank's sum dy and sum dy*xhat, (C) float64 each.
  auto [sum_dy, sum_dy_xhat] = k.grad_sums(dy3, x3, mean, invstd);
  torch::Tensor dx, dweight, dbias;
  if (ctx->needs_input_grad(0)) {
    auto sums = torch::cat({sum_dy, sum_dy_xhat});  // (2C): one collective for both
    dist::default_group().all_reduce_sum(sums);
    dx = k.normalize_backward_batch_stats(dy3, x3, mean, invstd, weight, sums.slice(0, 0, C), sums.slice(0, C),
                                          count)
             .view(grad_outputs[0].sizes());  // x's shape
  }
  if (weight.defined() && ctx->needs_input_grad(1)) dweight = per_channel_copy(sum_dy_xhat, x3.scalar_type());
  if (ctx->needs_input_grad(2)) dbias = per_channel_copy(sum_dy, x3.scalar_type());
  // x, weight, bias, running_mean, running_var, momentum, eps, kernels.
  return {dx, dweight, dbias, {}, {}, {}, {}, {}};
}

// ---- validated entry point ----------------------------------------------------

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                              double eps, Kernels kernels) {
  check_batch_norm_arguments(x, weight, bias, running_mean, running_var, /*use_batch_stats=*/true);
  return SyncBatchNormFunction::apply(x, absent_as_empty(weight, x), absent_as_empty(bias, x),
                                      absent_as_empty(running_mean, x), absent_as_empty(running_var, x), momentum,
                                      eps, kernels);
}

}  // namespace bnlab::bn
