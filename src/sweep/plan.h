#pragma once
// Which runs a `bnlab run` means: variants x seeds of an experiment, each
// with its resolved config and its results folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/experiment.h"

namespace bnlab::sweep {

struct RunRequest {
  std::vector<std::string> variants;   // empty: all of the experiment's
  std::vector<int64_t> seeds;          // empty: the experiment's
  experiments::Overrides sets;         // --set (and --epochs), applied last, in order
  std::filesystem::path results_root;  // runs go to <root>/<experiment>/<variant>/seed-<s>
};

struct PlannedRun {
  std::string experiment;
  std::string variant;
  int64_t seed = 0;
  experiments::RunConfig config;                   // the first stage's, resolved and validated
  std::vector<experiments::ResolvedStage> stages;  // at least one
  std::filesystem::path dir;
};

// Throws std::invalid_argument for an unknown variant or a bad --set value.
std::vector<PlannedRun> plan_runs(const experiments::Experiment& experiment, const RunRequest& request);

// Whether the run has named stages (its metrics.csv then has a stage column).
bool has_named_stages(const PlannedRun& run);

}  // namespace bnlab::sweep
