#pragma once
// How a config key is made from a RunConfig field (internal to experiments/):
// the conversion of ConfigValues into each field type, the range checks, and
// field(), which builds a ConfigKey from a member pointer.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "core/text.h"
#include "experiments/config_keys.h"

namespace bnlab::experiments::detail {

[[noreturn]] inline void bad_value(const std::string& reason) { throw std::invalid_argument(reason); }

// ---- ConfigValue <-> field type -----------------------------------------------------

template <typename T, typename = void>
struct FieldType;

template <>
struct FieldType<bool> {
  static constexpr ValueType type = ValueType::kBool;
  static bool from(const ConfigValue& v) {
    if (auto b = std::get_if<bool>(&v)) return *b;
    bad_value(fmt::format("expected true or false, got {}", to_string(v)));
  }
  static ConfigValue to(bool v) { return v; }
};

template <>
struct FieldType<int64_t> {
  static constexpr ValueType type = ValueType::kInt;
  static int64_t from(const ConfigValue& v) {
    if (auto i = std::get_if<int64_t>(&v)) return *i;
    bad_value(fmt::format("expected an integer, got {}", to_string(v)));
  }
  static ConfigValue to(int64_t v) { return v; }
};

template <>
struct FieldType<double> {
  static constexpr ValueType type = ValueType::kFloat;
  static double from(const ConfigValue& v) {
    if (auto d = std::get_if<double>(&v)) return *d;
    if (auto i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    bad_value(fmt::format("expected a number, got {}", to_string(v)));
  }
  static ConfigValue to(double v) { return v; }
};

template <>
struct FieldType<std::string> {
  static constexpr ValueType type = ValueType::kString;
  static std::string from(const ConfigValue& v) {
    if (auto s = std::get_if<std::string>(&v)) return *s;
    bad_value(fmt::format("expected a string, got {}", to_string(v)));
  }
  static ConfigValue to(const std::string& v) { return v; }
};

template <>
struct FieldType<std::vector<int64_t>> {
  static constexpr ValueType type = ValueType::kIntList;
  static std::vector<int64_t> from(const ConfigValue& v) {
    if (auto l = std::get_if<std::vector<int64_t>>(&v)) return *l;
    bad_value(fmt::format("expected a list of integers, got {}", to_string(v)));
  }
  static ConfigValue to(const std::vector<int64_t>& v) { return v; }
};

template <>
struct FieldType<std::optional<double>> {
  static constexpr ValueType type = ValueType::kFloatOrNone;
  static std::optional<double> from(const ConfigValue& v) {
    if (std::holds_alternative<NoneValue>(v)) return std::nullopt;
    return FieldType<double>::from(v);
  }
  static ConfigValue to(const std::optional<double>& v) { return v ? ConfigValue(*v) : ConfigValue(NoneValue{}); }
};

// Enums are written as their names (core/enum_names.h); the names are the choices.
template <typename E>
struct FieldType<E, std::enable_if_t<std::is_enum_v<E>>> {
  static constexpr ValueType type = ValueType::kString;
  static std::vector<std::string> choices() { return all_names<E>(); }
  static E from(const ConfigValue& v) {
    const std::string name = FieldType<std::string>::from(v);
    if (const auto value = from_name<E>(name)) return *value;
    bad_value(fmt::format("must be one of {}, got \"{}\"", join(choices(), ", "), name));
  }
  static ConfigValue to(E v) { return to_name(v); }
};

// model.placement: "auto" is the arch's default, made explicit by resolution.
template <>
struct FieldType<std::optional<models::Placement>> {
  static constexpr ValueType type = ValueType::kString;
  static std::vector<std::string> choices() {
    auto names = all_names<models::Placement>();
    names.insert(names.begin(), "auto");
    return names;
  }
  static std::optional<models::Placement> from(const ConfigValue& v) {
    if (auto s = std::get_if<std::string>(&v); s && *s == "auto") return std::nullopt;
    if (auto s = std::get_if<std::string>(&v); s && !from_name<models::Placement>(*s))
      bad_value(fmt::format("must be one of {}, got \"{}\"", join(choices(), ", "), *s));
    return FieldType<models::Placement>::from(v);
  }
  static ConfigValue to(const std::optional<models::Placement>& v) {
    return v ? FieldType<models::Placement>::to(*v) : ConfigValue(std::string("auto"));
  }
};

template <typename T, typename = void>
struct HasChoices : std::false_type {};
template <typename T>
struct HasChoices<T, std::void_t<decltype(FieldType<T>::choices())>> : std::true_type {};

// ---- checks -------------------------------------------------------------------------

template <typename T>
using Check = std::function<void(const T&)>;

// A finite number > 0 (a rate, an eps): infinity is no more a value than NaN.
inline Check<double> positive() {
  return [](const double& v) {
    if (!(v > 0)) bad_value(fmt::format("must be > 0, got {}", v));
    if (!std::isfinite(v)) bad_value(fmt::format("must be finite, got {}", v));
  };
}
// Any finite number (an initial gamma or beta).
inline Check<double> finite() {
  return [](const double& v) {
    if (!std::isfinite(v)) bad_value(fmt::format("must be finite, got {}", v));
  };
}
inline Check<int64_t> at_least(int64_t lo) {
  return [lo](const int64_t& v) {
    if (v < lo) bad_value(fmt::format("must be >= {}, got {}", lo, v));
  };
}
inline Check<double> in_range(double lo, double hi, bool hi_inclusive = true) {
  return [=](const double& v) {
    if (!(v >= lo && (hi_inclusive ? v <= hi : v < hi)))
      bad_value(fmt::format("must be in [{}, {}{}, got {}", lo, hi, hi_inclusive ? "]" : ")", v));
  };
}
inline Check<std::vector<int64_t>> positive_sizes() {
  return [](const std::vector<int64_t>& v) {
    for (int64_t size : v)
      if (size < 1) bad_value(fmt::format("sizes must be >= 1, got {}", size));
  };
}
inline Check<std::optional<double>> momentum_range() {
  return [](const std::optional<double>& v) {
    if (v && !(*v >= 0 && *v <= 1)) bad_value(fmt::format("must be in [0, 1] or \"none\", got {}", *v));
  };
}
// A finite number >= lo (a bound).
inline Check<double> finite_at_least(double lo) {
  return [lo](const double& v) {
    if (!(v >= lo) || !std::isfinite(v)) bad_value(fmt::format("must be a finite number >= {}, got {}", lo, v));
  };
}
// A number in (lo, hi] (a momentum that must move).
inline Check<double> above_up_to(double lo, double hi) {
  return [=](const double& v) {
    if (!(v > lo && v <= hi)) bad_value(fmt::format("must be in ({}, {}], got {}", lo, hi, v));
  };
}
inline Check<std::optional<double>> renorm_rmin_range() {
  return [](const std::optional<double>& v) {
    if (v && !(*v > 0 && *v <= 1)) bad_value(fmt::format("must be in (0, 1] or \"none\", got {}", *v));
  };
}
inline Check<std::string> one_of(std::vector<std::string> choices) {
  return [choices](const std::string& v) {
    if (std::find(choices.begin(), choices.end(), v) == choices.end())
      bad_value(fmt::format("must be one of {}, got \"{}\"", join(choices, ", "), v));
  };
}

// ---- key builder --------------------------------------------------------------------

// Keeps T deduced from the member pointer alone (a nullptr check deduces nothing).
template <typename T>
struct NonDeduced {
  using type = T;
};

template <typename Section, typename T>
ConfigKey field(std::string name, Section RunConfig::*section, T Section::*member, std::string help,
                typename NonDeduced<Check<T>>::type check = nullptr, std::vector<std::string> choices = {}) {
  ConfigKey key;
  key.name = std::move(name);
  key.type = FieldType<T>::type;
  key.help = std::move(help);
  if constexpr (HasChoices<T>::value) choices = FieldType<T>::choices();
  key.choices = choices;
  // The one conversion of a value into the field's type, checked.
  auto typed = [check](const ConfigValue& value) {
    T converted = FieldType<T>::from(value);
    if (check) check(converted);
    return converted;
  };
  key.validate = [typed](const ConfigValue& value) { typed(value); };
  key.set = [section, member, typed](RunConfig& config, const ConfigValue& value) {
    config.*section.*member = typed(value);
  };
  key.get = [section, member](const RunConfig& config) { return FieldType<T>::to(config.*section.*member); };
  return key;
}

inline ConfigKey bn_preset_key() {
  ConfigKey key = field("bn.preset", &RunConfig::bn, &BnConfig::preset,
                        "pytorch: eps 1e-5, momentum 0.1; keras: Keras' defaults, eps 1e-3 and "
                        "momentum 0.01 (Keras' 0.99). Sets bn.eps and bn.momentum; later keys win");
  key.is_preset = true;
  auto store = key.set;
  key.set = [store](RunConfig& config, const ConfigValue& value) {
    store(config, value);
    const bool keras = config.bn.preset == BnPreset::kKeras;
    config.bn.eps = keras ? 1e-3 : 1e-5;
    config.bn.momentum = keras ? 0.01 : 0.1;
  };
  return key;
}

// The registry's keys, in the order `bnlab show --keys` lists them (config_registry.cpp).
std::vector<ConfigKey> build_registry();

}  // namespace bnlab::experiments::detail
