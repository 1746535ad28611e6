#pragma once
// A resolved RunConfig as run.json holds it ("config", and each stage's):
// one member per config key, the value as the key's type writes it ("none"
// for an absent optional number). The one owner of that encoding.
#include <nlohmann/json.hpp>

#include "experiments/run_config.h"

namespace bnlab::runs {

nlohmann::json config_to_json(const experiments::RunConfig& config);

// The config a run.json member describes: its keys applied to the defaults,
// each value checked by its key. A key the file lacks keeps its default (a
// record written before the key existed); an unknown key or a bad value
// throws std::invalid_argument naming it.
experiments::RunConfig config_from_json(const nlohmann::json& config);

}  // namespace bnlab::runs
