#include "experiments/config_keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "experiments/config_fields.h"

namespace bnlab::experiments {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> registry = detail::build_registry();
  return registry;
}

const ConfigKey& find_config_key(const std::string& name) {
  const ConfigKey* closest = nullptr;
  size_t best = SIZE_MAX;
  for (const auto& key : config_keys()) {
    if (key.name == name) return key;
    // Also match on the last component ("norm" -> "model.norm").
    const std::string tail = key.name.substr(key.name.rfind('.') + 1);
    const size_t distance = std::min(edit_distance(name, key.name), edit_distance(name, tail));
    if (distance < best) best = distance, closest = &key;
  }
  if (closest && best <= 3)
    throw std::invalid_argument(fmt::format("unknown key '{}' (did you mean '{}'?)", name, closest->name));
  throw std::invalid_argument(fmt::format("unknown key '{}' (see `bnlab show --keys`)", name));
}

}  // namespace bnlab::experiments
