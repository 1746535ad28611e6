#include "experiments/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace bnlab::experiments {
namespace fs = std::filesystem;

fs::path experiments_dir() {
  const char* override_dir = std::getenv("BNLAB_EXPERIMENTS_DIR");
  return override_dir && *override_dir ? fs::path(override_dir) : fs::path(BNLAB_SOURCE_DIR) / "experiments";
}

std::vector<Experiment> load_all_experiments(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".toml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<Experiment> experiments;
  for (const auto& file : files) experiments.push_back(load_experiment_file(file));
  return experiments;
}

Experiment load_experiment(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos || fs::path(name_or_path).extension() == ".toml")
    return load_experiment_file(name_or_path);
  const fs::path file = experiments_dir() / (name_or_path + ".toml");
  if (fs::exists(file)) return load_experiment_file(file);
  std::vector<std::string> names;
  if (fs::is_directory(experiments_dir()))
    for (const auto& entry : fs::directory_iterator(experiments_dir()))
      if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  throw std::invalid_argument(fmt::format("no experiment named '{}' in {} (available: {})", name_or_path,
                                          experiments_dir().string(), fmt::join(names, ", ")));
}

}  // namespace bnlab::experiments
