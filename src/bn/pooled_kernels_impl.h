// BatchNorm followed by a 2x2 max-pool, the pool fused into BN's passes (and
// the ReLU between them, or before BN, as the whole-layer kernels fuse it):
// included by each ISA copy (fused_kernels_avx512.cpp, ...) after
// fused_kernels_impl.h, whose statistics it reuses, and calling the same
// copy's max-pool plane kernels (pool/max_pool_kernels_isa.h).
//
// Why: in the CNN, BN writes y (N,C,H,W) for the max-pool to read, and the
// pool's backward writes a dense dy (N,C,H,W) for BN's backward to read
// twice. Here forward normalises one (n, c) plane into a buffer in L1 and
// pools it from there, writing only the pooled output and a winner byte per
// output (a quarter and a sixteenth of y); backward expands one plane of the
// pooled gradient into that buffer and takes BN's sums and dx from it. Eval
// mode's forward is the same plane loop with the running statistics.
// docs/batchnorm.md has the measurements.
//
// Same results as BatchNorm (+ ReLU) then MaxPool2x2, bit for bit: y comes
// from the same formula (normalized, fused_kernels_terms.h) and is pooled by
// the same plane kernel; the dense dy is what MaxPool2x2's backward writes;
// the sums and dx go through the same loops in the same order.
#include "pool/max_pool_kernels_isa.h"

namespace bnlab::bn::fused::BNLAB_ISA {

namespace pooling = bnlab::pool::max_pool_kernels::BNLAB_ISA;

// The (n, c) planes of channels [c0, c1), n outer, as body(plane index).
template <typename Body>
inline void over_planes(int64_t N, int64_t C, int64_t c0, int64_t c1, Body&& body) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = c0; c < c1; ++c) body(n * C + c, c);
}

// out, winner (N,C,OH,OW) from x (N,C,H,W), once the statistics are known:
// each plane's y = BN(x) (kRelu: max(0, .); kReluIn: of max(0, x)) into
// plane (its 2*OH rows inside windows), then pooled. kRelu: windows whose
// four values the ReLU all blocked (output 0) get kNoWinner, so that
// backward sends them nothing, as the ReLU's mask would.
template <bool kRelu, bool kReluIn, typename T>
void normalize_pooled(const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W, int64_t c0,
                      int64_t c1, const double* mean, const double* invstd, const T* gamma, const T* beta, T* plane,
                      T* work_t) {
  normalize_coefficients(C, c0, c1, mean, invstd, gamma, beta, work_t);
  const T *hi = work_t, *alpha = work_t + C, *shift = work_t + 2 * C;
  const int64_t OH = H / 2, OW = W / 2, pooled = OH * OW, in_windows = 2 * OH * W;
  over_planes(N, C, c0, c1, [&](int64_t p, int64_t c) {
    const T* in = x + p * H * W;  // (H,W)
    const T h = hi[c], a = alpha[c], b = shift[c];
#pragma omp simd
    for (int64_t i = 0; i < in_windows; ++i) plane[i] = relu_if<kRelu>(normalized<kReluIn>(in[i], h, a, b));
    T* o = out + p * pooled;           // (OH,OW)
    uint8_t* w = winner + p * pooled;  // (OH,OW)
    pooling::pool_plane(plane, o, w, W, OH, OW);
    if constexpr (kRelu)
      for (int64_t i = 0; i < pooled; ++i) w[i] = o[i] == T(0) ? bnlab::pool::kNoWinner : w[i];
  });
}

// normalize_pooled with the ReLU after BN chosen at run time.
template <bool kReluIn, typename T>
void normalize_pooled_relu(bool relu, const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W,
                           int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                           const T* beta, T* plane, T* work_t) {
  if (relu)
    normalize_pooled<true, kReluIn>(x, out, winner, N, C, H, W, c0, c1, mean, invstd, gamma, beta, plane, work_t);
  else
    normalize_pooled<false, kReluIn>(x, out, winner, N, C, H, W, c0, c1, mean, invstd, gamma, beta, plane, work_t);
}

template <bool kReluIn, typename T>
void forward_pooled_of(const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W, int64_t c0,
                       int64_t c1, double eps, const T* gamma, const T* beta, double* mean, double* var, bool relu,
                       T* plane, double* work_d, T* work_t) {
  moments_of<kReluIn>(x, N, C, H * W, c0, c1, mean, var, work_d, work_t);
  double* invstd = work_d + 2 * C;
  for (int64_t c = c0; c < c1; ++c) invstd[c] = 1.0 / sqrt_of(var[c] + eps);
  normalize_pooled_relu<kReluIn>(relu, x, out, winner, N, C, H, W, c0, c1, mean, invstd, gamma, beta, plane, work_t);
}

template <typename T>
void forward_batch_stats_pooled(const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t c0, int64_t c1, double eps, const T* gamma, const T* beta, double* mean,
                                double* var, bool relu, bool relu_input, T* plane, double* work_d, T* work_t) {
  if (relu_input)
    forward_pooled_of<true>(x, out, winner, N, C, H, W, c0, c1, eps, gamma, beta, mean, var, relu, plane, work_d,
                            work_t);
  else
    forward_pooled_of<false>(x, out, winner, N, C, H, W, c0, c1, eps, gamma, beta, mean, var, relu, plane, work_d,
                             work_t);
}

