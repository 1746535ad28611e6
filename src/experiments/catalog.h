#pragma once
// Where named experiments are found: experiments/*.toml in the source tree,
// or $BNLAB_EXPERIMENTS_DIR.
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/experiment.h"

namespace bnlab::experiments {

// experiments/ in the source tree, or $BNLAB_EXPERIMENTS_DIR.
std::filesystem::path experiments_dir();

// A name ("keras-mlp") from experiments_dir(), or a path to a .toml file.
// An unknown name throws std::invalid_argument listing the available ones.
Experiment load_experiment(const std::string& name_or_path);

// Every *.toml in `dir`, by name. Throws on the first invalid file.
std::vector<Experiment> load_all_experiments(const std::filesystem::path& dir);

}  // namespace bnlab::experiments
