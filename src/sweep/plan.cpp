#include "sweep/plan.h"

#include <fmt/format.h>

#include <stdexcept>

#include "runs/layout.h"

namespace bnlab::sweep {

std::vector<PlannedRun> plan_runs(const experiments::Experiment& experiment, const RunRequest& request) {
  std::vector<const experiments::Variant*> variants;
  if (request.variants.empty())
    for (const auto& v : experiment.variants) variants.push_back(&v);
  else
    for (const auto& name : request.variants) variants.push_back(&experiment.variant(name));
  const auto& seeds = request.seeds.empty() ? experiment.seeds : request.seeds;

  std::vector<PlannedRun> runs;
  for (const experiments::Variant* variant : variants) {
    std::vector<experiments::ResolvedStage> stages;
    try {
      stages = experiment.stages_for(*variant, request.sets);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(fmt::format("variant {}: {}", variant->name, error.what()));
    }
    for (int64_t seed : seeds)
      runs.push_back({experiment.name, variant->name, seed, stages.front().config, stages,
                      runs::run_directory(request.results_root, experiment.name, variant->name, seed)});
  }
  return runs;
}

bool has_named_stages(const PlannedRun& run) { return !run.stages.front().spec.name.empty(); }

}  // namespace bnlab::sweep
