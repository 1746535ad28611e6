#include "core/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/text.h"

namespace bnlab {
namespace {

// OpenBLAS reads OPENBLAS_NUM_THREADS when it is loaded, before main(), so the
// running library is adjusted through its own API, found at run time because
// LibTorch links the generic libblas.so.3 that Debian's alternatives resolve.
template <typename Fn>
Fn find_blas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

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
  if (auto set_blas_threads = find_blas_symbol<void (*)(int)>("openblas_set_num_threads"))
    set_blas_threads(threads);
}

std::string blas_description() {
  if (auto config = find_blas_symbol<char* (*)()>("openblas_get_config")) {
    std::string text = config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
    if (auto get_threads = find_blas_symbol<int (*)()>("openblas_get_num_threads"))
      text += ", " + std::to_string(get_threads()) + " thread(s)";
    return text;
  }
  return "reference BLAS (slow: install libopenblas0-pthread, see scripts/setup.sh)";
}

}  // namespace bnlab
