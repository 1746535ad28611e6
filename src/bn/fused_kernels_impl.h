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
#include <algorithm>
#include <cstdint>

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::bn::fused::BNLAB_ISA {

// Sums are taken in T over short runs, each run spread over kLanes
// independent accumulators (four vector registers: the adds pipeline instead
// of waiting on one register), and every run's totals are added into double.
// A float lane sums at most kRowsPerRun values (or a row's ~S/kLanes), so its
// rounding stays ~1e-6 relative however large the channel; the double totals
// carry the rest. Half the vector work of converting every value to double.
template <typename T>
constexpr int kLanes = 128 / sizeof(T);  // 32 floats or 16 doubles
constexpr int64_t kRowsPerRun = 16;      // S == 1: rows summed in T before folding

// s += sum(row - shift), q += sum((row - shift)^2) over one row of n values.
template <typename T>
void add_shifted_row_sums(const T* row, int64_t n, T shift, double& s, double& q) {
  T ls[kLanes<T>] = {}, lq[kLanes<T>] = {};
  int64_t i = 0;
  for (; i + kLanes<T> <= n; i += kLanes<T>)
    for (int j = 0; j < kLanes<T>; ++j) {
      const T d = row[i + j] - shift;
      ls[j] += d;
      lq[j] += d * d;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const T d = row[i] - shift;
    ls[j] += d;
    lq[j] += d * d;
  }
  double rs = 0, rq = 0;
  for (int j = 0; j < kLanes<T>; ++j) {
    rs += double(ls[j]);
    rq += double(lq[j]);
  }
  s += rs;
  q += rq;
}

// sd += sum(dy), sdx += sum(dy * (x - hi)) over one row of n values.
template <typename T>
void add_grad_row_sums(const T* dy, const T* x, int64_t n, T hi, double& sd, double& sdx) {
  T ld[kLanes<T>] = {}, ldx[kLanes<T>] = {};
  int64_t i = 0;
  for (; i + kLanes<T> <= n; i += kLanes<T>)
    for (int j = 0; j < kLanes<T>; ++j) {
      ld[j] += dy[i + j];
      ldx[j] += dy[i + j] * (x[i + j] - hi);
    }
  for (int j = 0; i < n; ++i, ++j) {
    ld[j] += dy[i];
    ldx[j] += dy[i] * (x[i] - hi);
  }
  double rd = 0, rdx = 0;
  for (int j = 0; j < kLanes<T>; ++j) {
    rd += double(ld[j]);
    rdx += double(ldx[j]);
  }
  sd += rd;
  sdx += rdx;
}

// One pass over x per channel: shifted sums s = sum(x - K), q = sum((x - K)^2)
// with K = the channel's first value. Shifting by a value of the data keeps
// q - s^2/M free of the E[x^2] - E[x]^2 cancellation (the shift is within a
// few standard deviations of the mean), so one pass is as robust as two.
// Scratch (S == 1 only), C values each: scratch_s/q double totals, run_s/q
// the current run's sums in T.
template <typename T>
void moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean, double* var,
             double* scratch_s, double* scratch_q, T* run_s, T* run_q) {
  const double M = double(N * S);
  if (S == 1) {
    // Channels across the vector, whole rows at a time; runs of kRowsPerRun
    // rows summed in T, then folded into the double totals.
    for (int64_t c = c0; c < c1; ++c) scratch_s[c] = scratch_q[c] = 0;
    for (int64_t n0 = 0; n0 < N; n0 += kRowsPerRun) {
      for (int64_t c = c0; c < c1; ++c) run_s[c] = run_q[c] = 0;
      for (int64_t n = n0; n < std::min(N, n0 + kRowsPerRun); ++n) {
        const T* row = x + n * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) {
          const T d = row[c] - x[c];
          run_s[c] += d;
          run_q[c] += d * d;
        }
      }
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        scratch_s[c] += double(run_s[c]);
        scratch_q[c] += double(run_q[c]);
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
    const T K = x[c * S];
    double s = 0, q = 0;
    for (int64_t n = 0; n < N; ++n) add_shifted_row_sums(x + (n * C + c) * S, S, K, s, q);
    const double shift_mean = s / M;
    mean[c] = double(K) + shift_mean;
    const double v = q / M - shift_mean * shift_mean;
    var[c] = v > 0 ? v : 0;
  }
}

// y = (x - mean) * alpha + beta per channel, in T: one subtraction and one
// FMA. The mean is split into hi + lo parts of type T: x - hi is exact for x
// near the mean (Sterbenz), so large offsets keep their digits where
// x * alpha + (beta - mean * alpha) would cancel them away; the small lo
// term goes into the shift, beta - lo * alpha, computed in double.
template <typename T>
void normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, const T* gamma, const T* beta, T* scratch_hi, T* scratch_alpha,
               T* scratch_shift) {
  for (int64_t c = c0; c < c1; ++c) {
    const T hi = T(mean[c]);
    const double lo = mean[c] - double(hi);
    const double alpha = invstd[c] * (gamma ? double(gamma[c]) : 1.0);
    scratch_hi[c] = hi;
    scratch_alpha[c] = T(alpha);
    scratch_shift[c] = T((beta ? double(beta[c]) : 0.0) - lo * alpha);
  }
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* in = x + n * C;
      T* out = y + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) out[c] = (in[c] - scratch_hi[c]) * scratch_alpha[c] + scratch_shift[c];
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    const T hi = scratch_hi[c], alpha = scratch_alpha[c], shift = scratch_shift[c];
    for (int64_t n = 0; n < N; ++n) {
      const T* in = x + (n * C + c) * S;
      T* out = y + (n * C + c) * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) out[i] = (in[i] - hi) * alpha + shift;
    }
  }
}

