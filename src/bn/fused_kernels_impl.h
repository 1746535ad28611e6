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
// row; every pass walks memory in order.
//
// Working memory: every range function takes work_d (3C doubles) and work_t
// (4C values of T) and touches only entries of its own channels, so threads
// working on disjoint channel ranges share one buffer.
#include "bn/fused_kernels_isa.h"
#include "bn/fused_kernels_loops.h"
#include "bn/fused_kernels_terms.h"

namespace bnlab::bn::fused::BNLAB_ISA {

// ---- statistics -----------------------------------------------------------------
// One pass over x: per channel, shifted sums s = sum(x - K), q = sum((x - K)^2)
// with K = the channel's first value. Shifting by a value of the data keeps
// q - s^2/M free of the E[x^2] - E[x]^2 cancellation (the shift is within a
// few standard deviations of the mean), so one pass is as robust as two.
//
// Every pass walks memory in order (n outer, channels inner). Walking one
// channel at a time instead reads N short runs (2.7 KB for a 26x26 image) far
// apart; on (256,32,26,26) that read 4x slower than one sweep, more than the
// second read of x that finishing each channel while it was cached saved.
// The caller passes blocks of channels sized to the L2 instead
// (channels_per_block, fused_kernels.h): runs of a block's channels are
// contiguous, and the second pass finds them in L2.
inline void moments_from_shifted_sums(double K, double s, double q, double M, double& mean, double& var) {
  const double shift_mean = s / M;
  mean = K + shift_mean;
  const double v = q / M - shift_mean * shift_mean;
  var = v < 0 ? 0 : v;  // rounding can leave -0.x ulp; NaN (from NaN or Inf input) passes, as in native
}

// The exact fallback for one channel: two passes in double, as native
// computes its statistics. Used where the float sums overflowed (magnitudes
// beyond ~1e19: (x - K)^2 leaves float's range) or the shift K itself is not
// finite (an Inf or NaN in the channel's first value): native then gives
// mean = +-Inf or NaN and var = NaN, and so does this.
template <bool kReluIn, typename T>
void exact_channel_moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c, double& mean, double& var) {
  double sum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < S; ++i) sum += double(bn_input<kReluIn>(x[(n * C + c) * S + i]));
  const double M = double(N * S);
  mean = sum / M;
  double sum_sq = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < S; ++i) {
      const double d = double(bn_input<kReluIn>(x[(n * C + c) * S + i])) - mean;
      sum_sq += d * d;
    }
  var = sum_sq / M;
}

// kReluIn: the moments of max(0, x).
template <bool kReluIn, typename T>
void moments_of(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean, double* var,
                double* work_d, T* work_t) {
  double *total_s = work_d, *total_q = work_d + C;
  for (int64_t c = c0; c < c1; ++c) total_s[c] = total_q[c] = 0;
  auto shifted = [=](int64_t c, int64_t k, T& sum, T& sum_sq) {
    const T d = bn_input<kReluIn>(x[k]) - bn_input<kReluIn>(x[c * S]);
    sum += d;
    sum_sq += d * d;
  };
  add_channel_sums<T>(N, C, S, c0, c1, shifted, total_s, total_q, work_t, work_t + C);
  for (int64_t c = c0; c < c1; ++c) {
    moments_from_shifted_sums(double(bn_input<kReluIn>(x[c * S])), total_s[c], total_q[c], double(N * S), mean[c],
                              var[c]);
    if (!__builtin_isfinite(mean[c]) || !__builtin_isfinite(var[c]))
      exact_channel_moments<kReluIn>(x, N, C, S, c, mean[c], var[c]);
  }
}

template <typename T>
void moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean, double* var,
             double* work_d, T* work_t) {
  moments_of<false>(x, N, C, S, c0, c1, mean, var, work_d, work_t);
}

