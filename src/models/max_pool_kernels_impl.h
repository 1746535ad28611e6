// The 2x2 max-pooling loops, compiled once per instruction set
// (max_pool_kernels_avx2.cpp, max_pool_kernels_portable.cpp define BNLAB_ISA
// first); free of LibTorch for the reason given in bn/fused_kernels_impl.h.
#include <cstdint>

#include "models/max_pool_kernels_isa.h"

namespace bnlab::models::max_pool_kernels::BNLAB_ISA {

// Rows are short (13 outputs on 26x26 images), so a plain vector loop would
// spend half its time in its scalar remainder. Each row is done in chunks of
// one vector of outputs, the last one through a zero-padded copy, so every
// output goes through the vector code.
#if defined(__AVX512F__)
constexpr int64_t kVectorBytes = 64;
#else
constexpr int64_t kVectorBytes = 32;  // AVX2's; the portable copy keeps its chunking
#endif
template <typename T>
constexpr int64_t kChunk = kVectorBytes / sizeof(T);  // outputs per vector

// count outputs of one row pair: out = max over each 2x2 window, winner = the
// window position of the value taken (0 top-left, 1 top-right, 2 bottom-left,
// 3 bottom-right). A candidate replaces the best so far when larger or NaN,
// ATen's rule. Selects, not branches: on real activations the comparisons
// are coin flips.
template <typename T>
inline void pool_windows(const T* top, const T* bottom, T* out, uint8_t* winner, int64_t count) {
#pragma omp simd
  for (int64_t ow = 0; ow < count; ++ow) {
    const T a = top[2 * ow], b = top[2 * ow + 1], c = bottom[2 * ow], d = bottom[2 * ow + 1];
    // The winner's place is carried as a T: every lane the same width (an
    // int here made GCC's code 2.5x slower).
    T best = a, at = 0;
    const bool takes_b = (b > best) | (b != b);
    best = takes_b ? b : best;
    at = takes_b ? T(1) : at;
    const bool takes_c = (c > best) | (c != c);
    best = takes_c ? c : best;
    at = takes_c ? T(2) : at;
    const bool takes_d = (d > best) | (d != d);
    best = takes_d ? d : best;
    at = takes_d ? T(3) : at;
    out[ow] = best;
    winner[ow] = uint8_t(int32_t(at));
  }
}

// count outputs' gradients to their row pair: dy at each window's winner, 0 elsewhere.
template <typename T>
inline void unpool_windows(const T* dy, const uint8_t* winner, T* top, T* bottom, int64_t count) {
#pragma omp simd
  for (int64_t ow = 0; ow < count; ++ow) {
    // The winner as a T (see pool_windows), and dy loaded unconditionally:
    // "cond ? dy[ow] : 0" reads to GCC as a masked load, which it would not vectorise.
    const T at = T(int32_t(winner[ow])), g = dy[ow];
    top[2 * ow] = at == T(0) ? g : T(0);
    top[2 * ow + 1] = at == T(1) ? g : T(0);
    bottom[2 * ow] = at == T(2) ? g : T(0);
    bottom[2 * ow + 1] = at == T(3) ? g : T(0);
  }
}

// One plane: y (OH,OW) and winner (OH,OW) from x (H,W).
template <typename T>
void pool_plane(const T* x, T* y, uint8_t* winner, int64_t W, int64_t OH, int64_t OW) {
  constexpr int64_t kN = kChunk<T>;
  const int64_t whole = OW - OW % kN, rest = OW - whole;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* top = x + 2 * oh * W;
    const T* bottom = top + W;
    T* out = y + oh * OW;
    uint8_t* out_winner = winner + oh * OW;
    for (int64_t ow = 0; ow < whole; ow += kN) pool_windows(top + 2 * ow, bottom + 2 * ow, out + ow, out_winner + ow, kN);
    if (rest == 0) continue;
    T top_pad[2 * kN] = {}, bottom_pad[2 * kN] = {}, out_pad[kN];
    uint8_t winner_pad[kN];
    for (int64_t i = 0; i < 2 * rest; ++i) {
      top_pad[i] = top[2 * whole + i];
      bottom_pad[i] = bottom[2 * whole + i];
    }
    pool_windows(top_pad, bottom_pad, out_pad, winner_pad, kN);
    for (int64_t i = 0; i < rest; ++i) {
      out[whole + i] = out_pad[i];
      out_winner[whole + i] = winner_pad[i];
    }
  }
}

// One plane: dx (H,W) from dy (OH,OW) and winner; 0 also on the last
// row/column an odd H/W leaves out of every window.
template <typename T>
void unpool_plane(const T* dy, const uint8_t* winner, T* dx, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  constexpr int64_t kN = kChunk<T>;
  const int64_t whole = OW - OW % kN, rest = OW - whole;
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* top = dx + 2 * oh * W;
    T* bottom = top + W;
    const T* g = dy + oh * OW;
    const uint8_t* at = winner + oh * OW;
    for (int64_t ow = 0; ow < whole; ow += kN) unpool_windows(g + ow, at + ow, top + 2 * ow, bottom + 2 * ow, kN);
    if (rest > 0) {
      T g_pad[kN] = {}, top_pad[2 * kN], bottom_pad[2 * kN];
      uint8_t at_pad[kN] = {};
      for (int64_t i = 0; i < rest; ++i) {
        g_pad[i] = g[whole + i];
        at_pad[i] = at[whole + i];
      }
      unpool_windows(g_pad, at_pad, top_pad, bottom_pad, kN);
      for (int64_t i = 0; i < 2 * rest; ++i) {
        top[2 * whole + i] = top_pad[i];
        bottom[2 * whole + i] = bottom_pad[i];
      }
    }
    if (W % 2) top[W - 1] = bottom[W - 1] = T(0);
  }
  if (H % 2)
    for (int64_t w = 0; w < W; ++w) dx[(H - 1) * W + w] = T(0);
}

template void pool_plane<float>(const float*, float*, uint8_t*, int64_t, int64_t, int64_t);
template void pool_plane<double>(const double*, double*, uint8_t*, int64_t, int64_t, int64_t);
template void unpool_plane<float>(const float*, const uint8_t*, float*, int64_t, int64_t, int64_t, int64_t);
template void unpool_plane<double>(const double*, const uint8_t*, double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace bnlab::models::max_pool_kernels::BNLAB_ISA