// One pass: sum_dy = sum dy, sum_dy_xhat = invstd * sum dy * (x - mean),
// summed as in moments(); with the mean split into T parts hi + lo (see
// normalize), sum dy*(x - mean) = sum dy*(x - hi) - lo * sum dy, x - hi exact
// for x near the mean. Scratch, C values of T each: hi, and (S == 1) the
// current run's sums.
template <typename T>
void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, double* sum_dy, double* sum_dy_xhat, T* scratch_hi, T* run_dy, T* run_dy_xc) {
  for (int64_t c = c0; c < c1; ++c) {
    sum_dy[c] = sum_dy_xhat[c] = 0;
    scratch_hi[c] = T(mean[c]);
  }
  if (S == 1) {
    for (int64_t n0 = 0; n0 < N; n0 += kRowsPerRun) {
      for (int64_t c = c0; c < c1; ++c) run_dy[c] = run_dy_xc[c] = 0;
      for (int64_t n = n0; n < std::min(N, n0 + kRowsPerRun); ++n) {
        const T* g = dy + n * C;
        const T* in = x + n * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) {
          run_dy[c] += g[c];
          run_dy_xc[c] += g[c] * (in[c] - scratch_hi[c]);
        }
      }
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        sum_dy[c] += double(run_dy[c]);
        sum_dy_xhat[c] += double(run_dy_xc[c]);
      }
    }
  } else {
    for (int64_t c = c0; c < c1; ++c) {
      double sd = 0, sdx = 0;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t base = (n * C + c) * S;
        add_grad_row_sums(dy + base, x + base, S, scratch_hi[c], sd, sdx);
      }
      sum_dy[c] = sd;
      sum_dy_xhat[c] = sdx;
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    const double lo = mean[c] - double(scratch_hi[c]);
    sum_dy_xhat[c] = (sum_dy_xhat[c] - lo * sum_dy[c]) * invstd[c];
  }
}

// dx = g*invstd * (dy - sum_dy/M - xhat * sum_dy_xhat/M), M the count the sums
// and statistics were taken over (N*S, or the global count under sync BN), rewritten per
// channel as dx = a*dy + b*(x - hi) + k with a = g*invstd,
// b = -a*invstd*sum_dy_xhat/M, k = -a*sum_dy/M - b*lo (hi + lo the mean, as
// in normalize): a subtraction and two FMAs per element.
template <typename T>
void backward_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* mean, const double* invstd, const T* gamma, const double* sum_dy,
                          const double* sum_dy_xhat, double M, T* scratch_hi, T* scratch_a, T* scratch_b,
                          T* scratch_k) {
  for (int64_t c = c0; c < c1; ++c) {
    const T hi = T(mean[c]);
    const double lo = mean[c] - double(hi);
    const double a = invstd[c] * (gamma ? double(gamma[c]) : 1.0);
    const double b = -a * invstd[c] * sum_dy_xhat[c] / M;
    scratch_hi[c] = hi;
    scratch_a[c] = T(a);
    scratch_b[c] = T(b);
    scratch_k[c] = T(-a * sum_dy[c] / M - b * lo);
  }
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dy + n * C;
      const T* in = x + n * C;
      T* out = dx + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c)
        out[c] = scratch_a[c] * g[c] + scratch_b[c] * (in[c] - scratch_hi[c]) + scratch_k[c];
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    const T hi = scratch_hi[c], a = scratch_a[c], b = scratch_b[c], k = scratch_k[c];
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dy + (n * C + c) * S;
      const T* in = x + (n * C + c) * S;
      T* out = dx + (n * C + c) * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) out[i] = a * g[i] + b * (in[i] - hi) + k;
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
                           double*, T*, T*);                                                                     \
  template void normalize<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,          \
                             const double*, const T*, const T*, T*, T*, T*);                                     \
  template void grad_sums<T>(const T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,    \
                             const double*, double*, double*, T*, T*, T*);                                       \
  template void backward_batch_stats<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,   \
                                        const double*, const double*, const T*, const double*, const double*,     \
                                        double, T*, T*, T*, T*);                                                 \
  template void backward_fixed_stats<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, \
                                        const T*, T*);
BNLAB_INSTANTIATE(float)
BNLAB_INSTANTIATE(double)
#undef BNLAB_INSTANTIATE

}  // namespace bnlab::bn::fused::BNLAB_ISA
