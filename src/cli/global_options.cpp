#include "cli/global_options.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/threads.h"

namespace bnlab::cli {

void add_global_options(cxxopts::Options& options) {
  options.add_options("Global")
      ("threads", "LibTorch and OpenBLAS threads. More than 1 slows small-batch training on "
                  "2-core machines (measured 3-20x)",
       cxxopts::value<int>()->default_value(std::to_string(kDefaultThreads)), "N")
      ("h,help", "Show this help");
}

void apply_global_options(const cxxopts::ParseResult& result) {
  const int threads = result["threads"].as<int>();
  if (threads < 1) throw UsageError(fmt::format("--threads must be at least 1, got {}", threads));
  apply_thread_count(threads);
}

}  // namespace bnlab::cli
