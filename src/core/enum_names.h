#pragma once
// Names of enum values, for the places where enums meet text (config files,
// command lines, run.json): one table per enum, found by argument-dependent
// lookup as `enum_names(E{})` in the enum's own namespace:
//   const EnumNames<Fruit>& enum_names(Fruit);  // {{Fruit::kApple, "apple"}, ...}
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bnlab {

template <typename E>
using EnumNames = std::vector<std::pair<E, std::string>>;

template <typename E>
const std::string& to_name(E value) {
  for (const auto& [candidate, name] : enum_names(E{}))
    if (candidate == value) return name;
  throw std::logic_error("enum value without a name");
}

template <typename E>
std::optional<E> from_name(const std::string& text) {
  for (const auto& [value, name] : enum_names(E{}))
    if (name == text) return value;
  return std::nullopt;
}

template <typename E>
std::vector<std::string> all_names() {
  std::vector<std::string> names;
  for (const auto& entry : enum_names(E{})) names.push_back(entry.second);
  return names;
}

template <typename E>
std::vector<E> all_values() {
  std::vector<E> values;
  for (const auto& entry : enum_names(E{})) values.push_back(entry.first);
  return values;
}

}  // namespace bnlab
