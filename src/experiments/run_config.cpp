#include "experiments/run_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "core/text.h"

namespace bnlab::experiments {
namespace {

[[noreturn]] void bad_value(const std::string& reason) { throw std::invalid_argument(reason); }

// ---- ConfigValue -> field type ----------------------------------------------------

template <typename T>
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
  static ConfigValue to(const std::optional<double>& v) {
    return v ? ConfigValue(*v) : ConfigValue(NoneValue{});
  }
};

// ---- checks -------------------------------------------------------------------------

template <typename T>
using Check = std::function<void(const T&)>;

Check<double> positive() {
  return [](const double& v) {
    if (!(v > 0)) bad_value(fmt::format("must be > 0, got {}", v));
  };
}
Check<int64_t> at_least(int64_t lo) {
  return [lo](const int64_t& v) {
    if (v < lo) bad_value(fmt::format("must be >= {}, got {}", lo, v));
  };
}
Check<double> in_range(double lo, double hi, bool hi_inclusive = true) {
  return [=](const double& v) {
    if (!(v >= lo && (hi_inclusive ? v <= hi : v < hi)))
      bad_value(fmt::format("must be in [{}, {}{}, got {}", lo, hi, hi_inclusive ? "]" : ")", v));
  };
}
Check<std::vector<int64_t>> positive_sizes() {
  return [](const std::vector<int64_t>& v) {
    for (int64_t size : v)
      if (size < 1) bad_value(fmt::format("sizes must be >= 1, got {}", size));
  };
}
Check<std::optional<double>> momentum_range() {
  return [](const std::optional<double>& v) {
    if (v && !(*v >= 0 && *v <= 1)) bad_value(fmt::format("must be in [0, 1] or \"none\", got {}", *v));
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
                typename NonDeduced<Check<T>>::type check = nullptr,
                std::vector<std::string> choices = {}) {
  ConfigKey key;
  key.name = name;
  key.type = FieldType<T>::type;
  key.help = std::move(help);
  key.choices = choices;
  key.set = [section, member, check, choices](RunConfig& config, const ConfigValue& value) {
    T typed = FieldType<T>::from(value);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!choices.empty() && std::find(choices.begin(), choices.end(), typed) == choices.end())
        bad_value(fmt::format("must be one of {}, got \"{}\"", join(choices, ", "), typed));
    }
    if (check) check(typed);
    config.*section.*member = typed;
  };
  key.get = [section, member](const RunConfig& config) {
    return FieldType<T>::to(config.*section.*member);
  };
  return key;
}

ConfigKey bn_preset_key() {
  ConfigKey key = field("bn.preset", &RunConfig::bn, &BnConfig::preset,
                        "pytorch: eps 1e-5, momentum 0.1; keras: Keras' defaults, eps 1e-3 and "
                        "momentum 0.01 (Keras' 0.99). Sets bn.eps and bn.momentum; later keys win",
                        nullptr, {"pytorch", "keras"});
  key.is_preset = true;
  auto store = key.set;
  key.set = [store](RunConfig& config, const ConfigValue& value) {
    store(config, value);
    const bool keras = config.bn.preset == "keras";
    config.bn.eps = keras ? 1e-3 : 1e-5;
    config.bn.momentum = keras ? 0.01 : 0.1;
  };
  return key;
}

