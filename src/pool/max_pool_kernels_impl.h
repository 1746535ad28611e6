// The 2x2 max-pooling loops, compiled once per instruction set
// (max_pool_kernels_avx2.cpp, max_pool_kernels_portable.cpp define BNLAB_ISA
// first); free of LibTorch for the reason given in bn/fused_kernels_impl.h.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "pool/max_pool_kernels_by_hand.h"
#include "pool/max_pool_kernels_isa.h"

namespace bnlab::pool::max_pool_kernels::BNLAB_ISA {

// Rows are short (13 outputs on 26x26 images), so a plain vector loop would
// spend half its time in its scalar remainder. Each row goes through the
// vector code in chunks of outputs (over_row below).
#if defined(__AVX512F__)
constexpr int64_t kVectorBytes = 64;
#else
constexpr int64_t kVectorBytes = 32;  // AVX2's; the portable copy keeps its chunking
#endif
template <typename T>
constexpr int64_t kChunk = kVectorBytes / sizeof(T);  // outputs per vector

// body(first, m) over outputs [0, count) of one row, m a compile-time chunk
// size: whole chunks of kM, then the rest as one more chunk ending at count,
// overlapping the one before (both compute the same outputs from the same
// inputs, so writing them twice is harmless). Needs count >= kM.
template <int64_t kM, typename Body>
inline void chunks_of(int64_t count, Body&& body) {
  int64_t first = 0;
  for (; first + kM <= count; first += kM) body(first, std::integral_constant<int64_t, kM>{});
  if (first < count) body(count - kM, std::integral_constant<int64_t, kM>{});
}

// Chunks of one vector of outputs (kChunk), or for rows shorter than that
// the largest power of two that fits, twice. Not a zero-padded copy of the
// tail: its narrow stores followed by a wide load defeat store forwarding
// (with 13-output rows in the AVX-512 copy, no whole chunk at all, one load
// from the pad took 28% of pool_plane). float rows in the AVX2 and AVX-512
// copies go through max_pool_kernels_by_hand.h instead.
template <typename T, typename Body>
inline void over_row(int64_t count, Body&& body) {
  constexpr int64_t kN = kChunk<T>;
  if (count >= kN)
    chunks_of<kN>(count, body);
  else if (kN > 8 && count >= 8)
    chunks_of<8>(count, body);
  else if (count >= 4)
    chunks_of<4>(count, body);
  else if (count >= 2)
    chunks_of<2>(count, body);
  else
    chunks_of<1>(count, body);
}

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

// One row pair's count windows: float rows through the by-hand vectors in
// the copies that have them, every other row through pool_windows in
// over_row's chunks.
template <typename T>
void pool_row(const T* top, const T* bottom, T* out, uint8_t* winner, int64_t count) {
#if BNLAB_POOL_BY_HAND
  if constexpr (std::is_same_v<T, float>) {
    by_hand::pool_row(top, bottom, out, winner, count);
    return;
  }
#endif
  over_row<T>(count, [&](int64_t ow, auto m) {
    pool_windows(top + 2 * ow, bottom + 2 * ow, out + ow, winner + ow, int64_t(m));
  });
}

// The gradients of one row pair from count outputs' dy and winners, chosen as in pool_row.
template <typename T>
void unpool_row(const T* dy, const uint8_t* winner, T* top, T* bottom, int64_t count) {
#if BNLAB_POOL_BY_HAND
  if constexpr (std::is_same_v<T, float>) {
    by_hand::unpool_row(dy, winner, top, bottom, count);
    return;
  }
#endif
  over_row<T>(count, [&](int64_t ow, auto m) {
    unpool_windows(dy + ow, winner + ow, top + 2 * ow, bottom + 2 * ow, int64_t(m));
  });
}

// One plane: y (OH,OW) and winner (OH,OW) from x (H,W).
template <typename T>
void pool_plane(const T* x, T* y, uint8_t* winner, int64_t W, int64_t OH, int64_t OW) {
  for (int64_t oh = 0; oh < OH; ++oh) pool_row(x + 2 * oh * W, x + (2 * oh + 1) * W, y + oh * OW, winner + oh * OW, OW);
}

// One plane: dx (H,W) from dy (OH,OW) and winner; 0 also on the last
// row/column an odd H/W leaves out of every window.
template <typename T>
void unpool_plane(const T* dy, const uint8_t* winner, T* dx, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* top = dx + 2 * oh * W;
    T* bottom = top + W;
    unpool_row(dy + oh * OW, winner + oh * OW, top, bottom, OW);
    if (W % 2) top[W - 1] = bottom[W - 1] = T(0);
  }
  if (H % 2)
    for (int64_t w = 0; w < W; ++w) dx[(H - 1) * W + w] = T(0);
}

template void pool_plane<float>(const float*, float*, uint8_t*, int64_t, int64_t, int64_t);
template void pool_plane<double>(const double*, double*, uint8_t*, int64_t, int64_t, int64_t);
template void unpool_plane<float>(const float*, const uint8_t*, float*, int64_t, int64_t, int64_t, int64_t);
template void unpool_plane<double>(const double*, const uint8_t*, double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace bnlab::pool::max_pool_kernels::BNLAB_ISA
