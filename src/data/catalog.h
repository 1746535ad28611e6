#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bnlab::data {

// One uncompressed IDX file of a data set, with the checksum it must have.
struct IdxFileSpec {
  std::string filename;  // e.g. "train-images-idx3-ubyte"
  std::string md5;       // of the uncompressed file
  int64_t bytes = 0;     // size of the uncompressed file
};

// The four files of an MNIST-format data set (28x28 grey images, 10 classes).
struct DatasetSpec {
  std::string name;     // "mnist", "fashion-mnist"; also the folder under the data dir
  std::string summary;  // one line for `bnlab data info`
  IdxFileSpec train_images, train_labels, test_images, test_labels;
  int64_t train_count = 0, test_count = 0;
  int64_t num_classes = 10;

  std::array<const IdxFileSpec*, 4> files() const {
    return {&train_images, &train_labels, &test_images, &test_labels};
  }
  // The command a user runs to get this data set.
  std::string fetch_command() const { return "bnlab data fetch " + name; }
};

const std::vector<DatasetSpec>& dataset_catalog();

// Throws std::invalid_argument listing the known names when `name` is unknown.
const DatasetSpec& find_dataset(const std::string& name);

// The data sets a command names: every one for no names or "all", else each
// by name (throws std::invalid_argument for an unknown one).
std::vector<const DatasetSpec*> select_datasets(const std::vector<std::string>& names);

}  // namespace bnlab::data
