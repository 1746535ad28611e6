#include "runs/layout.h"

#include <fmt/format.h>

#include <cstdlib>

#include "core/text.h"

namespace bnlab::runs {

namespace {
constexpr const char* kSeedPrefix = "seed-";
}  // namespace

std::filesystem::path default_results_root() {
  const char* override_dir = std::getenv("BNLAB_RESULTS_DIR");
  return override_dir && *override_dir ? std::filesystem::path(override_dir)
                                       : std::filesystem::path(BNLAB_SOURCE_DIR) / "results";
}

std::filesystem::path run_directory(const std::filesystem::path& root, const std::string& experiment,
                                    const std::string& variant, int64_t seed) {
  return root / experiment / run_label(variant, seed);
}

std::string run_label(const std::string& variant, int64_t seed) {
  return fmt::format("{}/{}{}", variant, kSeedPrefix, seed);
}

std::optional<int64_t> seed_of_folder(const std::string& name) {
  const std::string prefix = kSeedPrefix;
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  try {
    const int64_t seed = parse_int(name.substr(prefix.size()), "seed");
    return seed >= 0 ? std::optional<int64_t>(seed) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace bnlab::runs
