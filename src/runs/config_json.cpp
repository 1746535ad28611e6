#include "runs/config_json.h"

#include <fmt/format.h>

#include "experiments/config_keys.h"
#include "experiments/resolve.h"
#include "runs/json_values.h"

namespace bnlab::runs {
namespace {

using nlohmann::json;

json to_json(const experiments::ConfigValue& value) {
  return std::visit(
      [](const auto& v) -> json {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, experiments::NoneValue>)
          return "none";
        else
          return v;
      },
      value);
}

experiments::ConfigValue from_json(const experiments::ConfigKey& key, const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer()) return json_as<int64_t>(value, key.name);
  if (value.is_number()) return value.get<double>();
  if (value.is_string() && value == "none" && key.type == experiments::ValueType::kFloatOrNone)
    return experiments::NoneValue{};
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::vector<int64_t> items;
    for (const auto& item : value) items.push_back(json_as<int64_t>(item, key.name));
    return items;
  }
  throw std::invalid_argument(fmt::format("{}: unexpected value {}", key.name, value.dump()));
}

}  // namespace

json config_to_json(const experiments::RunConfig& config) {
  json out = json::object();
  for (const auto& key : experiments::config_keys()) out[key.name] = to_json(key.get(config));
  return out;
}

experiments::RunConfig config_from_json(const json& config) {
  if (!config.is_object()) throw std::invalid_argument("config: expected an object of config keys");
  experiments::Overrides overrides;
  for (const auto& [name, value] : config.items()) {
    const auto& key = experiments::find_config_key(name);  // throws naming an unknown key
    try {
      overrides.emplace_back(name, from_json(key, value));
    } catch (const json::exception& error) {
      throw std::invalid_argument(fmt::format("{}: {}", name, error.what()));
    }
  }
  experiments::RunConfig resolved;
  experiments::apply_overrides(resolved, overrides);
  return resolved;
}

}  // namespace bnlab::runs
