#pragma once
// Everything that defines one training run, and the registry of config keys
// through which experiment files and `--set key=value` change it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bnlab::experiments {

struct DataConfig {
  std::string dataset = "mnist";  // mnist | fashion-mnist | synthetic
  bool standardize = false;       // subtract train mean / divide by std (else pixels in [0,1])
  int64_t train_subset = 0;       // first K training samples only; 0: all
  int64_t synthetic_train = 2000; // sizes of the synthetic data set
  int64_t synthetic_test = 500;
};

struct ModelConfig {
  std::string arch = "mlp";              // mlp | cnn
  std::vector<int64_t> hidden;           // hidden Dense sizes; empty: mlp [128, 64], cnn [64]
  std::vector<int64_t> conv_channels = {32};  // cnn: one 3x3 conv + 2x2 max-pool per entry
  std::string activation = "relu";       // relu | sigmoid | tanh
  double dropout = 0.0;                  // after each hidden block; 0: none
  std::string dropout_placement = "after-norm";  // after-norm (block end) | before-norm
  std::string norm = "none";             // none | native | custom
  std::string placement = "auto";        // before | after the activation; auto: mlp before, cnn after
  std::string init = "pytorch";          // pytorch | glorot
};

struct BnConfig {
  std::string preset = "pytorch";        // pytorch (eps 1e-5, momentum 0.1) | keras (1e-3, 0.01)
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // nullopt: cumulative average
  bool affine = true;
  double gamma_init = 1.0;
  double beta_init = 0.0;
  std::string kernels = "fused";         // custom BN only: fused | reference
  std::string mode = "local";            // custom BN across ranks: local | sync
  bool fuse_relu = true;                 // custom BN right before a ReLU: one layer (models::fuses_relu)
};

struct TrainConfig {
  std::string optimizer = "adam";  // adam | sgd
  double lr = 1e-3;
  double momentum = 0.0;           // sgd
  bool nesterov = false;           // sgd
  double weight_decay = 0.0;
  std::string schedule = "none";   // none | step | cosine (per epoch)
  int64_t step_size = 1;           // step schedule: epochs between decays
  double step_gamma = 0.1;         // step schedule: decay factor
  int64_t batch_size = 32;
  int64_t epochs = 10;
  int64_t eval_every = 0;          // also evaluate every K steps (to steps.csv); 0: per epoch only
};

struct LogConfig {
  int64_t bn_stats_every = 0;  // BatchNorm internals to bn_stats.csv every K steps; 0: off
};

struct DistConfig {
  // The world size a run is meant for: a data-parallel job runs only the runs
  // whose value is its own world size (0: any, including one process).
  int64_t world_size = 0;
};

struct RunConfig {
  DataConfig data;
  ModelConfig model;
  BnConfig bn;
  TrainConfig train;
  LogConfig log;
  DistConfig dist;
};

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
  // Validates and stores; throws std::invalid_argument with the reason.
  std::function<void(RunConfig&, const ConfigValue&)> set;
  std::function<ConfigValue(const RunConfig&)> get;
};

const std::vector<ConfigKey>& config_keys();

// Throws std::invalid_argument "unknown key 'x' (did you mean 'y'?)".
const ConfigKey& find_config_key(const std::string& name);

// Parses command-line text for a key ("0.1", "none", "128,64", "true").
ConfigValue parse_config_value(const ConfigKey& key, const std::string& text);

// One layer of settings (base, a variant, --set): applied presets first,
// then the rest in order. Throws std::invalid_argument naming the key.
using Overrides = std::vector<std::pair<std::string, ConfigValue>>;
void apply_overrides(RunConfig& config, const Overrides& overrides);

// Arch-dependent defaults made explicit (hidden sizes, placement).
RunConfig resolved(RunConfig config);

// Checks that need several keys (e.g. BatchNorm needs batch_size >= 2).
// Throws std::invalid_argument.
void validate(const RunConfig& config);

// "key = value" lines for every key, in registry order.
std::vector<std::pair<std::string, std::string>> describe(const RunConfig& config);

}  // namespace bnlab::experiments