// ---- forward: normalisation -----------------------------------------------------
// y = (x - mean) * alpha + beta per channel, in T: one subtraction and one
// FMA. The mean is split into hi + lo parts of type T: x - hi is exact for x
// near the mean (Sterbenz), so large offsets keep their digits where
// x * alpha + (beta - mean * alpha) would cancel them away; the small lo
// term goes into the shift, beta - lo * alpha, computed in double.
// kRelu: y = max(0, that), and relu_mask written (see activate). kReluIn:
// of max(0, x) (see bn_input). work_t: as normalize_coefficients.
template <bool kRelu, bool kReluIn, typename T>
void normalize_rows(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
                    const double* invstd, const T* gamma, const T* beta, bool stream, uint8_t* relu_mask, T* work_t) {
  normalize_coefficients(C, c0, c1, mean, invstd, gamma, beta, work_t);
  const T *hi = work_t, *alpha = work_t + C, *shift = work_t + 2 * C;
  if (S == 1 && rows_per_tile(C, c0, c1) > 1) {
    const int64_t R = rows_per_tile(C, c0, c1);
    alignas(64) T tiled_hi[kTileValues], tiled_alpha[kTileValues], tiled_shift[kTileValues];
    tile_channels(hi, C, R, tiled_hi);
    tile_channels(alpha, C, R, tiled_alpha);
    tile_channels(shift, C, R, tiled_shift);
    const T *h = tiled_hi, *a = tiled_alpha, *b = tiled_shift;  // pointers: the lambda captures by value
    for (int64_t n = 0; n < N; n += R) {
      const T* in = x + n * C;
      uint8_t* m = kRelu ? relu_mask + n * C : nullptr;
      write_row(y + n * C, min_of(R, N - n) * C, stream,
                [=](int64_t i) { return activate<kRelu>(normalized<kReluIn>(in[i], h[i], a[i], b[i]), m, i); });
    }
    if (stream) finish_streaming();
    return;
  }
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* in = x + n * C + c0;
      const T *h = hi + c0, *a = alpha + c0, *b = shift + c0;
      uint8_t* m = kRelu ? relu_mask + n * C + c0 : nullptr;
      write_row(y + n * C + c0, c1 - c0, stream,
                [=](int64_t i) { return activate<kRelu>(normalized<kReluIn>(in[i], h[i], a[i], b[i]), m, i); });
    }
    if (stream) finish_streaming();
    return;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = c0; c < c1; ++c) {
      const T* in = x + (n * C + c) * S;
      const T h = hi[c], a = alpha[c], b = shift[c];
      uint8_t* m = kRelu ? relu_mask + (n * C + c) * S : nullptr;
      write_row(y + (n * C + c) * S, S, stream,
                [=](int64_t i) { return activate<kRelu>(normalized<kReluIn>(in[i], h, a, b), m, i); });
    }
  if (stream) finish_streaming();
}

template <typename T>
void normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, const T* gamma, const T* beta, double* /*work_d*/, T* work_t) {
  normalize_rows<false, false>(x, y, N, C, S, c0, c1, mean, invstd, gamma, beta, /*stream=*/false, nullptr, work_t);
}

// Batch statistics and normalisation in one call: mean and biased var out,
// invstd = 1 / sqrt(var + eps) as the caller computes it from var.
template <bool kReluIn, typename T>
void forward_batch_stats_of(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double eps,
                            const T* gamma, const T* beta, double* mean, double* var, bool stream_y, uint8_t* relu_mask,
                            double* work_d, T* work_t) {
  moments_of<kReluIn>(x, N, C, S, c0, c1, mean, var, work_d, work_t);
  double* invstd = work_d + 2 * C;
  for (int64_t c = c0; c < c1; ++c) invstd[c] = 1.0 / sqrt_of(var[c] + eps);
  if (relu_mask)
    normalize_rows<true, kReluIn>(x, y, N, C, S, c0, c1, mean, invstd, gamma, beta, stream_y, relu_mask, work_t);
  else
    normalize_rows<false, kReluIn>(x, y, N, C, S, c0, c1, mean, invstd, gamma, beta, stream_y, nullptr, work_t);
}

template <typename T>
void forward_batch_stats(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double eps,
                         const T* gamma, const T* beta, double* mean, double* var, bool stream_y, uint8_t* relu_mask,
                         bool relu_input, double* work_d, T* work_t) {
  if (relu_input)
    forward_batch_stats_of<true>(x, y, N, C, S, c0, c1, eps, gamma, beta, mean, var, stream_y, relu_mask, work_d,
                                 work_t);
  else
    forward_batch_stats_of<false>(x, y, N, C, S, c0, c1, eps, gamma, beta, mean, var, stream_y, relu_mask, work_d,
                                  work_t);
}

