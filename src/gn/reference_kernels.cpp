// GroupNorm's reference kernels: one (n, g) group at a time, float64
// arithmetic, two-pass statistics, the formulas of docs/group-norm.md as
// written.
#include <ATen/Dispatch.h>

#include <cmath>
#include <vector>

#include "gn/group_norm_kernels.h"

namespace bnlab::gn::reference {
namespace {

std::pair<torch::Tensor, torch::Tensor> moments(const torch::Tensor& x3, int64_t G, double eps) {
  const int64_t N = x3.size(0), C = x3.size(1), S = x3.size(2), K = C / G * S;
  auto [mean, invstd] = empty_group_statistics(x3, G);  // (N, G) each
  double *m = mean.data_ptr<double>(), *r = invstd.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x3.scalar_type(), "gn_ref_moments", [&] {
    const scalar_t* x = x3.data_ptr<scalar_t>();
    for (int64_t ng = 0; ng < N * G; ++ng) {
      const scalar_t* block = x + ng * K;  // the group's K values
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += block[k];
      m[ng] = sum / K;
      double squares = 0;  // sum (x - mean)^2: the second pass
      for (int64_t k = 0; k < K; ++k) squares += (block[k] - m[ng]) * (block[k] - m[ng]);
      r[ng] = 1.0 / std::sqrt(squares / K + eps);
    }
  });
  return {mean, invstd};
}

// gamma or beta of channel c as double (1 or 0 when absent).
template <typename T>
double affine_at(const T* p, int64_t c, double absent) {
  return p ? double(p[c]) : absent;
}

torch::Tensor normalize(const torch::Tensor& x3, const torch::Tensor& mean, const torch::Tensor& invstd,
                        const torch::Tensor& gamma, const torch::Tensor& beta) {
  const int64_t N = x3.size(0), C = x3.size(1), S = x3.size(2), G = mean.size(1), Cg = C / G;
  auto y3 = torch::empty_like(x3);
  const double *m = mean.data_ptr<double>(), *r = invstd.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x3.scalar_type(), "gn_ref_normalize", [&] {
    const scalar_t* x = x3.data_ptr<scalar_t>();
    scalar_t* y = y3.data_ptr<scalar_t>();
    const scalar_t* w = gamma.defined() ? gamma.data_ptr<scalar_t>() : nullptr;
    const scalar_t* b = beta.defined() ? beta.data_ptr<scalar_t>() : nullptr;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t ng = n * G + c / Cg;
        for (int64_t s = 0; s < S; ++s) {
          const int64_t i = (n * C + c) * S + s;
          const double xhat = (x[i] - m[ng]) * r[ng];
          y[i] = scalar_t(xhat * affine_at(w, c, 1.0) + affine_at(b, c, 0.0));
        }
      }
  });
  return y3;
}

// Per group (n, g), with dxhat = dy * gamma_c and the group's K values:
//   dx = invstd * (dxhat - mean_K(dxhat) - xhat * mean_K(dxhat * xhat))
// and per channel dgamma_c = sum_{n,s} dy * xhat, dbeta_c = sum_{n,s} dy.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward(const torch::Tensor& dy3, const torch::Tensor& x3,
                                                                 const torch::Tensor& mean, const torch::Tensor& invstd,
                                                                 const torch::Tensor& gamma, bool need_dx,
                                                                 bool need_affine) {
  const int64_t N = x3.size(0), C = x3.size(1), S = x3.size(2), G = mean.size(1), Cg = C / G, K = Cg * S;
  auto dx3 = need_dx ? torch::empty_like(x3) : torch::Tensor();
  auto dgamma = torch::zeros({C}, x3.options().dtype(torch::kFloat64)), dbeta = torch::zeros_like(dgamma);
  const double *m = mean.data_ptr<double>(), *r = invstd.data_ptr<double>();
  double *dg = dgamma.data_ptr<double>(), *db = dbeta.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x3.scalar_type(), "gn_ref_backward", [&] {
    const scalar_t *x = x3.data_ptr<scalar_t>(), *dy = dy3.data_ptr<scalar_t>();
    const scalar_t* w = gamma.defined() ? gamma.data_ptr<scalar_t>() : nullptr;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < G; ++g) {
        const int64_t ng = n * G + g, first = (n * C + g * Cg) * S;  // the group's first value
        double sum_dxhat = 0, sum_dxhat_xhat = 0;
        for (int64_t k = 0; k < K; ++k) {
          const int64_t c = g * Cg + k / S;
          const double xhat = (x[first + k] - m[ng]) * r[ng];
          const double dxhat = dy[first + k] * affine_at(w, c, 1.0);
          sum_dxhat += dxhat;
          sum_dxhat_xhat += dxhat * xhat;
          dg[c] += dy[first + k] * xhat;
          db[c] += dy[first + k];
        }
        if (!need_dx) continue;
        scalar_t* dx = dx3.data_ptr<scalar_t>();
        for (int64_t k = 0; k < K; ++k) {
          const int64_t c = g * Cg + k / S;
          const double xhat = (x[first + k] - m[ng]) * r[ng];
          const double dxhat = dy[first + k] * affine_at(w, c, 1.0);
          dx[first + k] = scalar_t(r[ng] * (dxhat - sum_dxhat / K - xhat * sum_dxhat_xhat / K));
        }
      }
  });
  if (!need_affine) return {dx3, torch::Tensor(), torch::Tensor()};
  return {dx3, dgamma, dbeta};
}

}  // namespace

const GroupNormKernelSet& kernel_set() {
  static const GroupNormKernelSet set = {"reference", moments, normalize, backward};
  return set;
}

}  // namespace bnlab::gn::reference
