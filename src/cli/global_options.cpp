#include "cli/global_options.h"

#include <fmt/format.h>

#include "cli/errors.h"
#include "core/denormals.h"
#include "core/threads.h"

namespace bnlab::cli {

const std::vector<std::string>& global_options_with_values() {
  static const std::vector<std::string> names = {"--threads", "--denormals"};
  return names;
}

void add_global_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Global")
      ("threads", "LibTorch and OpenBLAS threads, or auto (half the cores, shared among a job's local "
                  "ranks: 1 on 2-core machines, where 2 slowed small-batch training 3-20x)",
       cxxopts::value<std::string>()->default_value(std::to_string(kDefaultThreads)), "N|auto")
      ("denormals", "flush: denormal floats become zero (FTZ/DAZ; Intel cores take ~100 cycles per "
                    "denormal: keras-mlp 0.61 -> 0.51 ms/step), or keep them (IEEE 754; what verify does "
                    "unless told)",
       cxxopts::value<std::string>()->default_value(to_name(Denormals::kFlush)), "flush|keep")
      ("h,help", "Show this help");
  // clang-format on
}

void apply_global_options(const cxxopts::ParseResult& result) {
  try {
    apply_thread_count(parse_thread_count(result["threads"].as<std::string>()));
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  const auto denormals_text = result["denormals"].as<std::string>();
  const auto denormals = from_name<Denormals>(denormals_text);
  if (!denormals) throw UsageError("--denormals must be flush or keep, got \"" + denormals_text + "\"");
  set_denormals(*denormals);
}

}  // namespace bnlab::cli
