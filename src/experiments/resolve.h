#pragma once
// From layers of settings to the config a run uses: defaults, then each
// layer's overrides (base, variant, stages so far, --set), then the arch's
// defaults made explicit and the checks that need several keys.
#include <string>
#include <utility>
#include <vector>

#include "experiments/config_keys.h"

namespace bnlab::experiments {

// One layer of settings (base, a variant, a stage, --set), in order.
using Overrides = std::vector<std::pair<std::string, ConfigValue>>;

// One "key=value" override as `--set` gives it: the key looked up, the value
// converted and checked by it. Throws std::invalid_argument naming the
// problem ("expected key=value, got 'x'", an unknown key with a suggestion,
// the key's own reason).
std::pair<std::string, ConfigValue> parse_override(const std::string& text);

// Applies a layer: presets first, then the rest in order. Throws
// std::invalid_argument naming the key.
void apply_overrides(RunConfig& config, const Overrides& overrides);

// Arch-dependent defaults made explicit (hidden sizes, placement).
RunConfig resolved(RunConfig config);

// Checks that need several keys (e.g. BatchNorm needs batch_size >= 2).
// Throws std::invalid_argument.
void validate(const RunConfig& config);

// Defaults + every layer in order, resolved and validated: the one way a
// run's config is made, for single-stage and staged runs alike.
RunConfig resolve_config(const std::vector<const Overrides*>& layers);

}  // namespace bnlab::experiments
