#include "experiments/grid.h"

#include <fmt/format.h>

#include "core/text.h"

namespace bnlab::experiments {
namespace {

std::string short_key(const std::string& key) {
  const std::string tail = key.substr(key.rfind('.') + 1);
  int sharing = 0;
  for (const auto& other : config_keys())
    sharing += other.name.substr(other.name.rfind('.') + 1) == tail;
  return sharing == 1 ? tail : key;
}

std::string value_text(const ConfigValue& value) {
  if (auto s = std::get_if<std::string>(&value)) return *s;
  if (auto list = std::get_if<std::vector<int64_t>>(&value)) return fmt::format("{}", fmt::join(*list, "-"));
  if (std::holds_alternative<NoneValue>(value)) return "none";
  return to_string(value);
}

}  // namespace

std::vector<Overrides> grid_points(const std::vector<GridAxis>& axes) {
  std::vector<Overrides> points = {{}};
  for (const auto& axis : axes) {
    std::vector<Overrides> next;
    for (const auto& point : points)
      for (const auto& value : axis.values) {
        Overrides extended = point;
        extended.emplace_back(axis.key, value);
        next.push_back(std::move(extended));
      }
    points = std::move(next);
  }
  return points;
}

std::string grid_point_name(const Overrides& point) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : point) parts.push_back(short_key(key) + "=" + value_text(value));
  return join(parts, ",");
}

}  // namespace bnlab::experiments
