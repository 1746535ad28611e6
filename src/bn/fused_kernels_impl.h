// The fused BatchNorm loops, compiled once per instruction set (see
// fused_kernels_avx2.cpp / fused_kernels_portable.cpp, which define
// BNLAB_ISA before including this file).
//
// Deliberately free of LibTorch and standard-library templates: everything
// here is compiled with -mavx2 -mfma in one of the two copies, and an inline
// function shared with other files could be picked by the linker for the
// whole program and then run on a CPU without AVX2.
//
// Layout: x is (N, C, S) contiguous; every range function (the ones
// instantiated at the end) handles channels [c0, c1) so the caller can split
// channels across threads. Per-channel statistics are double. S == 1 ((N,C)
// input) vectorises across channels, S > 1 along the S values of each (n, c)
// row, and there the whole-layer functions finish each channel while its
// values are still in cache: statistics then normalisation, or gradient sums
// then dx, reading x (and dy) from memory once instead of twice.
//
// Working memory: every range function takes work_d (3C doubles) and work_t
// (4C values of T) and touches only entries of its own channels, so threads
// working on disjoint channel ranges share one buffer.
#include "bn/fused_kernels_isa.h"

namespace bnlab::bn::fused::BNLAB_ISA {

inline int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
inline double sqrt_of(double v) { return __builtin_sqrt(v); }

// ---- sums -------------------------------------------------------------------
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

// ---- statistics -----------------------------------------------------------------
// One pass over x per channel: shifted sums s = sum(x - K), q = sum((x - K)^2)
// with K = the channel's first value. Shifting by a value of the data keeps
// q - s^2/M free of the E[x^2] - E[x]^2 cancellation (the shift is within a
// few standard deviations of the mean), so one pass is as robust as two.
inline void moments_from_shifted_sums(double K, double s, double q, double M, double& mean, double& var) {
  const double shift_mean = s / M;
  mean = K + shift_mean;
  const double v = q / M - shift_mean * shift_mean;
  var = v > 0 ? v : 0;
}

// S > 1: one channel.
template <typename T>
void channel_moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c, double& mean, double& var) {
  const T K = x[c * S];
  double s = 0, q = 0;
  for (int64_t n = 0; n < N; ++n) add_shifted_row_sums(x + (n * C + c) * S, S, K, s, q);
  moments_from_shifted_sums(double(K), s, q, double(N * S), mean, var);
}

template <typename T>
void moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean, double* var,
             double* work_d, T* work_t) {
  if (S > 1) {
    for (int64_t c = c0; c < c1; ++c) channel_moments(x, N, C, S, c, mean[c], var[c]);
    return;
  }
  // Channels across the vector, whole rows at a time; runs of kRowsPerRun
  // rows summed in T (run_s, run_q), then folded into the double totals.
  double *total_s = work_d, *total_q = work_d + C;
  T *run_s = work_t, *run_q = work_t + C;
  for (int64_t c = c0; c < c1; ++c) total_s[c] = total_q[c] = 0;
  for (int64_t n0 = 0; n0 < N; n0 += kRowsPerRun) {
    for (int64_t c = c0; c < c1; ++c) run_s[c] = run_q[c] = 0;
    for (int64_t n = n0; n < min_of(N, n0 + kRowsPerRun); ++n) {
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
      total_s[c] += double(run_s[c]);
      total_q[c] += double(run_q[c]);
    }
  }
  for (int64_t c = c0; c < c1; ++c)
    moments_from_shifted_sums(double(x[c]), total_s[c], total_q[c], double(N), mean[c], var[c]);
}

// ---- forward: normalisation -----------------------------------------------------
// y = (x - mean) * alpha + beta per channel, in T: one subtraction and one
// FMA. The mean is split into hi + lo parts of type T: x - hi is exact for x
// near the mean (Sterbenz), so large offsets keep their digits where
// x * alpha + (beta - mean * alpha) would cancel them away; the small lo
// term goes into the shift, beta - lo * alpha, computed in double.
template <typename T>
struct NormalizeCoefficients {
  T hi, alpha, shift;
};

template <typename T>
NormalizeCoefficients<T> normalize_coefficients(double mean, double invstd, const T* gamma, const T* beta, int64_t c) {
  const T hi = T(mean);
  const double lo = mean - double(hi);
  const double alpha = invstd * (gamma ? double(gamma[c]) : 1.0);
  return {hi, T(alpha), T((beta ? double(beta[c]) : 0.0) - lo * alpha)};
}

// S > 1: one channel, rows last to first: right after channel_moments the
// last rows read are the ones still in cache.
template <typename T>
void normalize_channel(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c, NormalizeCoefficients<T> k) {
  for (int64_t n = N - 1; n >= 0; --n) {
    const T* in = x + (n * C + c) * S;
    T* out = y + (n * C + c) * S;
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) out[i] = (in[i] - k.hi) * k.alpha + k.shift;
  }
}

