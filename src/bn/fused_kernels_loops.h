// The loops every fused BatchNorm kernel is made of (fused_kernels_impl.h):
// output writes (plain or streaming), rows of few channels tiled into long
// ones, per-channel sums over runs of
// independent lanes, the fused ReLU's mask (ReLU after BN) and the fused
// ReLU before BN. Compiled into each ISA copy
// of the kernels, inside that copy's namespace; free of LibTorch for the
// reason given in fused_kernels_impl.h.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>  // streaming stores (always-inlined intrinsics)
#endif

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::bn::fused::BNLAB_ISA {

inline int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
inline double sqrt_of(double v) { return __builtin_sqrt(v); }

// a * b + c, rounded once in the copies with FMA instructions. Spelled out
// where variants of one loop must round alike: left to the compiler, the
// contraction of a*g + b*t + k into FMAs came out differently in the loop
// with a ReLU before BN than in the plain one (dx an ulp apart).
template <typename T>
inline T fma_of(T a, T b, T c) {
#if defined(__FMA__)
  if constexpr (sizeof(T) == sizeof(float))
    return __builtin_fmaf(a, b, c);
  else
    return __builtin_fma(a, b, c);
#else
  return a * b + c;
#endif
}

// ---- output writes --------------------------------------------------------------
// Copies bytes from a buffer in L1 to dst with non-temporal stores: they skip
// reading each output line before writing it, and do not push the input's
// lines (wanted again by the second pass over a channel) out of the caches.
// Only whole 64-byte lines are streamed; the bytes before the first line
// boundary and after the last go out as plain stores. A line written partly
// by streaming stores and partly by plain ones (a (N,C,S) row's first and
// last lines, shared with the rows beside it) leaves its write-combining
// buffer half full, and the part goes to memory as a partial write: the
// AVX2 copy, aligning its 32-byte stores to 32 bytes, did so at both ends of
// every row, and its dx pass over (256,32,26,26) took 1.4x the AVX-512 copy's.
inline void stream_bytes(void* dst, const void* src, int64_t bytes) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  constexpr int64_t kLine = 64;
#if defined(__AVX512F__)
  constexpr int64_t kWidth = 64;
#elif defined(__AVX2__)
  constexpr int64_t kWidth = 32;
#elif defined(__SSE2__)
  constexpr int64_t kWidth = 16;
#else
  constexpr int64_t kWidth = 0;
#endif
  if constexpr (kWidth > 0) {
    const int64_t head = min_of(bytes, (kLine - int64_t(reinterpret_cast<uintptr_t>(d) % kLine)) % kLine);
    std::memcpy(d, s, size_t(head));
    d += head, s += head, bytes -= head;
    for (; bytes >= kLine; bytes -= kLine, d += kLine, s += kLine)
      for (int64_t j = 0; j < kLine; j += kWidth) {
#if defined(__AVX512F__)
        _mm512_stream_si512(reinterpret_cast<__m512i*>(d + j), _mm512_loadu_si512(s + j));
#elif defined(__AVX2__)
        _mm256_stream_si256(reinterpret_cast<__m256i*>(d + j),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + j)));
#elif defined(__SSE2__)
        _mm_stream_si128(reinterpret_cast<__m128i*>(d + j), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + j)));
#endif
      }
  }
  std::memcpy(d, s, size_t(bytes));
}

// Makes the streaming stores visible before the kernel returns (they are
// weakly ordered; the caller's threads synchronise only through ordinary memory).
inline void finish_streaming() {
#if defined(__AVX2__) || defined(__SSE2__)
  _mm_sfence();
#endif
}

// out[i] = value(i) for i < count: plain stores, or (stream) computed into an
// L1 buffer a page at a time and streamed out (see stream_bytes). Streaming
// pays only for outputs too large to stay in cache; the caller decides.
// value is taken by value and captures by value: a value(i) that also stores
// bytes (the ReLU mask) could otherwise, as far as the compiler can tell,
// overwrite the captured pointers, which are then reloaded after every store
// and the loop is not vectorised ((4096,512) BN+ReLU took 21 ms, not 2.7).
template <typename T, typename Value>
inline void write_row(T* out, int64_t count, bool stream, Value value) {
  if (!stream) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = value(i);
    return;
  }
  constexpr int64_t kBuffer = 4096 / sizeof(T);
  alignas(64) T buffer[kBuffer];
  for (int64_t i0 = 0; i0 < count; i0 += kBuffer) {
    const int64_t n = min_of(kBuffer, count - i0);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) buffer[i] = value(i0 + i);
    stream_bytes(out + i0, buffer, n * int64_t(sizeof(T)));
  }
}

