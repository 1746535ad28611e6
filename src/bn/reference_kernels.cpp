#include "bn/reference_kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>

namespace bnlab::bn::reference {
namespace {

using Layout = NcsShape;  // (N, C, S) of a contiguous activation tensor

// Calls visit(i) for the flat index i of every value of channel c.
template <typename Visit>
inline void for_each_in_channel(const Layout& layout, int64_t c, Visit&& visit) {
  for (int64_t n = 0; n < layout.N; ++n) {
    const int64_t base = (n * layout.C + c) * layout.S;
    for (int64_t s = 0; s < layout.S; ++s) visit(base + s);
  }
}

// Channels are independent; split them across threads only when each chunk
// has enough values to repay the dispatch (small layers stay serial).
template <typename Body>
inline void parallel_over_channels(const Layout& layout, Body&& body) {
  constexpr int64_t kValuesPerTask = 1 << 15;
  const int64_t grain = std::max<int64_t>(1, kValuesPerTask / std::max<int64_t>(1, layout.count()));
  at::parallel_for(0, layout.C, grain, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) body(c);
  });
}

torch::Tensor per_channel_f64(const Layout& layout, const torch::Tensor& like) {
  return torch::empty({layout.C}, like.options().dtype(torch::kFloat64));
}

}  // namespace

// ---- statistics ---------------------------------------------------------------

std::pair<torch::Tensor, torch::Tensor> batch_moments(const torch::Tensor& x) {
  const Layout layout(x);
  auto mean = per_channel_f64(layout, x);  // (C)
  auto var = per_channel_f64(layout, x);   // (C)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_batch_moments", [&] {
    const scalar_t* x_data = x.data_ptr<scalar_t>();
    double* mean_data = mean.data_ptr<double>();
    double* var_data = var.data_ptr<double>();
    parallel_over_channels(layout, [&](int64_t c) {
      double sum = 0;
      for_each_in_channel(layout, c, [&](int64_t i) { sum += x_data[i]; });
      const double mu = sum / layout.count();
      double sum_sq = 0;  // centred: exact for large offsets, unlike E[x^2] - mu^2
      for_each_in_channel(layout, c, [&](int64_t i) {
        const double d = x_data[i] - mu;
        sum_sq += d * d;
      });
      mean_data[c] = mu;
      var_data[c] = sum_sq / layout.count();
    });
  });
  return {mean, var};
}

// ---- normalize: forward and backward -----------------------------------------

torch::Tensor normalize_forward(const torch::Tensor& x, const torch::Tensor& mean,
                                const torch::Tensor& invstd, const torch::Tensor& gamma,
                                const torch::Tensor& beta) {
  const Layout layout(x);
  auto y = torch::empty_like(x);  // (N,C,S)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_normalize_forward", [&] {
    const scalar_t* x_data = x.data_ptr<scalar_t>();
    const scalar_t* gamma_data = gamma.defined() ? gamma.data_ptr<scalar_t>() : nullptr;
    const scalar_t* beta_data = beta.defined() ? beta.data_ptr<scalar_t>() : nullptr;
    const double* mean_data = mean.data_ptr<double>();
    const double* invstd_data = invstd.data_ptr<double>();
    scalar_t* y_data = y.data_ptr<scalar_t>();
    parallel_over_channels(layout, [&](int64_t c) {
      const double scale = invstd_data[c] * (gamma_data ? double(gamma_data[c]) : 1.0);
      const double shift = beta_data ? double(beta_data[c]) : 0.0;
      const double mu = mean_data[c];
      // Centre before scaling: x*scale + (beta - mu*scale) would cancel two
      // large terms when |mu| >> std.
      for_each_in_channel(layout, c, [&](int64_t i) {
        y_data[i] = static_cast<scalar_t>((x_data[i] - mu) * scale + shift);
      });
    });
  });
  return y;
}

