#include "sweep/datasets.h"

#include <fmt/format.h>

#include "data/catalog.h"
#include "data/synthetic.h"

namespace bnlab::sweep {
namespace {

std::string dataset_key(const experiments::DataConfig& c) {
  return fmt::format("{}|{}|{}|{}|{}", c.dataset, c.standardize, c.train_subset, c.synthetic_train, c.synthetic_test);
}

}  // namespace

int64_t num_classes(const experiments::DataConfig& config) {
  return config.dataset == "synthetic" ? data::kSyntheticClasses : data::find_dataset(config.dataset).num_classes;
}

const data::Dataset& DatasetCache::get(const experiments::DataConfig& config, const std::filesystem::path& data_dir) {
  const std::string key = dataset_key(config);
  auto found = loaded_.find(key);
  if (found != loaded_.end()) return found->second;
  // The synthetic set is the same for every run (seed 0), so runs compare.
  data::Dataset dataset = config.dataset == "synthetic"
                              ? data::make_synthetic_dataset(config.synthetic_train, config.synthetic_test, 0)
                              : data::load_dataset(config.dataset, data_dir);
  if (config.standardize) data::standardize(dataset);
  if (config.train_subset > 0 && config.train_subset < dataset.train.size())
    dataset.train.keep_first(config.train_subset);
  return loaded_.emplace(key, std::move(dataset)).first->second;
}

}  // namespace bnlab::sweep
