// The fused BatchNorm loops, compiled once per instruction set (see
// fused_kernels_avx2.cpp / fused_kernels_portable.cpp, which define
// BNLAB_ISA before including this file).
//
// Deliberately free of LibTorch and standard-library templates: everything
// here is compiled with -mavx2 -mfma in one of the two copies, and an inline
// function shared with other files could be picked by the linker for the
// whole program and then run on a CPU without AVX2.
//
// Layout: x is (N, C, S) contiguous; every function handles channels
// [c0, c1) so the caller can split channels across threads. Per-channel
// statistics are double. S == 1 ((N,C) input) vectorises across channels,
// S > 1 along the S values of each (n, c) row.
#include <cstdint>

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::bn::fused::BNLAB_ISA {

// One pass over x per channel: shifted sums s = sum(x - K), q = sum((x - K)^2)
// with K = the channel's first value, accumulated in double. Shifting by a
// value of the data keeps q - s^2/M free of the E[x^2] - E[x]^2 cancellation
// (the shift is within a few standard deviations of the mean), so one pass is
// as robust as two. scratch_s/scratch_q: C doubles each (S == 1 only).
template <typename T>
void moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean, double* var,
             double* scratch_s, double* scratch_q) {
  const double M = double(N * S);
  if (S == 1) {
    for (int64_t c = c0; c < c1; ++c) scratch_s[c] = scratch_q[c] = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* row = x + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        const double d = double(row[c]) - double(x[c]);
        scratch_s[c] += d;
        scratch_q[c] += d * d;
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      const double shift_mean = scratch_s[c] / M;
      mean[c] = double(x[c]) + shift_mean;
      const double v = scratch_q[c] / M - shift_mean * shift_mean;
      var[c] = v > 0 ? v : 0;
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    const double K = double(x[c * S]);
    double s = 0, q = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* row = x + (n * C + c) * S;
#pragma omp simd reduction(+ : s, q)
      for (int64_t i = 0; i < S; ++i) {
        const double d = double(row[i]) - K;
        s += d;
        q += d * d;
      }
    }
    const double shift_mean = s / M;
    mean[c] = K + shift_mean;
    const double v = q / M - shift_mean * shift_mean;
    var[c] = v > 0 ? v : 0;
  }
}

// y = (x - mean) * alpha + beta per channel, in T, one FMA after the
// centring. The mean is split into hi + lo parts of type T: x - hi is exact
// for x near the mean (Sterbenz), so large offsets keep their digits where
// x * alpha + (beta - mean * alpha) would cancel them away.
template <typename T>
void normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, const T* gamma, const T* beta, T* scratch_hi, T* scratch_lo, T* scratch_alpha,
               T* scratch_beta) {
  for (int64_t c = c0; c < c1; ++c) {
    scratch_hi[c] = T(mean[c]);
    scratch_lo[c] = T(mean[c] - double(scratch_hi[c]));
    scratch_alpha[c] = T(invstd[c] * (gamma ? double(gamma[c]) : 1.0));
    scratch_beta[c] = beta ? beta[c] : T(0);
  }
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* in = x + n * C;
      T* out = y + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c)
        out[c] = ((in[c] - scratch_hi[c]) - scratch_lo[c]) * scratch_alpha[c] + scratch_beta[c];
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    const T hi = scratch_hi[c], lo = scratch_lo[c], alpha = scratch_alpha[c], shift = scratch_beta[c];
    for (int64_t n = 0; n < N; ++n) {
      const T* in = x + (n * C + c) * S;
      T* out = y + (n * C + c) * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) out[i] = ((in[i] - hi) - lo) * alpha + shift;
    }
  }
}