template <typename T>
void normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, const T* gamma, const T* beta, double* /*work_d*/, T* work_t) {
  if (S > 1) {
    for (int64_t c = c0; c < c1; ++c)
      normalize_channel(x, y, N, C, S, c, normalize_coefficients(mean[c], invstd[c], gamma, beta, c));
    return;
  }
  T *hi = work_t, *alpha = work_t + C, *shift = work_t + 2 * C;
  for (int64_t c = c0; c < c1; ++c) {
    const auto k = normalize_coefficients(mean[c], invstd[c], gamma, beta, c);
    hi[c] = k.hi;
    alpha[c] = k.alpha;
    shift[c] = k.shift;
  }
  for (int64_t n = 0; n < N; ++n) {
    const T* in = x + n * C;
    T* out = y + n * C;
#pragma omp simd
    for (int64_t c = c0; c < c1; ++c) out[c] = (in[c] - hi[c]) * alpha[c] + shift[c];
  }
}

// Batch statistics and normalisation in one call: mean and biased var out,
// invstd = 1 / sqrt(var + eps) as the caller computes it from var.
template <typename T>
void forward_batch_stats(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double eps,
                         const T* gamma, const T* beta, double* mean, double* var, double* work_d, T* work_t) {
  if (S > 1) {
    for (int64_t c = c0; c < c1; ++c) {
      channel_moments(x, N, C, S, c, mean[c], var[c]);
      const double invstd = 1.0 / sqrt_of(var[c] + eps);
      normalize_channel(x, y, N, C, S, c, normalize_coefficients(mean[c], invstd, gamma, beta, c));
    }
    return;
  }
  moments(x, N, C, S, c0, c1, mean, var, work_d, work_t);
  double* invstd = work_d + 2 * C;
  for (int64_t c = c0; c < c1; ++c) invstd[c] = 1.0 / sqrt_of(var[c] + eps);
  normalize(x, y, N, C, S, c0, c1, mean, invstd, gamma, beta, work_d, work_t);
}

// ---- backward: gradient sums ----------------------------------------------------
// One pass: sum_dy = sum dy, sum_dy_xhat = invstd * sum dy * (x - mean),
// summed as in moments(); with the mean split into T parts hi + lo (see
// normalize), sum dy*(x - mean) = sum dy*(x - hi) - lo * sum dy, x - hi exact
// for x near the mean.
inline void finish_grad_sums(double mean, double hi, double invstd, double& sum_dy, double& sum_dy_xhat) {
  sum_dy_xhat = (sum_dy_xhat - (mean - hi) * sum_dy) * invstd;
}

// S > 1: one channel.
template <typename T>
void channel_grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c, double mean,
                       double invstd, double& sum_dy, double& sum_dy_xhat) {
  const T hi = T(mean);
  double sd = 0, sdx = 0;
  for (int64_t n = 0; n < N; ++n) add_grad_row_sums(dy + (n * C + c) * S, x + (n * C + c) * S, S, hi, sd, sdx);
  sum_dy = sd;
  sum_dy_xhat = sdx;
  finish_grad_sums(mean, double(hi), invstd, sum_dy, sum_dy_xhat);
}

template <typename T>
void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, double* sum_dy, double* sum_dy_xhat, double* /*work_d*/, T* work_t) {
  if (S > 1) {
    for (int64_t c = c0; c < c1; ++c)
      channel_grad_sums(dy, x, N, C, S, c, mean[c], invstd[c], sum_dy[c], sum_dy_xhat[c]);
    return;
  }
  T *hi = work_t, *run_dy = work_t + C, *run_dy_xc = work_t + 2 * C;
  for (int64_t c = c0; c < c1; ++c) {
    sum_dy[c] = sum_dy_xhat[c] = 0;
    hi[c] = T(mean[c]);
  }
  for (int64_t n0 = 0; n0 < N; n0 += kRowsPerRun) {
    for (int64_t c = c0; c < c1; ++c) run_dy[c] = run_dy_xc[c] = 0;
    for (int64_t n = n0; n < min_of(N, n0 + kRowsPerRun); ++n) {
      const T* g = dy + n * C;
      const T* in = x + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        run_dy[c] += g[c];
        run_dy_xc[c] += g[c] * (in[c] - hi[c]);
      }
    }
#pragma omp simd
    for (int64_t c = c0; c < c1; ++c) {
      sum_dy[c] += double(run_dy[c]);
      sum_dy_xhat[c] += double(run_dy_xc[c]);
    }
  }
  for (int64_t c = c0; c < c1; ++c) finish_grad_sums(mean[c], double(hi[c]), invstd[c], sum_dy[c], sum_dy_xhat[c]);
}

// ---- backward: dx -----------------------------------------------------------------
// dx = g*invstd * (dy - sum_dy/M - xhat * sum_dy_xhat/M), M the count the sums
// and statistics were taken over (N*S, or the global count under sync BN),
// rewritten per channel as dx = a*dy + b*(x - hi) + k with a = g*invstd,
// b = -a*invstd*sum_dy_xhat/M, k = -a*sum_dy/M - b*lo (hi + lo the mean, as
// in normalize): a subtraction and two FMAs per element.
template <typename T>
struct BackwardCoefficients {
  T hi, a, b, k;
};

