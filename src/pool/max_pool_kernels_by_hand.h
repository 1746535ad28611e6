// The 2x2 max-pool's float rows written with intrinsics, for the AVX2 and
// AVX-512 copies of max_pool_kernels_impl.h (included there; the functions live in
// the copy's namespace, so each copy has its own); defines
// BNLAB_POOL_BY_HAND to 1 where a copy has them, 0 elsewhere (the portable
// copy).
//
// Why by hand: GCC compiles pool_windows (max_pool_kernels_impl.h) for
// 13-output rows (the CNN's 26x26 images) into 128-bit code with byte
// blends, ~7 cycles an output. max_pool_2x2 forward / backward on
// (128,32,26,26), 1 thread, Intel Xeon family 6 model 207 (medians of 300
// calls): AVX-512 copy 2.06 / 2.01 ms compiled, 0.51 / 0.72 by hand; AVX2
// copy (forced) 2.52 / 2.66 compiled, 0.80 / 0.66 by hand, 0.71 / 0.67
// once the winners were packed with fewer shuffles, 0.64 / 0.68 with the
// winner as a max (docs/training.md).
//
// A forward call does n <= kWindows windows of a row pair: the 2n values of
// each input row are loaded as vectors and split into even and odd columns
// (a, b on the top row, c, d below), the winner is chosen with the
// comparisons of pool_windows (larger, or NaN, replaces the best so far, in
// the order a, b, c, d), so the winners are the same. The backward
// (unpool_row, a whole row) sends dy to the winner and 0 to the other three.
// Lanes past n are neither read nor written: AVX-512's masked loads and
// stores; in the AVX2 copy masked loads, and stores of whole vectors,
// halves, pairs and single values (store_first), as AVX2's masked stores are
// microcoded on AMD's Zen cores (published instruction tables); the winner
// bytes of a part row through a register.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__AVX2__)
#define BNLAB_POOL_BY_HAND 1
#else
#define BNLAB_POOL_BY_HAND 0
#endif

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::pool::max_pool_kernels::BNLAB_ISA::by_hand {

// body(first, n) over the windows [0, count) of one row in calls of n <= kN:
// whole vectors, the last one moved back to end at count (overlapping the
// one before; both compute the same outputs from the same inputs), so that
// only rows shorter than a vector take masked loads (and, in the AVX-512
// copy, masked stores).
template <int64_t kN, typename Body>
inline void in_whole_vectors(int64_t count, Body&& body) {
  if (count < kN) return body(0, count);
  for (int64_t first = 0; first < count; first += kN) body(std::min(first, count - kN), kN);
}

#if defined(__AVX512F__)

constexpr int64_t kWindows = 16;

inline __mmask16 first_lanes(int64_t n) { return __mmask16((1u << n) - 1); }  // n <= 16

// out[0, n), winner[0, n) from top[0, 2n) and bottom[0, 2n).
inline void pool(const float* top, const float* bottom, float* out, uint8_t* winner, int64_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __mmask16 low = first_lanes(std::min<int64_t>(2 * n, 16)), high = first_lanes(std::max<int64_t>(2 * n - 16, 0));
  const __m512 top_low = _mm512_maskz_loadu_ps(low, top), top_high = _mm512_maskz_loadu_ps(high, top + 16);
  const __m512 bottom_low = _mm512_maskz_loadu_ps(low, bottom), bottom_high = _mm512_maskz_loadu_ps(high, bottom + 16);
  __m512 best = _mm512_permutex2var_ps(top_low, even, top_high);  // a
  __m512i at = _mm512_setzero_si512();
  auto take = [&](__m512 candidate, int place) {
    const __mmask16 takes =
        _mm512_cmp_ps_mask(candidate, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(candidate, candidate, _CMP_UNORD_Q);
    best = _mm512_mask_mov_ps(best, takes, candidate);
    at = _mm512_mask_mov_epi32(at, takes, _mm512_set1_epi32(place));
  };
  take(_mm512_permutex2var_ps(top_low, odd, top_high), 1);         // b
  take(_mm512_permutex2var_ps(bottom_low, even, bottom_high), 2);  // c
  take(_mm512_permutex2var_ps(bottom_low, odd, bottom_high), 3);   // d
  _mm512_mask_storeu_ps(out, first_lanes(n), best);
  _mm512_mask_cvtepi32_storeu_epi8(winner, first_lanes(n), at);
}

// top[0, 2n) and bottom[0, 2n) from dy[0, n) and winner[0, n).
inline void unpool(const float* dy, const uint8_t* winner, float* top, float* bottom, int64_t n) {
  const __m512i interleave_low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i interleave_high = _mm512_add_epi32(interleave_low, _mm512_set1_epi32(8));
  const __m512 g = _mm512_maskz_loadu_ps(first_lanes(n), dy);
  const __m512i at = _mm512_maskz_cvtepu8_epi32(first_lanes(n), _mm_maskz_loadu_epi8(first_lanes(n), winner));
  auto gradient_at = [&](int place) {  // g where place won, 0 elsewhere
    return _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_set1_epi32(place)), g);
  };
  const __mmask16 low = first_lanes(std::min<int64_t>(2 * n, 16)), high = first_lanes(std::max<int64_t>(2 * n - 16, 0));
  const __m512 a = gradient_at(0), b = gradient_at(1), c = gradient_at(2), d = gradient_at(3);
  _mm512_mask_storeu_ps(top, low, _mm512_permutex2var_ps(a, interleave_low, b));
  _mm512_mask_storeu_ps(top + 16, high, _mm512_permutex2var_ps(a, interleave_high, b));
  _mm512_mask_storeu_ps(bottom, low, _mm512_permutex2var_ps(c, interleave_low, d));
  _mm512_mask_storeu_ps(bottom + 16, high, _mm512_permutex2var_ps(c, interleave_high, d));
}