// Eval mode: the statistics given (the running ones), no pass to gather them.
template <typename T>
void forward_fixed_stats_pooled(const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                                const T* beta, bool relu, bool relu_input, T* plane, T* work_t) {
  if (relu_input)
    normalize_pooled_relu<true>(relu, x, out, winner, N, C, H, W, c0, c1, mean, invstd, gamma, beta, plane, work_t);
  else
    normalize_pooled_relu<false>(relu, x, out, winner, N, C, H, W, c0, c1, mean, invstd, gamma, beta, plane, work_t);
}

// Backward: each plane's dy (H,W), the gradient reaching BN, expanded from
// the pooled gradient into plane as MaxPool2x2's backward writes it, then
// BN's gradient sums (grad_sums_masked's loops, one plane at a time: the
// same sums in the same order) and, in a second pass, dx (backward_rows').
template <bool kReluIn, typename T>
void backward_pooled_of(const T* dout, const uint8_t* winner, const T* x, T* dx, int64_t N, int64_t C, int64_t H,
                        int64_t W, int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                        double* sum_dy, double* sum_dy_xhat, bool stream_dx, T* plane, T* work_t) {
  const int64_t S = H * W, OH = H / 2, OW = W / 2, pooled = OH * OW;
  auto dense_dy = [&](int64_t p) {  // (H,W) in plane
    pooling::unpool_plane(dout + p * pooled, winner + p * pooled, plane, H, W, OH, OW);
    return static_cast<const T*>(plane);
  };
  T* hi = work_t;
  start_grad_sums(c0, c1, mean, sum_dy, sum_dy_xhat, hi);
  over_planes(N, C, c0, c1, [&](int64_t p, int64_t c) {
    const T *g = dense_dy(p), *in = x + p * S;
    const T h = hi[c];
    auto grad_terms = [=](int64_t, int64_t i, T& sum_g, T& sum_g_xc) {
      add_grad_terms<kReluIn>(g[i], in[i], h, sum_g, sum_g_xc);
    };
    add_channel_sums<T>(1, 1, S, 0, 1, grad_terms, sum_dy + c, sum_dy_xhat + c, nullptr, nullptr);
  });
  finish_grad_sums(c0, c1, mean, hi, invstd, sum_dy, sum_dy_xhat, [&](int64_t c) {
    ExactGradSums exact;
    for (int64_t n = 0; n < N; ++n) {
      const T *g = dense_dy(n * C + c), *in = x + (n * C + c) * S;
      for (int64_t i = 0; i < S; ++i)
        add_grad_terms<kReluIn>(double(g[i]), double(in[i]), mean[c], exact.g, exact.g_xc);
    }
    return exact;
  });
  backward_coefficients(C, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat, double(N * S), work_t);
  const T *a = work_t + C, *b = work_t + 2 * C, *k = work_t + 3 * C;
  over_planes(N, C, c0, c1, [&](int64_t p, int64_t c) {
    const T *g = dense_dy(p), *in = x + p * S;
    const T hc = hi[c], ac = a[c], bc = b[c], kc = k[c];
    write_row(dx + p * S, S, stream_dx, [=](int64_t i) { return dx_value<kReluIn>(in[i], g[i], hc, ac, bc, kc); });
  });
  if (stream_dx) finish_streaming();
}

template <typename T>
void backward_with_batch_stats_pooled(const T* dout, const uint8_t* winner, const T* x, T* dx, int64_t N, int64_t C,
                                      int64_t H, int64_t W, int64_t c0, int64_t c1, const double* mean,
                                      const double* invstd, const T* gamma, double* sum_dy, double* sum_dy_xhat,
                                      bool stream_dx, bool relu_input, T* plane, double* /*work_d*/, T* work_t) {
  if (relu_input)
    backward_pooled_of<true>(dout, winner, x, dx, N, C, H, W, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat,
                             stream_dx, plane, work_t);
  else
    backward_pooled_of<false>(dout, winner, x, dx, N, C, H, W, c0, c1, mean, invstd, gamma, sum_dy, sum_dy_xhat,
                              stream_dx, plane, work_t);
}

#define BNLAB_INSTANTIATE(T)                                                                                           \
  template void forward_batch_stats_pooled<T>(const T*, T*, uint8_t*, int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                              int64_t, double, const T*, const T*, double*, double*, bool, bool, T*,   \
                                              double*, T*);                                                            \
  template void forward_fixed_stats_pooled<T>(const T*, T*, uint8_t*, int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                              int64_t, const double*, const double*, const T*, const T*, bool, bool,   \
                                              T*, T*);                                                                 \
  template void backward_with_batch_stats_pooled<T>(const T*, const uint8_t*, const T*, T*, int64_t, int64_t, int64_t, \
                                                    int64_t, int64_t, int64_t, const double*, const double*, const T*, \
                                                    double*, double*, bool, bool, T*, double*, T*);
BNLAB_INSTANTIATE(float)
BNLAB_INSTANTIATE(double)
#undef BNLAB_INSTANTIATE

}  // namespace bnlab::bn::fused::BNLAB_ISA
