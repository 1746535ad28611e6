#include <fmt/format.h>

#include <stdexcept>

#include "core/text.h"
#include "experiments/config_keys.h"

// ConfigValues as text, and the one conversion of literals into them.
namespace bnlab::experiments {

std::string to_string(const ConfigValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>)
          return "\"" + v + "\"";
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
          return fmt::format("[{}]", fmt::join(v, ", "));
        else if constexpr (std::is_same_v<T, NoneValue>)
          return "\"none\"";
        else
          return fmt::format("{}", v);
      },
      value);
}

std::string type_name(ValueType type) {
  switch (type) {
    case ValueType::kBool:
      return "bool";
    case ValueType::kInt:
      return "integer";
    case ValueType::kFloat:
      return "number";
    case ValueType::kString:
      return "string";
    case ValueType::kIntList:
      return "list of integers";
    case ValueType::kFloatOrNone:
      return "number or \"none\"";
  }
  return "?";
}

namespace {

template <typename Parse>
auto parsed_or_none(Parse&& parse) -> std::optional<decltype(parse())> {
  try {
    return parse();
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<bool> TextLiteral::as_bool() const {
  if (text_ == "true" || text_ == "1") return true;
  if (text_ == "false" || text_ == "0") return false;
  return std::nullopt;
}

std::optional<int64_t> TextLiteral::as_int() const {
  return parsed_or_none([&] { return parse_int(text_, "value"); });
}

std::optional<double> TextLiteral::as_number() const {
  // std::stod also reads "nan", "inf" and "-inf", as bnlab writes them.
  return parsed_or_none([&] { return parse_double(text_, "value"); });
}

std::optional<std::vector<int64_t>> TextLiteral::as_int_list() const {
  std::string inner = text_;
  if (!inner.empty() && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
  std::vector<int64_t> values;
  for (const auto& part : split(inner, ',')) {
    if (part.empty()) continue;
    const auto value = parsed_or_none([&] { return parse_int(part, "value"); });
    if (!value) return std::nullopt;
    values.push_back(*value);
  }
  return values;
}

ConfigValue to_config_value(const ConfigKey& key, const Literal& literal) {
  std::optional<ConfigValue> value;
  switch (key.type) {
    case ValueType::kBool:
      value = literal.as_bool();
      break;
    case ValueType::kInt:
      value = literal.as_int();
      break;
    case ValueType::kFloat:
      value = literal.as_number();
      break;
    case ValueType::kString:
      value = literal.as_string();
      break;
    case ValueType::kIntList:
      value = literal.as_int_list();
      break;
    case ValueType::kFloatOrNone:
      if (const auto text = literal.as_string(); text && *text == "none")
        value = NoneValue{};
      else
        value = literal.as_number();
      break;
  }
  if (!value)
    throw std::invalid_argument(fmt::format("expected {} {}, got {}", key.type == ValueType::kInt ? "an" : "a",
                                            type_name(key.type), literal.describe()));
  key.validate(*value);
  return *value;
}

std::vector<std::pair<std::string, std::string>> describe(const RunConfig& config) {
  std::vector<std::pair<std::string, std::string>> lines;
  for (const auto& key : config_keys()) lines.emplace_back(key.name, to_string(key.get(config)));
  return lines;
}

}  // namespace bnlab::experiments
