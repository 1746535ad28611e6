#include "experiments/resolve.h"

#include <fmt/format.h>

#include <stdexcept>

#include "models/norm.h"

namespace bnlab::experiments {
namespace {

[[noreturn]] void bad_value(const std::string& reason) { throw std::invalid_argument(reason); }

}  // namespace

std::pair<std::string, ConfigValue> parse_override(const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0)
    throw std::invalid_argument(fmt::format("expected key=value, got '{}'", text));
  const std::string name = text.substr(0, equals);
  return {name, to_config_value(find_config_key(name), TextLiteral(text.substr(equals + 1)))};
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
  const bool cnn = config.model.arch == models::Arch::kCnn;
  if (config.model.hidden.empty()) config.model.hidden = cnn ? std::vector<int64_t>{64} : std::vector<int64_t>{128, 64};
  if (!config.model.placement) config.model.placement = cnn ? models::Placement::kAfter : models::Placement::kBefore;
  return config;
}

namespace {

// Ghost BatchNorm: bnlab's BatchNorm only, one rank's samples, and (in the
// MLP, one value per sample and feature) more than one sample in every
// virtual batch of a full batch.
void validate_virtual_batches(const RunConfig& config) {
  const int64_t virtual_batch = config.bn.virtual_batch_size;
  if (virtual_batch == 0 || config.model.norm == models::NormKind::kNone) return;
  if (config.model.norm != models::NormKind::kCustom)
    bad_value(
        fmt::format("bn.virtual_batch_size = {} needs bnlab's BatchNorm (model.norm = \"custom\"), got "
                    "model.norm = \"{}\"",
                    virtual_batch, to_name(config.model.norm)));
  if (config.bn.mode == BnMode::kSync)
    bad_value(
        fmt::format("bn.virtual_batch_size = {}: virtual batches are one rank's, bn.mode = \"sync\" "
                    "normalises over all ranks; choose one",
                    virtual_batch));
  const int64_t batch = config.train.batch_size;
  if (config.model.arch == models::Arch::kMlp && batch > virtual_batch &&
      (virtual_batch == 1 || batch % virtual_batch == 1))
    bad_value(
        fmt::format("bn.virtual_batch_size = {} with train.batch_size = {} leaves a virtual batch of one "
                    "sample (one value per feature in the mlp)",
                    virtual_batch, batch));
}

// Batch Renormalization: bnlab's BatchNorm only, and not with virtual batches.
void validate_renorm(const RunConfig& config) {
  if (!config.bn.renorm || config.model.norm == models::NormKind::kNone) return;
  if (config.model.norm != models::NormKind::kCustom)
    bad_value(fmt::format("bn.renorm = true needs bnlab's BatchNorm (model.norm = \"custom\"), got model.norm = \"{}\"",
                          to_name(config.model.norm)));
  if (config.bn.virtual_batch_size != 0)
    bad_value(fmt::format("bn.renorm = true with bn.virtual_batch_size = {} is not supported: choose one",
                          config.bn.virtual_batch_size));
}

// The group norms: every layer's group count (models::groups_for_layer's
// rules) checked here, so that a bad one is bad input, not a failed run.
void validate_groups(const RunConfig& config) {
  const models::NormKind kind = config.model.norm;
  if (kind == models::NormKind::kNone || models::is_batch_norm_kind(kind)) return;
  const bool cnn = config.model.arch == models::Arch::kCnn;
  if (!cnn && !models::normalises_dense_layers(kind))
    bad_value(
        fmt::format("model.norm = \"{}\" normalises conv layers only (one value per feature and sample "
                    "in a Dense layer), and the mlp has none",
                    to_name(kind)));
  models::NormOptions norm;
  norm.kind = kind;
  norm.groups = config.gn.groups;
  try {
    if (cnn)
      for (int64_t channels : config.model.conv_channels) models::groups_for_layer(norm, channels, false);
    if (models::normalises_dense_layers(kind))
      for (int64_t features : config.model.hidden) models::groups_for_layer(norm, features, true);
  } catch (const std::invalid_argument& error) {
    bad_value(fmt::format("model.norm = \"{}\": {}", to_name(kind), error.what()));
  }
}

}  // namespace

void validate(const RunConfig& config) {
  using models::NormKind;
  const auto norm = to_name(config.model.norm);
  // Without BatchNorm the mode is moot; native BatchNorm cannot synchronise.
  if (config.bn.mode == BnMode::kSync && config.model.norm != NormKind::kCustom && config.model.norm != NormKind::kNone)
    bad_value(fmt::format(
        "bn.mode = \"sync\" needs bnlab's BatchNorm (model.norm = \"custom\"), got model.norm = \"{}\"", norm));
  // Sync BN normalises over every rank's samples, so one per rank can do.
  if (models::is_batch_norm_kind(config.model.norm) && config.train.batch_size < 2 && config.bn.mode != BnMode::kSync)
    bad_value(
        fmt::format("train.batch_size: BatchNorm (model.norm = \"{}\") needs at least 2 samples "
                    "per batch, got {}",
                    norm, config.train.batch_size));
  validate_virtual_batches(config);
  validate_renorm(config);
  validate_groups(config);
  if (config.model.dropout_placement == models::DropoutPlacement::kBeforeNorm &&
      (config.model.norm == NormKind::kNone || config.model.dropout == 0))
    bad_value("model.dropout_placement = \"before-norm\" needs a BatchNorm layer (model.norm) and model.dropout > 0");
  const bool cnn = config.model.arch == models::Arch::kCnn;
  if (cnn && config.model.conv_channels.empty())
    bad_value("model.conv_channels: the cnn needs at least one conv layer");
  if (cnn && config.model.conv_channels.size() > 3)
    bad_value(fmt::format("model.conv_channels: at most 3 conv layers fit 28x28 inputs, got {}",
                          config.model.conv_channels.size()));
}

RunConfig resolve_config(const std::vector<const Overrides*>& layers) {
  RunConfig config;
  for (const Overrides* layer : layers) apply_overrides(config, *layer);
  config = resolved(config);
  validate(config);
  return config;
}

}  // namespace bnlab::experiments
