#pragma once
// The registry of config keys: the one way experiment files, grids and
// `--set key=value` read and change a RunConfig. Each key knows its type,
// its values (validate), and how to store and read its field.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "experiments/run_config.h"

namespace bnlab::experiments {

// A config value as written in an experiment file or on the command line.
struct NoneValue {
  bool operator==(const NoneValue&) const { return true; }
};
using ConfigValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, NoneValue>;
std::string to_string(const ConfigValue& value);

enum class ValueType { kBool, kInt, kFloat, kString, kIntList, kFloatOrNone };
std::string type_name(ValueType type);

struct ConfigKey {
  std::string name;  // dotted: "model.norm"
  ValueType type;
  std::string help;
  std::vector<std::string> choices;  // strings only; empty: any
  bool is_preset = false;            // applied before the other keys of the same layer
  // Throws std::invalid_argument with the reason when `value` is not one of
  // this key's values (wrong type, not a choice, out of range).
  std::function<void(const ConfigValue&)> validate;
  // Validates and stores.
  std::function<void(RunConfig&, const ConfigValue&)> set;
  std::function<ConfigValue(const RunConfig&)> get;
};

const std::vector<ConfigKey>& config_keys();

// Throws std::invalid_argument "unknown key 'x' (did you mean 'y'?)".
const ConfigKey& find_config_key(const std::string& name);

// A value as written, before it meets a key: a TOML value of an experiment
// file, or the text after `--set key=`. Each reading is nullopt when the
// literal is not of that kind.
class Literal {
 public:
  virtual ~Literal() = default;
  virtual std::optional<bool> as_bool() const = 0;
  virtual std::optional<int64_t> as_int() const = 0;
  virtual std::optional<double> as_number() const = 0;  // integers too
  virtual std::optional<std::string> as_string() const = 0;
  virtual std::optional<std::vector<int64_t>> as_int_list() const = 0;
  virtual std::string describe() const = 0;  // as the user wrote it, for messages
};

// Command-line text: "true"/"1", "0.1", "custom", "128,64" or "[128, 64]", "none".
class TextLiteral : public Literal {
 public:
  explicit TextLiteral(std::string text) : text_(std::move(text)) {}
  std::optional<bool> as_bool() const override;
  std::optional<int64_t> as_int() const override;
  std::optional<double> as_number() const override;
  std::optional<std::string> as_string() const override { return text_; }
  std::optional<std::vector<int64_t>> as_int_list() const override;
  std::string describe() const override { return "'" + text_ + "'"; }

 private:
  std::string text_;
};

// The one conversion of a literal into `key`'s type, then validated by the
// key. Throws std::invalid_argument: "expected a number, got 'abc'", or the
// key's own reason.
ConfigValue to_config_value(const ConfigKey& key, const Literal& literal);

// "key = value" lines for every key, in registry order.
std::vector<std::pair<std::string, std::string>> describe(const RunConfig& config);

}  // namespace bnlab::experiments
