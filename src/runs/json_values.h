#pragma once
// Typed reads of the JSON that bnlab writes (run.json: its fields, config and
// final metrics), which a person or a fault may have changed since. A value of
// another type, a fraction where an integer belongs, or an integer out of
// range is refused with std::invalid_argument naming `what` and the value.
// Nothing is converted on the quiet: nlohmann's get<int64_t>() of 1e300 is
// undefined behaviour (found by fuzz_run_json), and of 2.5 it is 2.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace bnlab::runs {

// `value` as T: int64_t and int (integers within the type's range), double
// (any number), std::string, nlohmann::json (any value).
template <typename T>
T json_as(const nlohmann::json& value, std::string_view what);
template <>
int64_t json_as<int64_t>(const nlohmann::json& value, std::string_view what);
template <>
int json_as<int>(const nlohmann::json& value, std::string_view what);
template <>
double json_as<double>(const nlohmann::json& value, std::string_view what);
template <>
std::string json_as<std::string>(const nlohmann::json& value, std::string_view what);
// Any value, as it is (config, stages: read by their own owners).
template <>
inline nlohmann::json json_as<nlohmann::json>(const nlohmann::json& value, std::string_view) {
  return value;
}

// `object` itself, after checking that it is a JSON object; `array`, an array.
const nlohmann::json& json_object(const nlohmann::json& object, std::string_view what);
const nlohmann::json& json_array(const nlohmann::json& array, std::string_view what);

// object[key] as T, or nullopt when the key is absent or null. Check
// `object` with json_object first: nothing is found in a non-object.
template <typename T>
std::optional<T> json_optional(const nlohmann::json& object, const char* key) {
  if (!object.contains(key) || object[key].is_null()) return std::nullopt;
  return json_as<T>(object[key], key);
}

// object[key] as T, or `fallback` when the key is absent or null.
template <typename T>
T json_field(const nlohmann::json& object, const char* key, T fallback) {
  auto value = json_optional<T>(object, key);
  return value ? std::move(*value) : std::move(fallback);
}

}  // namespace bnlab::runs
