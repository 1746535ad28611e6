#include "core/cpu.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

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

// The value of the first /proc/cpuinfo line that starts with `key`, or "".
std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos || line.find_first_not_of(" \t", key.size()) != colon) continue;
    const auto start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

// A cache size set in the environment (cache_override_from_environment).
struct CacheOverride {
  const char* variable;
  std::optional<long> bytes;
};

constexpr long kSmallestCacheOverride = 4L << 10, kLargestCacheOverride = 64L << 30;

// The binary multiple a size's suffix names: "" bytes, K, M or G (either
// case); -1 for anything else.
int suffix_shift(const std::string& suffix) {
  if (suffix.empty()) return 0;
  const auto unit = suffix.size() == 1 ? std::string("KMG").find(char(std::toupper(suffix[0]))) : std::string::npos;
  return unit == std::string::npos ? -1 : 10 * int(unit + 1);
}

// The number of bytes a size such as "512K" or "32768K" (Linux's cacheinfo)
// or "32M" names: digits with an optional K, M or G; -1 for anything else or
// a size over 64G.
long long size_bytes(const std::string& text) {
  const size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  const int shift = suffix_shift(text.substr(digits));
  if (shift < 0 || digits == 0 || digits > 12) return -1;
  const long long number = std::stoll(text.substr(0, digits));
  return number > (kLargestCacheOverride >> shift) ? -1 : number << shift;
}

// BNLAB_L2_CACHE / BNLAB_L3_CACHE: unset or empty, or digits with an
// optional K, M or G, from 4K to 64G.
CacheOverride cache_override_from_environment(const char* variable) {
  const char* set = std::getenv(variable);
  if (!set || !*set) return {variable, std::nullopt};
  const std::string text = set;
  const long long bytes = size_bytes(text);
  if (bytes < kSmallestCacheOverride)
    throw InputError(fmt::format(
        "{}={}: expected a cache size from 4K to 64G, in bytes or with K, M or G (binary: 512K is 524288 bytes)",
        variable, text));
  return {variable, long(bytes)};
}

const CacheOverride& l2_override() {
  static const CacheOverride override = cache_override_from_environment("BNLAB_L2_CACHE");
  return override;
}

const CacheOverride& l3_override() {
  static const CacheOverride override = cache_override_from_environment("BNLAB_L3_CACHE");
  return override;
}

// The first line of a small text file, or "" when it cannot be read.
std::string first_line(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// Where Linux describes cpu0's caches (one indexN directory each).
constexpr const char* kLinuxCacheDirectory = "/sys/devices/system/cpu/cpu0/cache";

// The size of the level-1 data, level-2 or level-3 cache the OS reports:
// Linux's cacheinfo for cpu0, else glibc's sysconf, else -1.
long reported_cache_bytes(int level) {
  const long from_linux = linux_cache_bytes(kLinuxCacheDirectory, level);
  if (from_linux > 0) return from_linux;
  const int name = level == 1 ? _SC_LEVEL1_DCACHE_SIZE : level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE;
  return sysconf(name);
}

std::string size_text(long bytes) {
  if (bytes % (1L << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes % (1L << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes % (1L << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

// "; L2 2 MiB", or with an override "; L2 512 KiB set by BNLAB_L2_CACHE (2
// MiB reported)"; "" when the OS reports no such cache and nothing is set.
std::string cache_text(const char* name, long reported, const CacheOverride* override = nullptr) {
  if (override && override->bytes)
    return fmt::format("; {} {} set by {} ({} reported)", name, size_text(*override->bytes), override->variable,
                       reported > 0 ? size_text(reported) : "none");
  return reported > 0 ? fmt::format("; {} {}", name, size_text(reported)) : "";
}

// The override's size, else the OS's, else `otherwise`.
long cache_bytes(const CacheOverride& override, int level, long otherwise) {
  if (override.bytes) return *override.bytes;
  const long reported = reported_cache_bytes(level);
  return reported > 0 ? reported : otherwise;
}

}  // namespace

long linux_cache_bytes(const std::filesystem::path& cache_directory, int level) {
  std::error_code error;
  for (std::filesystem::directory_iterator entry(cache_directory, error), end; !error && entry != end;
       entry.increment(error)) {
    const auto& index = entry->path();
    if (index.filename().string().rfind("index", 0) != 0) continue;
    const std::string type = first_line(index / "type");
    if (first_line(index / "level") != std::to_string(level) || (type != "Data" && type != "Unified")) continue;
    const long long bytes = size_bytes(first_line(index / "size"));
    return bytes > 0 ? long(bytes) : -1;
  }
  return -1;
}

std::string cpu_description() {
  static const std::string description = [] {
    std::string model = cpuinfo_field("model name");
    if (model.empty()) model = "unknown CPU";
    std::replace(model.begin(), model.end(), ',', ' ');  // the description goes into CSV cells
    const std::string family = cpuinfo_field("cpu family"), number = cpuinfo_field("model");
    const std::string caches = cache_text("L1d", reported_cache_bytes(1)) +
                               cache_text("L2", reported_cache_bytes(2), &l2_override()) +
                               cache_text("L3", reported_cache_bytes(3), &l3_override());
    std::string details = family.empty() ? "" : fmt::format("family {} model {}", family, number);
    if (!caches.empty()) details += details.empty() ? caches.substr(2) : "; " + caches.substr(2);
    return details.empty() ? model : fmt::format("{} ({})", model, details);
  }();
  return description;
}

long l2_cache_bytes() {
  static const long bytes = cache_bytes(l2_override(), 2, 512L << 10);
  return bytes;
}

long l3_cache_bytes() {
  static const long bytes = cache_bytes(l3_override(), 3, 32L << 20);
  return bytes;
}

void check_cpu_environment() {
  isa_from_environment();
  l2_override();
  l3_override();
}

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