std::pair<torch::Tensor, torch::Tensor> grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean,
                                                  const torch::Tensor& invstd) {
  const Layout layout(x);
  auto sum_dy = per_channel_f64(layout, x);       // (C) = dbeta
  auto sum_dy_xhat = per_channel_f64(layout, x);  // (C) = dgamma
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_grad_sums", [&] {
    const scalar_t* dy_data = dy.data_ptr<scalar_t>();
    const scalar_t* x_data = x.data_ptr<scalar_t>();
    const double* mean_data = mean.data_ptr<double>();
    const double* invstd_data = invstd.data_ptr<double>();
    double* sum_dy_data = sum_dy.data_ptr<double>();
    double* sum_dy_xhat_data = sum_dy_xhat.data_ptr<double>();
    parallel_over_channels(layout, [&](int64_t c) {
      double sum = 0, sum_centred = 0;
      for_each_in_channel(layout, c, [&](int64_t i) {
        sum += dy_data[i];
        sum_centred += dy_data[i] * (x_data[i] - mean_data[c]);
      });
      sum_dy_data[c] = sum;
      sum_dy_xhat_data[c] = sum_centred * invstd_data[c];  // invstd is per channel: apply once
    });
  });
  return {sum_dy, sum_dy_xhat};
}

torch::Tensor normalize_backward_batch_stats(const torch::Tensor& dy, const torch::Tensor& x,
                                             const torch::Tensor& mean, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma,
                                             const torch::Tensor& sum_dy,
                                             const torch::Tensor& sum_dy_xhat, int64_t count) {
  const Layout layout(x);
  auto dx = torch::empty_like(x);  // (N,C,S)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_normalize_backward_batch_stats", [&] {
    const scalar_t* dy_data = dy.data_ptr<scalar_t>();
    const scalar_t* x_data = x.data_ptr<scalar_t>();
    const scalar_t* gamma_data = gamma.defined() ? gamma.data_ptr<scalar_t>() : nullptr;
    const double* mean_data = mean.data_ptr<double>();
    const double* invstd_data = invstd.data_ptr<double>();
    const double* sum_dy_data = sum_dy.data_ptr<double>();
    const double* sum_dy_xhat_data = sum_dy_xhat.data_ptr<double>();
    scalar_t* dx_data = dx.data_ptr<scalar_t>();
    parallel_over_channels(layout, [&](int64_t c) {
      const double M = static_cast<double>(count);
      const double istd = invstd_data[c];
      const double g = gamma_data ? double(gamma_data[c]) : 1.0;
      // dx = g*istd * ( dy                        direct path through xhat
      //               - sum_dy / M                through the batch mean
      //               - xhat * sum_dy_xhat / M )  through the batch variance
      const double mean_dy = sum_dy_data[c] / M;
      const double mean_dy_xhat = sum_dy_xhat_data[c] / M;
      for_each_in_channel(layout, c, [&](int64_t i) {
        const double xhat = (x_data[i] - mean_data[c]) * istd;
        dx_data[i] = static_cast<scalar_t>(g * istd * (dy_data[i] - mean_dy - xhat * mean_dy_xhat));
      });
    });
  });
  return dx;
}

torch::Tensor normalize_backward_fixed_stats(const torch::Tensor& dy, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma) {
  const Layout layout(dy);
  auto dx = torch::empty_like(dy);  // (N,C,S)
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "bnlab_normalize_backward_fixed_stats", [&] {
    const scalar_t* dy_data = dy.data_ptr<scalar_t>();
    const scalar_t* gamma_data = gamma.defined() ? gamma.data_ptr<scalar_t>() : nullptr;
    const double* invstd_data = invstd.data_ptr<double>();
    scalar_t* dx_data = dx.data_ptr<scalar_t>();
    parallel_over_channels(layout, [&](int64_t c) {
      // mean and invstd are constants here, so only the direct path remains.
      const double scale = invstd_data[c] * (gamma_data ? double(gamma_data[c]) : 1.0);
      for_each_in_channel(layout, c, [&](int64_t i) {
        dx_data[i] = static_cast<scalar_t>(dy_data[i] * scale);
      });
    });
  });
  return dx;
}

const KernelSet& kernel_set() {
  static const KernelSet set = {"reference",
                                batch_moments,
                                normalize_forward,
                                grad_sums,
                                normalize_backward_batch_stats,
                                normalize_backward_fixed_stats,
                                /*forward_batch_stats=*/nullptr,
                                /*backward_with_batch_stats=*/nullptr,
                                /*forward_batch_stats_pooled=*/nullptr,
                                /*backward_with_batch_stats_pooled=*/nullptr,
                                /*forward_fixed_stats_pooled=*/nullptr};
  return set;
}

}  // namespace bnlab::bn::reference
