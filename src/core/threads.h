#pragma once
#include <string>

namespace bnlab {

// Measured on the 2-core machines bnlab targets: LibTorch defaults to one
// intra-op thread, and two threads made small-batch training 3-20x slower
// because OpenMP and OpenBLAS threads compete. So 1 is the default, and the
// count is always set explicitly for both pools.
constexpr int kDefaultThreads = 1;

// Sets LibTorch's intra-op threads and OpenBLAS's threads to `threads`
// (OPENBLAS_NUM_THREADS too, for child processes).
void apply_thread_count(int threads);

// "OpenBLAS 0.3.21 ... (pthread)" when OpenBLAS serves BLAS calls, otherwise
// a warning that the slow reference BLAS is in use.
std::string blas_description();

}  // namespace bnlab