// A whole row of n windows, in_whole_vectors.
inline void unpool_row(const float* dy, const uint8_t* winner, float* top, float* bottom, int64_t n) {
  in_whole_vectors<kWindows>(n,
                             [&](int64_t w, int64_t m) { unpool(dy + w, winner + w, top + 2 * w, bottom + 2 * w, m); });
}

#elif defined(__AVX2__)

constexpr int64_t kWindows = 8;

inline __m256i first_lanes(int64_t n) {  // n <= 8: all ones in lanes [0, n)
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Columns 0, 2, ..., 14 (even) or 1, 3, ..., 15 of the 16 values low, high,
// in the order a shuffle within 128-bit lanes leaves them: windows 0 1 4 5
// | 2 3 6 7. Every column comes out in that order, so the comparisons pair
// the same windows; in_window_order puts the results right, once per call
// rather than once per column.
inline __m256 columns(__m256 low, __m256 high, bool odd) {
  return odd ? _mm256_shuffle_ps(low, high, _MM_SHUFFLE(3, 1, 3, 1))
             : _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
}

// Windows 0 1 4 5 | 2 3 6 7 (columns' order) -> 0 ... 7: the 64-bit quarters reordered.
inline __m256 in_window_order(__m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Stores the first k < 8 values of v at to[0, k): halves, then 2 and 1
// values, no masked stores.
inline void store_first(float* to, __m256 v, int64_t k) {
  __m128 part = _mm256_castps256_ps128(v);
  if (k & 4) {
    _mm_storeu_ps(to, part);
    part = _mm256_extractf128_ps(v, 1), to += 4;
  }
  if (k & 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(to), part);
    part = _mm_movehl_ps(part, part), to += 2;
  }
  if (k & 1) _mm_store_ss(to, part);
}

// out[0, n), winner[0, n) from top[0, 2n) and bottom[0, 2n).
inline void pool(const float* top, const float* bottom, float* out, uint8_t* winner, int64_t n) {
  const bool whole = n == kWindows;  // plain loads and stores (see in_whole_vectors)
  const __m256i low = first_lanes(std::min<int64_t>(2 * n, 8)), high = first_lanes(std::max<int64_t>(2 * n - 8, 0));
  const __m256 top_low = whole ? _mm256_loadu_ps(top) : _mm256_maskload_ps(top, low);
  const __m256 top_high = whole ? _mm256_loadu_ps(top + 8) : _mm256_maskload_ps(top + 8, high);
  const __m256 bottom_low = whole ? _mm256_loadu_ps(bottom) : _mm256_maskload_ps(bottom, low);
  const __m256 bottom_high = whole ? _mm256_loadu_ps(bottom + 8) : _mm256_maskload_ps(bottom + 8, high);
  __m256 best = columns(top_low, top_high, false);  // a
  __m256i at = _mm256_setzero_si256();
  // The places taken rise (b 1, c 2, d 3), so the last candidate that took
  // is the largest place among those that took: a max, not a blend (3 uops
  // on Intel's cores). With this and the byte gathering below, a 26x26
  // plane in L1 pools in 124 ns, was 138 (Intel Xeon family 6 model 207,
  // this copy forced; the AVX-512 copy's 63).
  auto take = [&](__m256 candidate, int place) {
    const __m256 takes =
        _mm256_or_ps(_mm256_cmp_ps(candidate, best, _CMP_GT_OQ), _mm256_cmp_ps(candidate, candidate, _CMP_UNORD_Q));
    best = _mm256_blendv_ps(best, candidate, takes);
    at = _mm256_max_epi32(at, _mm256_and_si256(_mm256_castps_si256(takes), _mm256_set1_epi32(place)));
  };
  take(columns(top_low, top_high, true), 1);         // b
  take(columns(bottom_low, bottom_high, false), 2);  // c
  take(columns(bottom_low, bottom_high, true), 3);   // d
  // The 8 winners (0..3) as bytes, from columns' order: each 128-bit lane's
  // 4 low bytes gathered (windows 0 1 4 5 | 2 3 6 7), then the lanes'
  // byte pairs interleaved (0 1 2 3 4 5 6 7). With two extracts and a
  // shift here, and the columns reordered each, (128,32,26,26) forward
  // took 0.80 ms (Intel Xeon family 6 model 207 with this copy forced,
  // medians of 300 calls); docs/training.md has the figures since.
  best = in_window_order(best);
  const __m256i low_bytes =
      _mm256_shuffle_epi8(at, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                               0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  const __m128i side_by_side =
      _mm_unpacklo_epi16(_mm256_castsi256_si128(low_bytes), _mm256_extracti128_si256(low_bytes, 1));
  if (whole) {
    _mm256_storeu_ps(out, best);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(winner), side_by_side);
    return;
  }
  store_first(out, best, n);
  uint64_t packed = uint64_t(_mm_cvtsi128_si64(side_by_side));
  for (int64_t i = 0; i < n; ++i, packed >>= 8) winner[i] = uint8_t(packed);
}

// top[0, 2n) and bottom[0, 2n) from dy[0, n) and winner[0, n), n >= 0:
// four windows at a time, each window's gradient and winner put in the two
// lanes of its columns (one permute each), then compared with the place
// each lane stands for; the last 1-3 windows through store_first.
inline void unpool_row(const float* dy, const uint8_t* winner, float* top, float* bottom, int64_t n) {
  const __m256i pairs = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  const __m256i top_places = _mm256_setr_epi32(0, 1, 0, 1, 0, 1, 0, 1);
  const __m256i bottom_places = _mm256_add_epi32(top_places, _mm256_set1_epi32(2));
  auto write = [&](int64_t w, __m128 g4, uint32_t winners4, int64_t k) {  // windows [w, w + k), k <= 4
    const __m256 g = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(g4), pairs);
    const __m256i at = _mm256_permutevar8x32_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi32_si128(int(winners4))), pairs);
    const __m256 to_top = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(at, top_places)));
    const __m256 to_bottom = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(at, bottom_places)));
    if (k == 4) {
      _mm256_storeu_ps(top + 2 * w, to_top);
      _mm256_storeu_ps(bottom + 2 * w, to_bottom);
    } else {
      store_first(top + 2 * w, to_top, 2 * k);
      store_first(bottom + 2 * w, to_bottom, 2 * k);
    }
  };
  int64_t w = 0;
  for (; w + 4 <= n; w += 4) {
    uint32_t winners4;
    std::memcpy(&winners4, winner + w, 4);
    write(w, _mm_loadu_ps(dy + w), winners4, 4);
  }
  if (w == n) return;
  const int64_t k = n - w;
  uint32_t winners_k = 0;  // the last k winner bytes, not read past the row's end
  for (int64_t i = k - 1; i >= 0; --i) winners_k = winners_k << 8 | winner[w + i];
  const __m128i first_k = _mm_cmpgt_epi32(_mm_set1_epi32(int(k)), _mm_setr_epi32(0, 1, 2, 3));
  write(w, _mm_maskload_ps(dy + w, first_k), winners_k, k);
}

#endif

#if BNLAB_POOL_BY_HAND
// A whole row of n windows, in_whole_vectors.
inline void pool_row(const float* top, const float* bottom, float* out, uint8_t* winner, int64_t n) {
  in_whole_vectors<kWindows>(n,
                             [&](int64_t w, int64_t m) { pool(top + 2 * w, bottom + 2 * w, out + w, winner + w, m); });
}
#endif

}  // namespace bnlab::pool::max_pool_kernels::BNLAB_ISA::by_hand
