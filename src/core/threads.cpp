#include "core/threads.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/blas.h"
#include "core/text.h"

namespace bnlab {

int auto_thread_count(int hardware_threads, int local_processes) {
  return std::max(1, hardware_threads / (2 * std::max(1, local_processes)));
}

int parse_thread_count(const std::string& text) {
  if (text == "auto") {
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int processes = local ? std::max<int64_t>(1, parse_int(local, "LOCAL_WORLD_SIZE")) : 1;
    return auto_thread_count(int(std::thread::hardware_concurrency()), processes);
  }
  const int64_t threads = parse_int(text, "--threads");
  if (threads < 1 || threads > 1024)
    throw std::invalid_argument("--threads must be \"auto\" or 1..1024, got " + text);
  return int(threads);
}

void apply_thread_count(int threads) {
  at::set_num_threads(threads);
  setenv("OPENBLAS_NUM_THREADS", std::to_string(threads).c_str(), 1);
  // OpenBLAS read OPENBLAS_NUM_THREADS when it was loaded, before main():
  // the running library is adjusted through its own API.
  if (auto set_blas_threads = reinterpret_cast<void (*)(int)>(blas_function("openblas_set_num_threads")))
    set_blas_threads(threads);
}

}  // namespace bnlab
