#include "runs/json_values.h"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>

namespace bnlab::runs {
namespace {

using nlohmann::json;

// The value as it stands in the file, cut short: a message names it, it does
// not reprint a whole object.
std::string shown(const json& value) {
  constexpr size_t kMaxChars = 40;
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= kMaxChars ? text : text.substr(0, kMaxChars - 3) + "...";
}

[[noreturn]] void refuse(const json& value, std::string_view what, std::string_view expected) {
  throw std::invalid_argument(fmt::format("{}: expected {}, got {}", what, expected, shown(value)));
}

int64_t integer_within(const json& value, std::string_view what, int64_t min, int64_t max) {
  const auto range = fmt::format("an integer from {} to {}", min, max);
  if (!value.is_number_integer()) refuse(value, what, range);
  // Unsigned is nlohmann's type for non-negative integers; past INT64_MAX it
  // does not fit ours, and get<int64_t>() would wrap it round to a negative.
  if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(max)) refuse(value, what, range);
  const auto number = value.get<int64_t>();
  if (number < min || number > max) refuse(value, what, range);
  return number;
}

}  // namespace

template <>
int64_t json_as<int64_t>(const json& value, std::string_view what) {
  return integer_within(value, what, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
}

template <>
int json_as<int>(const json& value, std::string_view what) {
  return int(integer_within(value, what, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

template <>
double json_as<double>(const json& value, std::string_view what) {
  if (!value.is_number()) refuse(value, what, "a number");
  return value.get<double>();
}

template <>
std::string json_as<std::string>(const json& value, std::string_view what) {
  if (!value.is_string()) refuse(value, what, "a string");
  return value.get<std::string>();
}

const json& json_object(const json& object, std::string_view what) {
  if (!object.is_object()) refuse(object, what, "an object");
  return object;
}

const json& json_array(const json& array, std::string_view what) {
  if (!array.is_array()) refuse(array, what, "an array");
  return array;
}

}  // namespace bnlab::runs
