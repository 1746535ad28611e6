#pragma once
// Finding runs on disk: a metrics CSV, a run folder (holding metrics.csv) or
// an experiment's results folder (holding <variant>/seed-<s>/metrics.csv).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runs/layout.h"

namespace bnlab::runs {

struct RunRef {
  std::string variant;
  int64_t seed = 0;
  std::filesystem::path dir;  // holds metrics.csv (and run.json, steps.csv)
  RunFiles files() const { return RunFiles(dir); }
  std::filesystem::path metrics_csv() const { return files().metrics_csv(); }
};

enum class ResultsPathKind { kCsvFile, kRunDir, kExperimentDir };

struct ResultsPath {
  ResultsPathKind kind;
  std::filesystem::path path;
  std::string experiment;    // experiment and run folders: the experiment's name
  std::vector<RunRef> runs;  // run and experiment folders
  // A CSV file itself, or a run folder's metrics.csv.
  std::filesystem::path metrics_csv() const {
    return kind == ResultsPathKind::kCsvFile ? path : runs.front().metrics_csv();
  }
};

// Throws std::runtime_error naming the path and what was expected.
ResultsPath resolve_results_path(const std::filesystem::path& path);

// The runs of an experiment folder, variants in the experiment file's order
// when experiments/<name>.toml exists (else by name), seeds ascending.
std::vector<RunRef> experiment_runs(const std::filesystem::path& experiment_dir);

// Distinct variant names of `runs`, in order of first appearance.
std::vector<std::string> variant_names(const std::vector<RunRef>& runs);

}  // namespace bnlab::runs
