// bnlab version
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <iostream>

#include "bn/kernels.h"
#include "cli/command.h"
#include "cli/errors.h"
#include "core/allocator.h"
#include "core/blas.h"
#include "core/build_info.h"
#include "core/cpu.h"
#include "core/denormals.h"
#include "core/threads.h"

namespace bnlab::cli {

int run_version(const Args& args) {
  cxxopts::Options parser("bnlab version", "Print versions and runtime settings.");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;

  std::cout << build_description() << "\n"
            << fmt::format("LibTorch {}\n", TORCH_VERSION) << fmt::format("BLAS: {}\n", blas_description())
            << fmt::format("threads: {} (set with --threads N or auto; auto here: {})\n", at::get_num_threads(),
                           parse_thread_count("auto"))
            << fmt::format("denormals: {} (set with --denormals flush|keep)\n", to_name(current_denormals()))
            << fmt::format("transparent huge pages: {}\n", huge_page_description())
            << fmt::format("CPU: {}\n", cpu_description())
            << fmt::format("kernel copy: {} (this CPU runs {}; BNLAB_ISA forces one)\n", to_name(active_isa()),
                           supported_isa_list());
  return kExitOk;
}

}  // namespace bnlab::cli