// ---- backward: gradient sums ----------------------------------------------------
// One pass: sum_dy = sum dy, sum_dy_xhat = invstd * sum dy * (x - mean),
// summed as in moments(); with the mean split into T parts hi + lo (see
// normalize), sum dy*(x - mean) = sum dy*(x - hi) - lo * sum dy, x - hi exact
// for x near the mean. kRelu: dy masked by relu_mask first (grad_in).
// kReluIn: the sums at max(0, x) (bn_input). work_t: hi, and (S == 1) the
// current run's sums.
template <bool kRelu, bool kReluIn, typename T>
void grad_sums_masked(const T* dy, const uint8_t* relu_mask, const T* x, int64_t N, int64_t C, int64_t S, int64_t c0,
                      int64_t c1, const double* mean, const double* invstd, double* sum_dy, double* sum_dy_xhat,
                      T* work_t) {
  T* hi = work_t;
  start_grad_sums(c0, c1, mean, sum_dy, sum_dy_xhat, hi);
  auto grad_terms = [=](int64_t c, int64_t k, T& sum_g, T& sum_g_xc) {
    add_grad_terms<kReluIn>(grad_in<kRelu>(dy, relu_mask, k), x[k], hi[c], sum_g, sum_g_xc);
  };
  add_channel_sums<T>(N, C, S, c0, c1, grad_terms, sum_dy, sum_dy_xhat, work_t + C, work_t + 2 * C);
  finish_grad_sums(c0, c1, mean, hi, invstd, sum_dy, sum_dy_xhat, [&](int64_t c) {
    ExactGradSums exact;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = (n * C + c) * S; k < (n * C + c + 1) * S; ++k)
        add_grad_terms<kReluIn>(double(grad_in<kRelu>(dy, relu_mask, k)), double(x[k]), mean[c], exact.g, exact.g_xc);
    return exact;
  });
}

template <typename T>
void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, double* sum_dy, double* sum_dy_xhat, double* /*work_d*/, T* work_t) {
  grad_sums_masked<false, false>(dy, nullptr, x, N, C, S, c0, c1, mean, invstd, sum_dy, sum_dy_xhat, work_t);
}

// ---- backward: dx -----------------------------------------------------------------
// dx = g*invstd * (dy - sum_dy/M - xhat * sum_dy_xhat/M), M the count the sums
// and statistics were taken over (N*S, or the global count under sync BN),
// rewritten per channel as dx = a*dy + b*(x - hi) + k with a = g*invstd,
// b = -a*invstd*sum_dy_xhat/M, k = -a*sum_dy/M - b*lo (hi + lo the mean, as
// in normalize): a subtraction and two FMAs per element. kRelu: dy masked
// by relu_mask first (grad_in). kReluIn: BN of max(0, x), and dx the
// gradient reaching x (through_input_relu). work_t: hi, a, b, k
// (backward_coefficients, fused_kernels_terms.h).
template <bool kRelu, bool kReluIn, typename T>
void backward_rows(const T* dy, const uint8_t* relu_mask, const T* x, T* dx, int64_t N, int64_t C, int64_t S,
                   int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                   const double* sum_dy, const double* sum_dy_xhat, double M, bool stream, T* work_t) {
  backward_coefficients(C, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat, M, work_t);
  const T *hi = work_t, *a = work_t + C, *b = work_t + 2 * C, *k = work_t + 3 * C;
  if (S == 1 && rows_per_tile(C, c0, c1) > 1) {
    const int64_t R = rows_per_tile(C, c0, c1);
    alignas(64) T tiled_hi[kTileValues], tiled_a[kTileValues], tiled_b[kTileValues], tiled_k[kTileValues];
    tile_channels(hi, C, R, tiled_hi);
    tile_channels(a, C, R, tiled_a);
    tile_channels(b, C, R, tiled_b);
    tile_channels(k, C, R, tiled_k);
    const T *hc = tiled_hi, *ac = tiled_a, *bc = tiled_b, *kc = tiled_k;  // pointers: captured by value
    for (int64_t n = 0; n < N; n += R) {
      const T* g = dy + n * C;
      const uint8_t* m = kRelu ? relu_mask + n * C : nullptr;
      const T* in = x + n * C;
      write_row(dx + n * C, min_of(R, N - n) * C, stream, [=](int64_t i) {
        return dx_value<kReluIn>(in[i], grad_in<kRelu>(g, m, i), hc[i], ac[i], bc[i], kc[i]);
      });
    }
    if (stream) finish_streaming();
    return;
  }
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dy + n * C + c0;
      const uint8_t* m = kRelu ? relu_mask + n * C + c0 : nullptr;
      const T* in = x + n * C + c0;
      const T *hc = hi + c0, *ac = a + c0, *bc = b + c0, *kc = k + c0;
      write_row(dx + n * C + c0, c1 - c0, stream, [=](int64_t i) {
        return dx_value<kReluIn>(in[i], grad_in<kRelu>(g, m, i), hc[i], ac[i], bc[i], kc[i]);
      });
    }
    if (stream) finish_streaming();
    return;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t base = (n * C + c) * S;
      const T* g = dy + base;
      const uint8_t* m = kRelu ? relu_mask + base : nullptr;
      const T* in = x + base;
      const T hc = hi[c], ac = a[c], bc = b[c], kc = k[c];
      write_row(dx + base, S, stream,
                [=](int64_t i) { return dx_value<kReluIn>(in[i], grad_in<kRelu>(g, m, i), hc, ac, bc, kc); });
    }
  if (stream) finish_streaming();
}

