#include "core/cpu.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>

#include "core/input_error.h"

namespace bnlab {
namespace {

bool hardware_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kPortable:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      return hardware_supports(Isa::kAvx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return isa == Isa::kPortable;
#endif
}

// The copy in use; -1 until first asked for (then from BNLAB_ISA or the CPU).
std::atomic<int> g_active{-1};

}  // namespace

const EnumNames<Isa>& enum_names(Isa) {
  static const EnumNames<Isa> names = {{Isa::kPortable, "portable"}, {Isa::kAvx2, "avx2"}, {Isa::kAvx512, "avx512"}};
  return names;
}

bool cpu_supports(Isa isa) {
  static const bool supported[] = {hardware_supports(Isa::kPortable), hardware_supports(Isa::kAvx2),
                                   hardware_supports(Isa::kAvx512)};
  return supported[int(isa)];
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kPortable})
    if (cpu_supports(isa)) isas.push_back(isa);
  return isas;
}

std::string supported_isa_list() {
  std::vector<std::string> names;
  for (Isa isa : supported_isas()) names.push_back(to_name(isa));
  return fmt::format("{}", fmt::join(names, ", "));
}

std::optional<Isa> isa_from_environment() {
  const char* forced = std::getenv("BNLAB_ISA");
  if (!forced || !*forced) return std::nullopt;
  const auto isa = from_name<Isa>(forced);
  if (!isa)
    throw InputError(fmt::format("BNLAB_ISA={}: expected one of {}", forced, fmt::join(all_names<Isa>(), ", ")));
  if (!cpu_supports(*isa))
    throw InputError(
        fmt::format("BNLAB_ISA={}: this CPU lacks its instructions; it runs {}", forced, supported_isa_list()));
  return isa;
}

Isa active_isa() {
  int active = g_active.load(std::memory_order_relaxed);
  if (active < 0) {
    active = int(isa_from_environment().value_or(supported_isas().front()));
    g_active.store(active, std::memory_order_relaxed);
  }
  return Isa(active);
}

ScopedIsa::ScopedIsa(Isa isa) : previous_(active_isa()) {
  if (!cpu_supports(isa))
    throw InputError(fmt::format("the {} copy of the kernels needs instructions this CPU lacks", to_name(isa)));
  g_active.store(int(isa), std::memory_order_relaxed);
}

ScopedIsa::~ScopedIsa() { g_active.store(int(previous_), std::memory_order_relaxed); }

}  // namespace bnlab
