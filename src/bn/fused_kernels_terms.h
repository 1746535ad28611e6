// The per-value formulas and per-channel coefficients of the fused
// BatchNorm kernels (fused_kernels_impl.h and, for BatchNorm followed by a
// max-pool, pooled_kernels_impl.h): one definition of each, so that every
// pass computing y, dx or the gradient sums rounds alike and the variants
// agree bit for bit. Compiled into each ISA copy inside its namespace; free
// of LibTorch for the reason given in fused_kernels_impl.h.
#pragma once
#include <cstdint>

#include "bn/fused_kernels_loops.h"

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::bn::fused::BNLAB_ISA {

// ---- forward ----------------------------------------------------------------------
// The high part of the mean split hi + lo (see normalize). hi = 0 beyond
// 2^100 (float; 2^968 for double): there x - hi could leave T's range (values
// of both signs near the maximum), while below it |x| + |hi| stays within
// half an ulp of the maximum. Means that large are native's form then,
// x * alpha + (beta - mean * alpha), and as accurate as native.
template <typename T>
inline T mean_high_part(double mean) {
  const double limit = sizeof(T) == 4 ? 0x1p100 : 0x1p968;
  return mean <= limit && mean >= -limit ? T(mean) : T(0);
}

// work_t: hi, alpha, shift per channel.
template <typename T>
void normalize_coefficients(int64_t C, int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                            const T* beta, T* work_t) {
  T *hi = work_t, *alpha = work_t + C, *shift = work_t + 2 * C;
  for (int64_t c = c0; c < c1; ++c) {
    hi[c] = mean_high_part<T>(mean[c]);
    const double lo = mean[c] - double(hi[c]);
    const double a = invstd[c] * (gamma ? double(gamma[c]) : 1.0);
    alpha[c] = T(a);
    shift[c] = T((beta ? double(beta[c]) : 0.0) - lo * a);
  }
}

// BN's value at x: (x - hi) * alpha + shift, rounded once (fma_of), so that
// every loop computing it agrees bit for bit.
template <bool kReluIn, typename T>
inline T normalized(T x, T hi, T alpha, T shift) {
  return fma_of(bn_input<kReluIn>(x) - hi, alpha, shift);
}

// ---- backward: gradient sums -------------------------------------------------------
// Zero sums and hi (the mean's high part, as normalize_coefficients) for
// channels [c0, c1), before a gradient-sums pass.
template <typename T>
void start_grad_sums(int64_t c0, int64_t c1, const double* mean, double* sum_dy, double* sum_dy_xhat, T* hi) {
  for (int64_t c = c0; c < c1; ++c) {
    sum_dy[c] = sum_dy_xhat[c] = 0;
    hi[c] = mean_high_part<T>(mean[c]);
  }
}

// One value's terms: g into sum_g, g * (x - hi) into sum_g_xc (x read
// through the ReLU before BN, kReluIn), the product added by one FMA
// (fma_of): left to the compiler, the double copy of one loop contracted it
// and another did not (BN with a ReLU, unfused and pooled, in double: dgamma and dx ulps apart).
template <bool kReluIn, typename T>
inline void add_grad_terms(T g, T x, T hi, T& sum_g, T& sum_g_xc) {
  sum_g += g;
  sum_g_xc = fma_of(g, bn_input<kReluIn>(x) - hi, sum_g_xc);
}

// The exact sums of one channel in double, for finish_grad_sums.
struct ExactGradSums {
  double g = 0, g_xc = 0;  // sum dy, sum dy * (x - mean)
};

// sum_dy_xhat from the sums around hi, for channels [c0, c1). T sums that
// overflowed (magnitudes near T's maximum) are taken again in double:
// exact_sums(c) -> ExactGradSums.
template <typename T, typename ExactSums>
void finish_grad_sums(int64_t c0, int64_t c1, const double* mean, const T* hi, const double* invstd, double* sum_dy,
                      double* sum_dy_xhat, ExactSums exact_sums) {
  for (int64_t c = c0; c < c1; ++c) {
    const double lo = mean[c] - double(hi[c]);
    sum_dy_xhat[c] = (sum_dy_xhat[c] - lo * sum_dy[c]) * invstd[c];
    if (!__builtin_isfinite(sum_dy[c]) || !__builtin_isfinite(sum_dy_xhat[c])) {
      const ExactGradSums exact = exact_sums(c);
      sum_dy[c] = exact.g;
      sum_dy_xhat[c] = exact.g_xc * invstd[c];
    }
  }
}

// ---- backward: dx -------------------------------------------------------------------
// work_t: hi, a, b, k (see backward_rows).
template <typename T>
void backward_coefficients(int64_t C, int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                           const double* sum_dy, const double* sum_dy_xhat, double M, T* work_t) {
  T *hi = work_t, *a = work_t + C, *b = work_t + 2 * C, *k = work_t + 3 * C;
  for (int64_t c = c0; c < c1; ++c) {
    hi[c] = mean_high_part<T>(mean[c]);
    const double lo = mean[c] - double(hi[c]);
    const double ac = invstd[c] * (gamma ? double(gamma[c]) : 1.0);
    const double bc = -ac * invstd[c] * sum_dy_xhat[c] / M;
    a[c] = T(ac);
    b[c] = T(bc);
    k[c] = T(-ac * sum_dy[c] / M - bc * lo);
  }
}

// dx at the value x given BN's gradient g there: a*g + b*(x - hi) + k,
// passed through the ReLU before BN (kReluIn).
template <bool kReluIn, typename T>
inline T dx_value(T x, T g, T hi, T a, T b, T k) {
  return through_input_relu<kReluIn>(x, fma_of(a, g, fma_of(b, bn_input<kReluIn>(x) - hi, k)));
}

}  // namespace bnlab::bn::fused::BNLAB_ISA
