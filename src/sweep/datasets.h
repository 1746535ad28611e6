#pragma once
// Data sets loaded once per process and shared by the runs of a sweep.
#include <filesystem>
#include <map>
#include <string>

#include "data/dataset.h"
#include "experiments/run_config.h"

namespace bnlab::sweep {

// The classes of the data set a config names, without loading it.
int64_t num_classes(const experiments::DataConfig& config);

class DatasetCache {
 public:
  // The data set a config names, standardised and subset as it says.
  const data::Dataset& get(const experiments::DataConfig& config, const std::filesystem::path& data_dir);

 private:
  std::map<std::string, data::Dataset> loaded_;
};

}  // namespace bnlab::sweep