std::vector<ConfigKey> build_registry() {
  using R = RunConfig;
  return {
      field("dataset", &R::data, &DataConfig::dataset, "data set to train and evaluate on", nullptr,
            {"mnist", "fashion-mnist", "synthetic"}),
      field("data.standardize", &R::data, &DataConfig::standardize,
            "standardise pixels with the training set's mean and std (else pixels in [0,1])"),
      field("data.train_subset", &R::data, &DataConfig::train_subset,
            "train on the first K samples only (0: all)", at_least(0)),
      field("data.synthetic_train", &R::data, &DataConfig::synthetic_train,
            "synthetic data set: training samples", at_least(2)),
      field("data.synthetic_test", &R::data, &DataConfig::synthetic_test,
            "synthetic data set: test samples", at_least(1)),
      field("model.arch", &R::model, &ModelConfig::arch, "network", nullptr, {"mlp", "cnn"}),
      field("model.hidden", &R::model, &ModelConfig::hidden,
            "hidden Dense sizes ([]: mlp [128, 64], cnn [64])", positive_sizes()),
      field("model.conv_channels", &R::model, &ModelConfig::conv_channels,
            "cnn: channels of each 3x3 conv (each followed by 2x2 max-pool)", positive_sizes()),
      field("model.activation", &R::model, &ModelConfig::activation, "hidden activation", nullptr,
            {"relu", "sigmoid", "tanh"}),
      field("model.dropout", &R::model, &ModelConfig::dropout,
            "dropout rate after each hidden block (0: none)", in_range(0, 1, false)),
      field("model.dropout_placement", &R::model, &ModelConfig::dropout_placement,
            "dropout at the end of each block (after-norm) or right before the BatchNorm layer (before-norm)",
            nullptr, {"after-norm", "before-norm"}),
      field("model.norm", &R::model, &ModelConfig::norm,
            "normalisation per hidden layer: none, native (torch::nn::BatchNorm1d/2d), custom (bnlab)",
            nullptr, {"none", "native", "custom"}),
      field("model.placement", &R::model, &ModelConfig::placement,
            "BatchNorm before or after the activation (auto: mlp before, cnn after)", nullptr,
            {"auto", "before", "after"}),
      field("model.init", &R::model, &ModelConfig::init,
            "weight init: pytorch (kaiming-uniform), glorot (Keras: glorot_uniform, zero bias)",
            nullptr, {"pytorch", "glorot"}),
      bn_preset_key(),
      field("bn.eps", &R::bn, &BnConfig::eps, "added to the variance", positive()),
      field("bn.momentum", &R::bn, &BnConfig::momentum,
            "running-statistics momentum (PyTorch convention), or \"none\" for a cumulative average",
            momentum_range()),
      field("bn.affine", &R::bn, &BnConfig::affine, "learnable gamma and beta"),
      field("bn.gamma_init", &R::bn, &BnConfig::gamma_init, "initial gamma"),
      field("bn.beta_init", &R::bn, &BnConfig::beta_init, "initial beta"),
      field("bn.kernels", &R::bn, &BnConfig::kernels,
            "bnlab's BN (model.norm = custom): fused (vectorised) or reference (readable loops) kernels", nullptr,
            {"fused", "reference"}),
      field("bn.fuse_relu", &R::bn, &BnConfig::fuse_relu,
            "bnlab's BN right before a ReLU (model.norm = custom, model.placement = before, model.activation = "
            "relu): compute the ReLU inside the BatchNorm layer, in the same kernel passes (same results, less "
            "memory traffic; the model then lists no separate act layer). Not while log.bn_stats_every > 0, "
            "which reads the ReLU's input"),
      field("bn.mode", &R::bn, &BnConfig::mode,
            "bnlab's BN in a data-parallel job: local (each rank its own batch statistics) or sync "
            "(statistics of the whole batch over all ranks)", nullptr, {"local", "sync"}),
      field("train.optimizer", &R::train, &TrainConfig::optimizer, "optimiser", nullptr,
            {"adam", "sgd"}),
      field("train.lr", &R::train, &TrainConfig::lr, "learning rate", positive()),
      field("train.momentum", &R::train, &TrainConfig::momentum, "sgd momentum", in_range(0, 1, false)),
      field("train.nesterov", &R::train, &TrainConfig::nesterov, "sgd: Nesterov momentum"),
      field("train.weight_decay", &R::train, &TrainConfig::weight_decay, "L2 weight decay",
            in_range(0, 1)),
      field("train.schedule", &R::train, &TrainConfig::schedule, "learning-rate schedule per epoch",
            nullptr, {"none", "step", "cosine"}),
      field("train.step_size", &R::train, &TrainConfig::step_size,
            "step schedule: epochs between decays", at_least(1)),
      field("train.step_gamma", &R::train, &TrainConfig::step_gamma, "step schedule: decay factor",
            in_range(0, 1)),
      field("train.batch_size", &R::train, &TrainConfig::batch_size, "batch size", at_least(1)),
      field("train.epochs", &R::train, &TrainConfig::epochs, "epochs", at_least(1)),
      field("train.eval_every", &R::train, &TrainConfig::eval_every,
            "also evaluate every K steps into steps.csv (0: per epoch only)", at_least(0)),
      field("log.bn_stats_every", &R::log, &LogConfig::bn_stats_every,
            "log BatchNorm internals to bn_stats.csv every K steps (0: off)", at_least(0)),
      field("dist.world_size", &R::dist, &DistConfig::world_size,
            "run only in a data-parallel job of this many processes (0: any); train.batch_size is per rank",
            at_least(0)),
  };
}

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

