// The fused GroupNorm loops, compiled once per instruction set
// (fused_kernels_avx2.cpp, fused_kernels_portable.cpp define BNLAB_ISA
// first); free of LibTorch for the reason given in bn/fused_kernels_impl.h.
//
// Each group is a contiguous block of K = Cg * S values, so its statistics
// are one vector loop over memory the normalisation reads again while it is
// still in cache. Sums accumulate in double (below); the normalisation and
// dx loops run in T. With S == 1 (the MLP's (N, F) layers) every loop
// runs across channels instead of along S, through per-channel coefficients
// in `work`.
#include <cmath>
#include <cstdint>

#include "gn/fused_kernels_isa.h"

namespace bnlab::gn::fused::BNLAB_ISA {
namespace {

// The sums accumulate in double, vectorised (4 lanes with AVX2, a
// conversion per value): a group's sums run over up to C * H * W values
// (21632 for LayerNorm on a 32x26x26 conv output), where float partial sums
// lose several ulps; dbeta's cancelling sums would then be further from the
// truth than native's.
template <typename T>
double sum_of(const T* v, int64_t n) {
  double total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t i = 0; i < n; ++i) total += double(v[i]);
  return total;
}

// sum (v - shift)^2.
template <typename T>
double squares_about(const T* v, int64_t n, double shift) {
  double total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t i = 0; i < n; ++i) total += (double(v[i]) - shift) * (double(v[i]) - shift);
  return total;
}

// sum dy * x and sum dy over one channel's S values.
template <typename T>
void channel_sums(const T* dy, const T* x, int64_t S, double& sum_dy_x, double& sum_dy) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t s = 0; s < S; ++s) {
    a += double(dy[s]) * double(x[s]);
    b += double(dy[s]);
  }
  sum_dy_x = a;
  sum_dy = b;
}

// out = a * u + b * v + c over n values; a, b, c per channel when S == 1
// (arrays), else scalars: the one loop of normalize (b = 0) and of dx.
template <typename T>
void affine_rows(const T* u, const T* v, T* out, int64_t n, T a, T b, T c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = a * u[i] + b * v[i] + c;
}

}  // namespace

template <typename T>
void sample_moments(const T* x_n, int64_t G, int64_t K, double eps, double* mean, double* invstd) {
  for (int64_t g = 0; g < G; ++g) {
    const T* block = x_n + g * K;
    mean[g] = sum_of(block, K) / double(K);
    // The second pass about the mean (in cache): no E[x^2] - E[x]^2 cancellation.
    const double var = squares_about(block, K, mean[g]) / double(K);
    invstd[g] = 1.0 / std::sqrt(var + eps);
  }
}

template <typename T>
void sample_normalize(const T* x_n, T* y_n, int64_t G, int64_t Cg, int64_t S, const double* mean, const double* invstd,
                      const T* gamma, const T* beta, T* work) {
  const int64_t C = G * Cg;
  T* scale = work;      // (C) invstd * gamma_c
  T* shift = work + C;  // (C) beta_c - mean * scale_c
  for (int64_t c = 0; c < C; ++c) {
    const int64_t g = c / Cg;
    const double a = invstd[g] * (gamma ? double(gamma[c]) : 1.0);
    scale[c] = T(a);
    shift[c] = T((beta ? double(beta[c]) : 0.0) - mean[g] * a);
  }
  if (S == 1) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y_n[c] = scale[c] * x_n[c] + shift[c];
    return;
  }
  for (int64_t c = 0; c < C; ++c) affine_rows(x_n + c * S, x_n + c * S, y_n + c * S, S, scale[c], T(0), shift[c]);
}

// Per group, with dxhat = dy * gamma_c over its K values (docs/group-norm.md):
//   dx = invstd * gamma_c * dy - q * x + (q * mean - invstd * sum(dxhat) / K),
//   q = invstd^3 * (sum(dxhat * x) - mean * sum(dxhat)) / K
// and per channel dgamma_c = (sum dy*x - mean * sum dy) * invstd, dbeta_c = sum dy.
template <typename T>
void sample_backward(const T* dy_n, const T* x_n, T* dx_n, int64_t G, int64_t Cg, int64_t S, const double* mean,
                     const double* invstd, const T* gamma, double* dgamma, double* dbeta, T* work, double* work_d) {
  const int64_t C = G * Cg;
  double* sum_dy_x = work_d;    // (C) this sample's sum dy*x per channel
  double* sum_dy = work_d + C;  // (C) and sum dy
  if (S == 1) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      sum_dy_x[c] = double(dy_n[c]) * double(x_n[c]);
      sum_dy[c] = double(dy_n[c]);
    }
  } else {
    for (int64_t c = 0; c < C; ++c) channel_sums(dy_n + c * S, x_n + c * S, S, sum_dy_x[c], sum_dy[c]);
  }
  T* coefficient = work;  // (C) invstd * gamma_c
  for (int64_t g = 0; g < G; ++g) {
    double sum_dxhat = 0, sum_dxhat_x = 0;  // sum dy*gamma and sum dy*gamma*x over the group
    for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
      const double w = gamma ? double(gamma[c]) : 1.0;
      sum_dxhat += w * sum_dy[c];
      sum_dxhat_x += w * sum_dy_x[c];
      coefficient[c] = T(invstd[g] * w);
      dgamma[c] += (sum_dy_x[c] - mean[g] * sum_dy[c]) * invstd[g];
      dbeta[c] += sum_dy[c];
    }
    if (!dx_n) continue;
    const double K = double(Cg * S), r = invstd[g];
    const double q = r * r * r * (sum_dxhat_x - mean[g] * sum_dxhat) / K;
    const T minus_q = T(-q), constant = T(q * mean[g] - r * sum_dxhat / K);
    if (S == 1) {
      const int64_t c0 = g * Cg;
#pragma omp simd
      for (int64_t c = c0; c < c0 + Cg; ++c) dx_n[c] = coefficient[c] * dy_n[c] + minus_q * x_n[c] + constant;
      continue;
    }
    for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c)
      affine_rows(dy_n + c * S, x_n + c * S, dx_n + c * S, S, coefficient[c], minus_q, constant);
  }
}

#define BNLAB_GN_INSTANTIATE(T)                                                                                      \
  template void sample_moments<T>(const T*, int64_t, int64_t, double, double*, double*);                             \
  template void sample_normalize<T>(const T*, T*, int64_t, int64_t, int64_t, const double*, const double*, const T*, \
                                    const T*, T*);                                                                   \
  template void sample_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, const double*, const double*,  \
                                   const T*, double*, double*, T*, double*);
BNLAB_GN_INSTANTIATE(float)
BNLAB_GN_INSTANTIATE(double)
#undef BNLAB_GN_INSTANTIATE

}  // namespace bnlab::gn::fused::BNLAB_ISA
