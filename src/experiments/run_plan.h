#pragma once
// Which runs a `bnlab run` means: variants x seeds of an experiment, each
// with its resolved config and its results folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/experiment.h"

namespace bnlab::experiments {

struct RunRequest {
  std::vector<std::string> variants;  // empty: all of the experiment's
  std::vector<int64_t> seeds;         // empty: the experiment's
  Overrides sets;                     // --set (and --epochs), applied last, in order
  std::filesystem::path results_root; // runs go to <root>/<experiment>/<variant>/seed-<s>
};

struct PlannedRun {
  std::string experiment;
  std::string variant;
  int64_t seed = 0;
  RunConfig config;  // the first stage's, resolved and validated
  std::vector<ResolvedStage> stages;  // at least one
  std::filesystem::path dir;
};

// Throws std::invalid_argument for an unknown variant or a bad --set value.
std::vector<PlannedRun> plan_runs(const Experiment& experiment, const RunRequest& request);

// results/ in the source tree, or $BNLAB_RESULTS_DIR.
std::filesystem::path default_results_root();

std::filesystem::path run_directory(const std::filesystem::path& root, const std::string& experiment,
                                    const std::string& variant, int64_t seed);

}  // namespace bnlab::experiments
