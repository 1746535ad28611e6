#include "experiments/run_plan.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

namespace bnlab::experiments {

std::vector<PlannedRun> plan_runs(const Experiment& experiment, const RunRequest& request) {
  std::vector<const Variant*> variants;
  if (request.variants.empty())
    for (const auto& v : experiment.variants) variants.push_back(&v);
  else
    for (const auto& name : request.variants) variants.push_back(&experiment.variant(name));
  const auto& seeds = request.seeds.empty() ? experiment.seeds : request.seeds;

  std::vector<PlannedRun> runs;
  for (const Variant* variant : variants) {
    std::vector<ResolvedStage> stages;
    try {
      stages = experiment.stages_for(*variant, request.sets);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(fmt::format("variant {}: {}", variant->name, error.what()));
    }
    for (int64_t seed : seeds)
      runs.push_back({experiment.name, variant->name, seed, stages.front().config, stages,
                      run_directory(request.results_root, experiment.name, variant->name, seed)});
  }
  return runs;
}

std::filesystem::path default_results_root() {
  const char* override_dir = std::getenv("BNLAB_RESULTS_DIR");
  return override_dir && *override_dir ? std::filesystem::path(override_dir)
                                       : std::filesystem::path(BNLAB_SOURCE_DIR) / "results";
}

std::filesystem::path run_directory(const std::filesystem::path& root, const std::string& experiment,
                                    const std::string& variant, int64_t seed) {
  return root / experiment / variant / fmt::format("seed-{}", seed);
}

}  // namespace bnlab::experiments
