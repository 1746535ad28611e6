#include "core/cpu.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bnlab {

bool cpu_has_avx2_fma() {
  static const bool available = [] {
    const char* forced = std::getenv("BNLAB_ISA");
    if (forced && std::strcmp(forced, "portable") == 0) return false;
    if (forced && *forced)
      std::fprintf(stderr, "bnlab: BNLAB_ISA=%s ignored: the only value it takes is \"portable\"\n", forced);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
  }();
  return available;
}

}  // namespace bnlab