template <typename T>
void backward_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* mean, const double* invstd, const T* gamma, const double* sum_dy,
                          const double* sum_dy_xhat, double M, double* /*work_d*/, T* work_t) {
  backward_rows<false, false>(dy, nullptr, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat, M,
                              /*stream=*/false, work_t);
}

// Gradient sums and dx in one call (local batch statistics, M = N*S).
template <bool kRelu, bool kReluIn, typename T>
void backward_with_batch_stats_masked(const T* dy, const uint8_t* relu_mask, const T* x, T* dx, int64_t N, int64_t C,
                                      int64_t S, int64_t c0, int64_t c1, const double* mean, const double* invstd,
                                      const T* gamma, double* sum_dy, double* sum_dy_xhat, bool stream_dx, T* work_t) {
  grad_sums_masked<kRelu, kReluIn>(dy, relu_mask, x, N, C, S, c0, c1, mean, invstd, sum_dy, sum_dy_xhat, work_t);
  backward_rows<kRelu, kReluIn>(dy, relu_mask, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat,
                                double(N * S), stream_dx, work_t);
}

template <bool kReluIn, typename T>
void backward_with_batch_stats_of(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0,
                                  int64_t c1, const double* mean, const double* invstd, const T* gamma, double* sum_dy,
                                  double* sum_dy_xhat, bool stream_dx, const uint8_t* relu_mask, T* work_t) {
  if (relu_mask)
    backward_with_batch_stats_masked<true, kReluIn>(dy, relu_mask, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy,
                                                    sum_dy_xhat, stream_dx, work_t);
  else
    backward_with_batch_stats_masked<false, kReluIn>(dy, nullptr, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy,
                                                     sum_dy_xhat, stream_dx, work_t);
}

template <typename T>
void backward_with_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                               const double* mean, const double* invstd, const T* gamma, double* sum_dy,
                               double* sum_dy_xhat, bool stream_dx, const uint8_t* relu_mask, bool relu_input,
                               double* /*work_d*/, T* work_t) {
  if (relu_input)
    backward_with_batch_stats_of<true>(dy, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat, stream_dx,
                                       relu_mask, work_t);
  else
    backward_with_batch_stats_of<false>(dy, x, dx, N, C, S, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat, stream_dx,
                                        relu_mask, work_t);
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

#define BNLAB_INSTANTIATE(T)                                                                                          \
  template void moments<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, double*, double*, double*, T*);     \
  template void normalize<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*, \
                             const T*, const T*, double*, T*);                                                        \
  template void forward_batch_stats<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, double, const T*,   \
                                       const T*, double*, double*, bool, uint8_t*, bool, double*, T*);                \
  template void grad_sums<T>(const T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,          \
                             const double*, double*, double*, double*, T*);                                           \
  template void backward_batch_stats<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,          \
                                        const double*, const double*, const T*, const double*, const double*, double, \
                                        double*, T*);                                                                 \
  template void backward_with_batch_stats<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                             const double*, const double*, const T*, double*, double*, bool,          \
                                             const uint8_t*, bool, double*, T*);                                      \
  template void backward_fixed_stats<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*,     \
                                        const T*, double*, T*);
BNLAB_INSTANTIATE(float)
BNLAB_INSTANTIATE(double)
#undef BNLAB_INSTANTIATE

}  // namespace bnlab::bn::fused::BNLAB_ISA