// ---- few channels ----------------------------------------------------------------
// S == 1 rows are C values long: with few channels a row at a time leaves the
// vector loops a handful of iterations, and streamed outputs go out in
// pieces of one cache line ((100352,16) BN+ReLU took 5x native's time). When
// a call covers every channel, consecutive rows are contiguous, so a block of
// rows is one long row with the per-channel values tiled to its width.
constexpr int64_t kTileValues = 512;

// Rows per block: 1 (a row at a time) unless [c0, c1) is every channel and a
// row is at most half a tile.
inline int64_t rows_per_tile(int64_t C, int64_t c0, int64_t c1) {
  return c0 == 0 && c1 == C && 2 * C <= kTileValues ? kTileValues / C : 1;
}

// tiled[r * C + c] = per_channel[c] for the `rows` rows of a block.
template <typename T>
void tile_channels(const T* per_channel, int64_t C, int64_t rows, T* tiled) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) tiled[r * C + c] = per_channel[c];
}

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
constexpr int64_t kRowsPerStep = 4;      // S == 1: rows summed in registers per sweep of the run sums

// The sum of kLanes<T> lane totals, in double, as a tree: lanes of the four
// registers added pairwise in T (two more roundings), then a tree in double.
// A left-to-right double sum of 32 lanes is a 32-add dependency chain, which
// cost more per (n, c) row of a 26x26 image than the row's own arithmetic.
template <typename T>
inline double sum_lanes(T* lanes) {
  constexpr int kVec = kLanes<T> / 4;
  double tree[kVec];
  for (int j = 0; j < kVec; ++j)
    tree[j] = double((lanes[j] + lanes[j + kVec]) + (lanes[j + 2 * kVec] + lanes[j + 3 * kVec]));
  for (int width = kVec / 2; width >= 1; width /= 2)
    for (int j = 0; j < width; ++j) tree[j] += tree[j + width];
  return tree[0];
}

// total_a[c] += sum of the a-terms, total_b[c] += sum of the b-terms over
// every value of each channel c in [c0, c1); terms(c, k, a, b) adds the
// terms of value k (flat index into the (N, C, S) tensor) into a and b.
// S > 1: along each (n, c) row, over kLanes<T> lanes; S == 1: channels across
// the vector, runs of kRowsPerRun rows summed in run_a / run_b (C values of T
// each), then folded into the double totals. Each sweep over run_a / run_b
// adds kRowsPerStep rows summed in registers: loading and storing the run
// sums for every row cost more than the row's own arithmetic ((4096,512):
// moments 0.38 -> 0.18 ms, gradient sums 0.58 -> 0.52 ms).
template <typename T, typename Terms>
void add_channel_sums(int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, Terms terms, double* total_a,
                      double* total_b, T* run_a, T* run_b) {
  if (S > 1) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t base = (n * C + c) * S;
        T la[kLanes<T>] = {}, lb[kLanes<T>] = {};
        int64_t i = 0;
        for (; i + kLanes<T> <= S; i += kLanes<T>)
          for (int j = 0; j < kLanes<T>; ++j) terms(c, base + i + j, la[j], lb[j]);
        for (int j = 0; i < S; ++i, ++j) terms(c, base + i, la[j], lb[j]);
        total_a[c] += sum_lanes(la);
        total_b[c] += sum_lanes(lb);
      }
    return;
  }
  // The rows of a sweep are n, n + part, n + 2 part, ...: each of the
  // kRowsPerStep row sequences is then one long sequential stream, which the
  // prefetchers follow. Neighbouring rows n, n + 1, ... make every stream jump
  // after one row: 1.7x slower than one row per sweep on (16384,512), whose
  // tensors come from DRAM.
  auto fold_run = [=] {
#pragma omp simd
    for (int64_t c = c0; c < c1; ++c) {
      total_a[c] += double(run_a[c]);
      total_b[c] += double(run_b[c]);
      run_a[c] = run_b[c] = 0;
    }
  };
  for (int64_t c = c0; c < c1; ++c) run_a[c] = run_b[c] = 0;
  const int64_t part = N / kRowsPerStep;
  constexpr int64_t kStepsPerRun = kRowsPerRun / kRowsPerStep;
  for (int64_t n0 = 0; n0 < part; n0 += kStepsPerRun) {
    for (int64_t n = n0; n < min_of(part, n0 + kStepsPerRun); ++n) {
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        T a = 0, b = 0;
        for (int64_t r = 0; r < kRowsPerStep; ++r) terms(c, (n + r * part) * C + c, a, b);
        run_a[c] += a;
        run_b[c] += b;
      }
    }
    fold_run();
  }
  for (int64_t n = kRowsPerStep * part; n < N; ++n) {  // the last N % kRowsPerStep rows
#pragma omp simd
    for (int64_t c = c0; c < c1; ++c) terms(c, n * C + c, run_a[c], run_b[c]);
  }
  fold_run();
}

