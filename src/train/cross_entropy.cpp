#include "train/cross_entropy.h"

#include <ATen/Dispatch.h>

#include <cmath>

namespace bnlab::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One row's log-sum-exp, shifted by its largest value so that exp cannot
// overflow: logsumexp(z) = max + log(sum_k exp(z_k - max)). A NaN or an
// infinite largest value makes it NaN, as in log_softmax.
template <typename T>
T row_logsumexp(const T* z, int64_t K) {
  T largest = z[0];
  for (int64_t k = 1; k < K; ++k) largest = std::isnan(z[k]) || z[k] > largest ? z[k] : largest;
  T sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp(z[k] - largest);
  return largest + std::log(sum);
}

}  // namespace

// ---- forward ------------------------------------------------------------------
//   lse[n]  = logsumexp(z[n])                      (N) kept for backward
//   loss    = sum_n lse[n] - z[n][y[n]]            ()
torch::Tensor CrossEntropySumFunction::forward(AutogradContext* ctx, const torch::Tensor& logits,
                                               const torch::Tensor& labels) {
  const auto z = logits.contiguous();  // (N, K)
  const int64_t N = z.size(0), K = z.size(1);
  auto lse = torch::empty({N}, z.options());  // (N)
  auto loss = torch::empty({}, z.options());  // ()
  const int64_t* y = labels.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "bnlab_cross_entropy_forward", [&] {
    const scalar_t* row = z.data_ptr<scalar_t>();
    scalar_t* row_lse = lse.data_ptr<scalar_t>();
    scalar_t total = 0;
    for (int64_t n = 0; n < N; ++n, row += K) {
      row_lse[n] = row_logsumexp(row, K);
      total += row_lse[n] - row[y[n]];
    }
    *loss.data_ptr<scalar_t>() = total;
  });
  ctx->save_for_backward({z, labels, lse});
  return loss;
}

// ---- backward -----------------------------------------------------------------
//   dz[n][k] = dloss * (softmax(z[n])[k] - [k == y[n]])
//            = dloss * (exp(z[n][k] - lse[n]) - [k == y[n]])
// (d lse[n] / d z[n][k] is softmax(z[n])[k]; d z[n][y[n]] / d z[n][k] is 1 at k = y[n]).
variable_list CrossEntropySumFunction::backward(AutogradContext* ctx, variable_list grad_outputs) {
  TORCH_CHECK(!torch::GradMode::is_enabled(),
              "CrossEntropySumFunction: double backward (create_graph=true) is not supported");
  const auto saved = ctx->get_saved_variables();
  const torch::Tensor& z = saved[0];    // (N, K)
  const torch::Tensor& y = saved[1];    // (N) int64
  const torch::Tensor& lse = saved[2];  // (N)
  const int64_t N = z.size(0), K = z.size(1);
  auto dz = torch::empty_like(z);  // (N, K)
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "bnlab_cross_entropy_backward", [&] {
    const scalar_t dloss = *grad_outputs[0].data_ptr<scalar_t>();  // () autograd gives it the loss's dtype
    const scalar_t* row = z.data_ptr<scalar_t>();
    const scalar_t* row_lse = lse.data_ptr<scalar_t>();
    const int64_t* label = y.data_ptr<int64_t>();
    scalar_t* drow = dz.data_ptr<scalar_t>();
    for (int64_t n = 0; n < N; ++n, row += K, drow += K) {
      for (int64_t k = 0; k < K; ++k) drow[k] = dloss * std::exp(row[k] - row_lse[n]);
      drow[label[n]] -= dloss;
    }
  });
  return {dz, {}};
}

// ---- validated entry point ----------------------------------------------------

torch::Tensor cross_entropy_sum(const torch::Tensor& logits, const torch::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) > 0,
              "cross_entropy_sum: expected logits (N, K) with K > 0, got shape ", logits.sizes());
  TORCH_CHECK(logits.scalar_type() == torch::kFloat32 || logits.scalar_type() == torch::kFloat64,
              "cross_entropy_sum: expected float32 or float64 logits, got ", logits.scalar_type());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0) && labels.scalar_type() == torch::kInt64,
              "cross_entropy_sum: expected int64 labels (", logits.size(0), "), got ", labels.scalar_type(), " ",
              labels.sizes());
  const auto y = labels.contiguous();
  const int64_t* label = y.data_ptr<int64_t>();
  for (int64_t n = 0; n < y.numel(); ++n)
    TORCH_CHECK(0 <= label[n] && label[n] < logits.size(1), "cross_entropy_sum: label ", label[n], " at row ", n,
                " is out of range for ", logits.size(1), " classes");
  return CrossEntropySumFunction::apply(logits, y);
}

}  // namespace bnlab::train
