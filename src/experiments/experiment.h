#pragma once
// Named experiments: TOML files in experiments/ with a description, a base
// config, named variants (overrides of the base) and seeds.
//
//   description = "..."
//   seeds = [0, 1, 2]
//   [base]
//   train.epochs = 10
//   [variants.bn-custom]
//   model.norm = "custom"
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/run_config.h"

namespace bnlab::experiments {

struct Variant {
  std::string name;
  Overrides overrides;
};

struct Experiment {
  std::string name;  // the file's stem
  std::filesystem::path file;
  std::string description;
  Overrides base;
  std::vector<Variant> variants;  // at least one ("default" when the file names none)
  std::vector<int64_t> seeds;     // at least one

  const Variant& variant(const std::string& name) const;  // throws listing the variants
  // defaults + base + variant + extra, arch defaults made explicit, validated.
  RunConfig config_for(const Variant& variant, const Overrides& extra = {}) const;
};

// Parses and validates a file; every error names the file, line, key and reason.
Experiment load_experiment_file(const std::filesystem::path& file);

// experiments/ in the source tree, or $BNLAB_EXPERIMENTS_DIR.
std::filesystem::path experiments_dir();

// A name ("keras-mlp") from experiments_dir(), or a path to a .toml file.
Experiment load_experiment(const std::string& name_or_path);

// Every *.toml in `dir`, by name. Throws on the first invalid file.
std::vector<Experiment> load_all_experiments(const std::filesystem::path& dir);

}  // namespace bnlab::experiments
