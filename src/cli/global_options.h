#pragma once
#include <string>
#include <vector>

#include "cli/cxxopts.h"

namespace bnlab::cli {

// Options every command accepts (also before the command name):
//   --threads N            LibTorch and OpenBLAS threads (default 1; see core/threads.h)
//   --denormals flush|keep denormal floats flushed to zero (default) or kept
//                          (core/denormals.h)
void add_global_options(cxxopts::Options& options);
// Their names as typed, "--threads" and "--denormals" (each takes a value).
const std::vector<std::string>& global_options_with_values();
void apply_global_options(const cxxopts::ParseResult& result);

}  // namespace bnlab::cli
