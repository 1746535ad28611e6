#include "core/blas.h"

#include <dlfcn.h>

#include <cstdlib>

#include "core/cpu.h"

namespace bnlab {
namespace {

// OpenBLAS's Prescott kernels: its fallback for CPUs it does not know.
constexpr const char* kFallbackCore = "Prescott";

// Set when choose_blas_kernels replaced OpenBLAS's fallback: the core it
// chose (process-wide, as OpenBLAS's own choice is).
const char* chosen_core = nullptr;

std::string current_core() {
  auto corename = reinterpret_cast<char* (*)()>(blas_function("openblas_get_corename"));
  return corename ? corename() : "";
}

}  // namespace

void* blas_function(const char* name) { return dlsym(RTLD_DEFAULT, name); }

void choose_blas_kernels() {
  if (std::getenv("OPENBLAS_CORETYPE") || current_core() != kFallbackCore) return;
  const char* core = cpu_supports(Isa::kAvx512) ? "SkylakeX" : cpu_supports(Isa::kAvx2) ? "Haswell" : nullptr;
  // OpenBLAS's selection, rerun: quit clears its choice, init reads
  // OPENBLAS_CORETYPE and sets the kernel table's blocking parameters. Both
  // are exported by every DYNAMIC_ARCH build; no BLAS call has run yet.
  auto quit = reinterpret_cast<void (*)()>(blas_function("gotoblas_dynamic_quit"));
  auto init = reinterpret_cast<void (*)()>(blas_function("gotoblas_dynamic_init"));
  if (!core || !quit || !init) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  quit();
  init();
  if (current_core() != kFallbackCore) chosen_core = core;
}

std::string blas_description() {
  auto config = reinterpret_cast<char* (*)()>(blas_function("openblas_get_config"));
  if (!config) return "reference BLAS (slow: install libopenblas0-pthread, see scripts/setup.sh)";
  std::string text = config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH ... SkylakeX MAX_THREADS=64"
  if (auto get_threads = reinterpret_cast<int (*)()>(blas_function("openblas_get_num_threads")))
    text += ", " + std::to_string(get_threads()) + " thread(s)";
  if (chosen_core)
    text += std::string(" (kernels ") + chosen_core + " chosen by bnlab: OpenBLAS fell back to " + kFallbackCore +
            " on this CPU)";
  return text;
}

}  // namespace bnlab