// ---- fused ReLU ---------------------------------------------------------------
// BN followed by a ReLU (kRelu): forward writes max(z, 0) and a byte per
// value saying whether the ReLU passed z; backward takes dy where it did and
// 0 elsewhere, the gradient reaching BN. As torch::relu and its backward
// (threshold_backward on the output, blocking where output <= 0): a NaN z
// passes, -0 and 0 are blocked.

// The value written for z, recording the mask byte mask[i] (kRelu).
template <bool kRelu, typename T>
inline T activate(T z, uint8_t* mask, int64_t i) {
  if constexpr (kRelu) {
    const bool passed = !(z <= T(0));
    mask[i] = passed;
    return passed ? z : T(0);
  } else {
    return z;
  }
}

// ---- fused ReLU before BN ------------------------------------------------------
// A ReLU followed by BN (kReluIn): the kernels read x, the ReLU's input, and
// normalise max(0, x) without writing it out; backward passes BN's dx where
// the ReLU passed x and writes 0 elsewhere. As torch::relu and its backward:
// a NaN x passes, -0 and 0 are blocked.

// The unsigned integer type as wide as T.
template <typename T>
struct BitsOf;
template <>
struct BitsOf<float> {
  using type = uint32_t;
};
template <>
struct BitsOf<double> {
  using type = uint64_t;
};

// v where the ReLU passes x (!(x <= 0): NaN passes), +0 where it blocks,
// by ANDing v's bits with all ones or all zeros: written as `x <= 0 ? 0 :
// v`, GCC's AVX2 copy compiled the dx loop of BN with the ReLU before it to
// scalar code with a branch per value ((256,32,26,26) 1.43x native; the
// AVX-512 copy, with its mask registers, vectorised it).
template <typename T>
inline T where_relu_passes(T x, T v) {
  using U = typename BitsOf<T>::type;
  return __builtin_bit_cast(T, __builtin_bit_cast(U, v) & (U(0) - U(!(x <= T(0)))));
}

// max(0, x) by torch::relu's rule (kOn), else x.
template <bool kOn, typename T>
inline T relu_if(T x) {
  if constexpr (kOn)
    return where_relu_passes(x, x);
  else
    return x;
}

// The value BN reads at x: max(0, x) (kReluIn), else x.
template <bool kReluIn, typename T>
inline T bn_input(T x) {
  return relu_if<kReluIn>(x);
}

// The gradient reaching x given BN's gradient dx at max(0, x) (kReluIn).
template <bool kReluIn, typename T>
inline T through_input_relu(T x, T dx) {
  if constexpr (kReluIn)
    return where_relu_passes(x, dx);
  else
    return dx;
}

// The gradient reaching BN at i: dy[i], or (kRelu) dy[i] where the ReLU passed
// and +0 where it did not. Selected by ANDing dy's bits with all ones or all
// zeros (mask bytes are 0 or 1): GCC if-converts a `mask[i] ? dy[i] : 0`
// only sometimes, and the four-row sums of add_channel_sums then ran as
// scalar code with a branch per value ((4096,512) BN+ReLU: 3x native).
template <bool kRelu, typename T>
inline T grad_in(const T* dy, const uint8_t* mask, int64_t i) {
  if constexpr (kRelu) {
    using U = typename BitsOf<T>::type;
    return __builtin_bit_cast(T, __builtin_bit_cast(U, dy[i]) & (U(0) - U(mask[i])));
  } else {
    return dy[i];
  }
}

}  // namespace bnlab::bn::fused::BNLAB_ISA
