#include "cli/global_options.h"

#include <fmt/format.h>

#include "cli/errors.h"
#include "core/threads.h"

namespace bnlab::cli {

void add_global_options(cxxopts::Options& options) {
  options.add_options("Global")
      ("threads", "LibTorch and OpenBLAS threads, or auto (half the cores, shared among a job's local "
                  "ranks: 1 on 2-core machines, where 2 slowed small-batch training 3-20x)",
       cxxopts::value<std::string>()->default_value(std::to_string(kDefaultThreads)), "N|auto")
      ("h,help", "Show this help");
}

void apply_global_options(const cxxopts::ParseResult& result) {
  try {
    apply_thread_count(parse_thread_count(result["threads"].as<std::string>()));
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
}

}  // namespace bnlab::cli
