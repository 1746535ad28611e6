#pragma once
#include <string>

namespace bnlab {

// Measured on the 2-core machines bnlab targets: LibTorch defaults to one
// intra-op thread, and two threads made small-batch training 3-20x slower
// because OpenMP and OpenBLAS threads compete. So 1 is the default, and the
// count is always set explicitly for both pools.
constexpr int kDefaultThreads = 1;

// What `--threads auto` picks: half the hardware threads, shared among the
// processes of a data-parallel job on this host, at least 1. Half, because
// LibTorch's OpenMP pool and OpenBLAS's pthreads each take a thread per
// worker and oversubscribe the cores otherwise; on the 2-core machines bnlab
// is measured on that gives 1, the fastest setting for every training
// benchmark there (bnlab bench train). Larger machines are not measured here.
int auto_thread_count(int hardware_threads, int local_processes);

// "auto" (auto_thread_count for this machine, with LOCAL_WORLD_SIZE as the
// number of local processes, as torchrun and bnlab launch set it) or a
// positive integer. Throws std::invalid_argument naming the value.
int parse_thread_count(const std::string& text);

// Sets LibTorch's intra-op threads and OpenBLAS's threads to `threads`
// (OPENBLAS_NUM_THREADS too, for child processes).
void apply_thread_count(int threads);

}  // namespace bnlab