std::string to_string(const ConfigValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return "\"" + v + "\"";
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>) return fmt::format("[{}]", fmt::join(v, ", "));
        else if constexpr (std::is_same_v<T, NoneValue>) return "\"none\"";
        else return fmt::format("{}", v);
      },
      value);
}

std::string type_name(ValueType type) {
  switch (type) {
    case ValueType::kBool: return "bool";
    case ValueType::kInt: return "integer";
    case ValueType::kFloat: return "number";
    case ValueType::kString: return "string";
    case ValueType::kIntList: return "list of integers";
    case ValueType::kFloatOrNone: return "number or \"none\"";
  }
  return "?";
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> registry = build_registry();
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

ConfigValue parse_config_value(const ConfigKey& key, const std::string& text) {
  switch (key.type) {
    case ValueType::kBool:
      if (text == "true" || text == "1") return true;
      if (text == "false" || text == "0") return false;
      bad_value(fmt::format("expected true or false, got '{}'", text));
    case ValueType::kInt: return parse_int(text, key.name);
    case ValueType::kFloat: return parse_double(text, key.name);
    case ValueType::kString: return text;
    case ValueType::kFloatOrNone:
      if (text == "none") return NoneValue{};
      return parse_double(text, key.name);
    case ValueType::kIntList: {
      std::string inner = text;
      if (!inner.empty() && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
      std::vector<int64_t> values;
      for (const auto& part : split(inner, ','))
        if (!part.empty()) values.push_back(parse_int(part, key.name));
      return values;
    }
  }
  bad_value("unsupported type");
}

void apply_overrides(RunConfig& config, const Overrides& overrides) {
  for (const bool presets : {true, false})
    for (const auto& [name, value] : overrides) {
      const ConfigKey& key = find_config_key(name);
      if (key.is_preset != presets) continue;
      try {
        key.set(config, value);
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(fmt::format("{}: {}", name, error.what()));
      }
    }
}

RunConfig resolved(RunConfig config) {
  const bool cnn = config.model.arch == "cnn";
  if (config.model.hidden.empty()) config.model.hidden = cnn ? std::vector<int64_t>{64} : std::vector<int64_t>{128, 64};
  if (config.model.placement == "auto") config.model.placement = cnn ? "after" : "before";
  return config;
}

void validate(const RunConfig& config) {
  // Without BatchNorm the mode is moot; native BatchNorm cannot synchronise.
  if (config.bn.mode == "sync" && config.model.norm == "native")
    bad_value(fmt::format("bn.mode = \"sync\" needs bnlab's BatchNorm (model.norm = \"custom\"), got model.norm = \"{}\"",
                          config.model.norm));
  // Sync BN normalises over every rank's samples, so one per rank can do.
  if (config.model.norm != "none" && config.train.batch_size < 2 && config.bn.mode != "sync")
    bad_value(fmt::format("train.batch_size: BatchNorm (model.norm = \"{}\") needs at least 2 samples "
                          "per batch, got {}", config.model.norm, config.train.batch_size));
  if (config.model.dropout_placement == "before-norm" && (config.model.norm == "none" || config.model.dropout == 0))
    bad_value("model.dropout_placement = \"before-norm\" needs a BatchNorm layer (model.norm) and model.dropout > 0");
  if (config.model.arch == "cnn" && config.model.conv_channels.empty())
    bad_value("model.conv_channels: the cnn needs at least one conv layer");
  if (config.model.arch == "cnn" && config.model.conv_channels.size() > 3)
    bad_value(fmt::format("model.conv_channels: at most 3 conv layers fit 28x28 inputs, got {}",
                          config.model.conv_channels.size()));
}

std::vector<std::pair<std::string, std::string>> describe(const RunConfig& config) {
  std::vector<std::pair<std::string, std::string>> lines;
  for (const auto& key : config_keys()) lines.emplace_back(key.name, to_string(key.get(config)));
  return lines;
}

}  // namespace bnlab::experiments
