#include "runs/discovery.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "experiments/catalog.h"
#include "runs/layout.h"
#include "runs/record.h"

namespace bnlab::runs {
namespace fs = std::filesystem;
namespace {

// A run folder's variant and seed: from its run.json when it names them,
// else from the folder's names.
RunRef run_ref(const fs::path& dir) {
  RunRef ref{dir.parent_path().filename().string(), seed_of_folder(dir.filename().string()).value_or(0), dir};
  if (const auto record = read_run_record(dir)) {
    if (!record->variant.empty()) ref.variant = record->variant;
    ref.seed = record->seed;
  }
  return ref;
}

std::vector<std::string> variant_order(const std::string& experiment) {
  try {
    std::vector<std::string> names;
    for (const auto& v : experiments::load_experiment(experiment).variants) names.push_back(v.name);
    return names;
  } catch (const std::exception&) {
    return {};  // no (valid) experiment file by that name: alphabetical order
  }
}

}  // namespace

std::vector<RunRef> experiment_runs(const fs::path& experiment_dir) {
  std::vector<RunRef> runs;
  for (const auto& variant : fs::directory_iterator(experiment_dir)) {
    if (!variant.is_directory()) continue;
    for (const auto& seed : fs::directory_iterator(variant.path()))
      if (seed.is_directory() && seed_of_folder(seed.path().filename().string()) &&
          fs::exists(RunFiles(seed.path()).metrics_csv()))
        runs.push_back(run_ref(seed.path()));
  }
  const auto order = variant_order(experiment_dir.filename().string());
  auto rank = [&](const std::string& variant) {
    auto it = std::find(order.begin(), order.end(), variant);
    return it == order.end() ? order.size() : size_t(it - order.begin());
  };
  std::sort(runs.begin(), runs.end(), [&](const RunRef& a, const RunRef& b) {
    return std::make_tuple(rank(a.variant), a.variant, a.seed) < std::make_tuple(rank(b.variant), b.variant, b.seed);
  });
  return runs;
}

ResultsPath resolve_results_path(const fs::path& given) {
  // "results/keras-mlp/" names the folder keras-mlp.
  const fs::path path = given.filename().empty() ? given.parent_path() : given;
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: no such file or directory", path.string()));
  if (fs::is_regular_file(path)) return {ResultsPathKind::kCsvFile, path, "", {}};
  if (fs::exists(RunFiles(path).metrics_csv()))  // <root>/<experiment>/<variant>/seed-<s>
    return {ResultsPathKind::kRunDir, path, path.parent_path().parent_path().filename().string(), {run_ref(path)}};
  auto runs = experiment_runs(path);
  if (!runs.empty()) return {ResultsPathKind::kExperimentDir, path, path.filename().string(), runs};
  throw std::runtime_error(
      fmt::format("{}: neither a metrics CSV, a run folder (with metrics.csv) nor an experiment results folder "
                  "(with <variant>/seed-<s>/metrics.csv)",
                  path.string()));
}

std::vector<std::string> variant_names(const std::vector<RunRef>& runs) {
  std::vector<std::string> names;
  for (const auto& run : runs)
    if (std::find(names.begin(), names.end(), run.variant) == names.end()) names.push_back(run.variant);
  return names;
}

}  // namespace bnlab::runs