template <typename T>
BackwardCoefficients<T> backward_coefficients(double mean, double invstd, const T* gamma, int64_t c, double sum_dy,
                                              double sum_dy_xhat, double M) {
  const T hi = T(mean);
  const double lo = mean - double(hi);
  const double a = invstd * (gamma ? double(gamma[c]) : 1.0);
  const double b = -a * invstd * sum_dy_xhat / M;
  return {hi, T(a), T(b), T(-a * sum_dy / M - b * lo)};
}

// S > 1: one channel, rows last to first (see normalize_channel).
template <typename T>
void backward_channel(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c,
                      BackwardCoefficients<T> k) {
  for (int64_t n = N - 1; n >= 0; --n) {
    const int64_t base = (n * C + c) * S;
    const T* g = dy + base;
    const T* in = x + base;
    T* out = dx + base;
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) out[i] = k.a * g[i] + k.b * (in[i] - k.hi) + k.k;
  }
}

template <typename T>
void backward_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* mean, const double* invstd, const T* gamma, const double* sum_dy,
                          const double* sum_dy_xhat, double M, double* /*work_d*/, T* work_t) {
  if (S > 1) {
    for (int64_t c = c0; c < c1; ++c)
      backward_channel(dy, x, dx, N, C, S, c,
                       backward_coefficients(mean[c], invstd[c], gamma, c, sum_dy[c], sum_dy_xhat[c], M));
    return;
  }
  T *hi = work_t, *a = work_t + C, *b = work_t + 2 * C, *k = work_t + 3 * C;
  for (int64_t c = c0; c < c1; ++c) {
    const auto coefficients = backward_coefficients(mean[c], invstd[c], gamma, c, sum_dy[c], sum_dy_xhat[c], M);
    hi[c] = coefficients.hi;
    a[c] = coefficients.a;
    b[c] = coefficients.b;
    k[c] = coefficients.k;
  }
  for (int64_t n = 0; n < N; ++n) {
    const T* g = dy + n * C;
    const T* in = x + n * C;
    T* out = dx + n * C;
#pragma omp simd
    for (int64_t c = c0; c < c1; ++c) out[c] = a[c] * g[c] + b[c] * (in[c] - hi[c]) + k[c];
  }
}

// Gradient sums and dx in one call (local batch statistics, M = N*S).
template <typename T>
void backward_with_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0,
                               int64_t c1, const double* mean, const double* invstd, const T* gamma, double* sum_dy,
                               double* sum_dy_xhat, double* work_d, T* work_t) {
  const double M = double(N * S);
  if (S > 1) {
    for (int64_t c = c0; c < c1; ++c) {
      channel_grad_sums(dy, x, N, C, S, c, mean[c], invstd[c], sum_dy[c], sum_dy_xhat[c]);
      backward_channel(dy, x, dx, N, C, S, c,
                       backward_coefficients(mean[c], invstd[c], gamma, c, sum_dy[c], sum_dy_xhat[c], M));
    }
    return;
  }
  grad_sums(dy, x, N, C, S, c0, c1, mean, invstd, sum_dy, sum_dy_xhat, work_d, work_t);
  backward_batch_stats(dy, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat, M, work_d, work_t);
}

// dx = g*invstd * dy (eval: statistics are constants).
template <typename T>
void backward_fixed_stats(const T* dy, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* invstd, const T* gamma, double* /*work_d*/, T* work_t) {
  T* a = work_t;
  for (int64_t c = c0; c < c1; ++c) a[c] = T(invstd[c] * (gamma ? double(gamma[c]) : 1.0));
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dx[n * C + c] = a[c] * dy[n * C + c];
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) dx[base + i] = a[c] * dy[base + i];
    }
  }
}

#define BNLAB_INSTANTIATE(T)                                                                                     \
  template void moments<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, double*, double*, double*, T*); \
  template void normalize<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,          \
                             const double*, const T*, const T*, double*, T*);                                     \
  template void forward_batch_stats<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, double,       \
                                       const T*, const T*, double*, double*, double*, T*);                        \
  template void grad_sums<T>(const T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,    \
                             const double*, double*, double*, double*, T*);                                       \
  template void backward_batch_stats<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,   \
                                        const double*, const double*, const T*, const double*, const double*,     \
                                        double, double*, T*);                                                     \
  template void backward_with_batch_stats<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t,        \
                                             int64_t, const double*, const double*, const T*, double*, double*,   \
                                             double*, T*);                                                        \
  template void backward_fixed_stats<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,              \
                                        const double*, const T*, double*, T*);
BNLAB_INSTANTIATE(float)
BNLAB_INSTANTIATE(double)
#undef BNLAB_INSTANTIATE

}  // namespace bnlab::bn::fused::BNLAB_ISA
