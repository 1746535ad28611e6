#pragma once
// The instruction sets kernel families are compiled for, which of them this
// CPU runs, and the copy in use (see the mechanism below).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/enum_names.h"

namespace bnlab {

// The compiled copies, least capable first:
//   portable: any x86-64 (SSE2) or other CPU;
//   avx2:     AVX2 + FMA (Haswell, Zen 1 and later);
//   avx512:   AVX-512 F/BW/VL/DQ with 512-bit vectors (Skylake-SP, Ice Lake,
//             Sapphire Rapids, Zen 4/5).
enum class Isa { kPortable, kAvx2, kAvx512 };
const EnumNames<Isa>& enum_names(Isa);  // "portable", "avx2", "avx512"

// True when this CPU can run the copy (checked once).
bool cpu_supports(Isa isa);

// Every copy this CPU can run, most capable first; and as text, "avx512, avx2, portable".
std::vector<Isa> supported_isas();
std::string supported_isa_list();

// The copy kernels call: the one BNLAB_ISA names (so the less capable copies
// can be tested, and compared, on a CPU that has more), else the most capable
// this CPU supports. Throws InputError when BNLAB_ISA names no copy, or one
// this CPU cannot run (commands check it at start-up, see isa_from_environment).
Isa active_isa();

// This CPU as figures should name it: the model name, vendor family and
// model numbers from /proc/cpuinfo and the cache sizes the OS reports
// (below), e.g. "AMD EPYC (family 25 model 1; L1d 32 KiB; L2 512 KiB; L3 32
// MiB)", or those set in their stead (below: "L2 1 MiB set by
// BNLAB_L2_CACHE (512 KiB reported)"); free of commas (it goes into CSV
// cells).
std::string cpu_description();

// The cache sizes cache-blocked kernels size their choices from (channel
// blocks, which outputs are streamed). As the OS reports them: Linux's
// cacheinfo for cpu0 (linux_cache_bytes), which gives the share one core
// reaches, else glibc's sysconf, which may give a whole socket's (AMD EPYC
// family 25 model 1: L3 256 MiB, where one core's CCX has 32 MiB), else
// 512 KiB for the L2 of one core and 32 MiB for the L3 (the smallest of the
// x86-64 server cores we meet), unless BNLAB_L2_CACHE / BNLAB_L3_CACHE
// set them (e.g. 512K, 32M): as BNLAB_ISA runs another CPU's copy, these run
// the choices another CPU's caches make, on this one's hardware.
// cpu_description() then names the sizes set and the ones reported.
long l2_cache_bytes();
long l3_cache_bytes();

// The size of the level-`level` data or unified cache that Linux's cacheinfo
// describes in cache_directory (/sys/devices/system/cpu/cpuN/cache: one
// indexN directory per cache, with files level, type and size such as
// "32768K"), or -1 when it names none or cannot be read.
long linux_cache_bytes(const std::filesystem::path& cache_directory, int level);

// What BNLAB_ISA asks for: nullopt when unset or empty; InputError naming the
// value when it is not a copy's name or this CPU lacks the instructions.
std::optional<Isa> isa_from_environment();

// Checks BNLAB_ISA, BNLAB_L2_CACHE and BNLAB_L3_CACHE: InputError naming the
// variable and its value for the first that bnlab cannot use (a size: digits
// with an optional K, M or G, from 4K to 64G). Commands call it at start-up.
void check_cpu_environment();

// Runs kernels with `isa` until destroyed (the test suite and `bnlab verify`
// run every supported copy this way), then restores the previous choice.
// Throws InputError when the CPU cannot run `isa`. Process-wide: use it on
// the thread that launches the kernels, not while other threads compute.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa);
  ~ScopedIsa();
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  Isa previous_;
};

}  // namespace bnlab

// Code compiled once per instruction set, one mechanism for every kernel family:
//   NAME_isa.h      its declarations, in namespace NS::BNLAB_ISA, without an
//                   include guard (it is included once per copy);
//   NAME_impl.h     the definitions; it includes NAME_isa.h, so the two
//                   cannot drift apart;
//   NAME_avx512.cpp, NAME_avx2.cpp, NAME_portable.cpp
//                   #define BNLAB_ISA avx512 | avx2 | portable, then include
//                   NAME_impl.h; CMake compiles each with its ISA's flags.
// The caller declares every copy with
//   #define BNLAB_ISA_DECLARATIONS "path/NAME_isa.h"
//   #include "core/isa_copies.h"
// and calls the copy in use with BNLAB_ISA_COPY(NS, name):
// BNLAB_ISA_COPY(ns, f<float>)(args).
#define BNLAB_ISA_COPY(NS, name)                                     \
  (::bnlab::active_isa() == ::bnlab::Isa::kAvx512 ? NS::avx512::name \
   : ::bnlab::active_isa() == ::bnlab::Isa::kAvx2 ? NS::avx2::name   \
                                                  : NS::portable::name)