// One pass: sum_dy = sum dy, sum_dy_xhat = invstd * sum dy * (x - mean), in double.
template <typename T>
void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, double* sum_dy, double* sum_dy_xhat) {
  for (int64_t c = c0; c < c1; ++c) sum_dy[c] = sum_dy_xhat[c] = 0;
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dy + n * C;
      const T* in = x + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        sum_dy[c] += double(g[c]);
        sum_dy_xhat[c] += double(g[c]) * (double(in[c]) - mean[c]);
      }
    }
  } else {
    for (int64_t c = c0; c < c1; ++c) {
      double s = 0, sx = 0;
      const double m = mean[c];
      for (int64_t n = 0; n < N; ++n) {
        const T* g = dy + (n * C + c) * S;
        const T* in = x + (n * C + c) * S;
#pragma omp simd reduction(+ : s, sx)
        for (int64_t i = 0; i < S; ++i) {
          s += double(g[i]);
          sx += double(g[i]) * (double(in[i]) - m);
        }
      }
      sum_dy[c] = s;
      sum_dy_xhat[c] = sx;
    }
  }
  for (int64_t c = c0; c < c1; ++c) sum_dy_xhat[c] *= invstd[c];
}

// dx = g*invstd * (dy - sum_dy/M - xhat * sum_dy_xhat/M), M the count the sums
// and statistics were taken over (N*S, or the global count under sync BN), rewritten per
// channel as dx = a*dy + b*(x - mean) + k with a = g*invstd,
// b = -a*invstd*sum_dy_xhat/M, k = -a*sum_dy/M: two FMAs per element.
template <typename T>
void backward_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* mean, const double* invstd, const T* gamma, const double* sum_dy,
                          const double* sum_dy_xhat, double M, T* scratch_hi, T* scratch_lo, T* scratch_a,
                          T* scratch_b, T* scratch_k) {
  for (int64_t c = c0; c < c1; ++c) {
    const double a = invstd[c] * (gamma ? double(gamma[c]) : 1.0);
    scratch_hi[c] = T(mean[c]);
    scratch_lo[c] = T(mean[c] - double(scratch_hi[c]));
    scratch_a[c] = T(a);
    scratch_b[c] = T(-a * invstd[c] * sum_dy_xhat[c] / M);
    scratch_k[c] = T(-a * sum_dy[c] / M);
  }
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dy + n * C;
      const T* in = x + n * C;
      T* out = dx + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c)
        out[c] = scratch_a[c] * g[c] + scratch_b[c] * ((in[c] - scratch_hi[c]) - scratch_lo[c]) + scratch_k[c];
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    const T hi = scratch_hi[c], lo = scratch_lo[c], a = scratch_a[c], b = scratch_b[c], k = scratch_k[c];
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dy + (n * C + c) * S;
      const T* in = x + (n * C + c) * S;
      T* out = dx + (n * C + c) * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) out[i] = a * g[i] + b * ((in[i] - hi) - lo) + k;
    }
  }
}

// dx = g*invstd * dy (eval: statistics are constants).
template <typename T>
void backward_fixed_stats(const T* dy, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* invstd, const T* gamma, T* scratch_a) {
  for (int64_t c = c0; c < c1; ++c) scratch_a[c] = T(invstd[c] * (gamma ? double(gamma[c]) : 1.0));
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dx[n * C + c] = scratch_a[c] * dy[n * C + c];
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    const T a = scratch_a[c];
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) dx[base + i] = a * dy[base + i];
    }
  }
}

#define BNLAB_INSTANTIATE(T)                                                                                       \
  template void moments<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, double*, double*, double*,    \
                           double*);                                                                             \
  template void normalize<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,          \
                             const double*, const T*, const T*, T*, T*, T*, T*);                                 \
  template void grad_sums<T>(const T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,    \
                             const double*, double*, double*);                                                   \
  template void backward_batch_stats<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,   \
                                        const double*, const double*, const T*, const double*, const double*,     \
                                        double, T*, T*, T*, T*, T*);                                             \
  template void backward_fixed_stats<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, \
                                        const T*, T*);
BNLAB_INSTANTIATE(float)
BNLAB_INSTANTIATE(double)
#undef BNLAB_INSTANTIATE

}  // namespace bnlab::bn::fused::BNLAB_ISA
