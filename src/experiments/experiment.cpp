#include "experiments/experiment.h"

#include <fmt/format.h>

#include <stdexcept>

namespace bnlab::experiments {

const EnumNames<StageAction>& enum_names(StageAction) {
  static const EnumNames<StageAction> names = {
      {StageAction::kTrain, "train"}, {StageAction::kRecalibrate, "recalibrate"}, {StageAction::kEvaluate, "evaluate"}};
  return names;
}

const Variant& Experiment::variant(const std::string& wanted) const {
  std::vector<std::string> names;
  for (const auto& v : variants) {
    if (v.name == wanted) return v;
    names.push_back(v.name);
  }
  throw std::invalid_argument(fmt::format("experiment '{}' has no variant '{}' (variants: {})", name,
                                          wanted, fmt::join(names, ", ")));
}

RunConfig Experiment::config_for(const Variant& v, const Overrides& extra) const {
  return resolve_config({&base, &v.overrides, &extra});
}

std::vector<ResolvedStage> Experiment::stages_for(const Variant& v, const Overrides& extra) const {
  const std::vector<StageSpec> specs = v.stages.empty() ? std::vector<StageSpec>{StageSpec{}} : v.stages;
  // Stage overrides accumulate onto the variant's, as one layer (its presets
  // apply before its other keys, wherever they were written).
  Overrides so_far = v.overrides;
  std::vector<ResolvedStage> stages;
  for (const auto& spec : specs) {
    so_far.insert(so_far.end(), spec.overrides.begin(), spec.overrides.end());
    try {
      stages.push_back({spec, resolve_config({&base, &so_far, &extra})});
    } catch (const std::invalid_argument& error) {
      if (spec.name.empty()) throw;
      throw std::invalid_argument(fmt::format("stage {}: {}", spec.name, error.what()));
    }
  }
  return stages;
}

}  // namespace bnlab::experiments
