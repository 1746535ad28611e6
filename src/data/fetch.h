#pragma once
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "data/catalog.h"

namespace bnlab::data {

enum class FileState { kOk, kMissing, kWrongSize, kWrongChecksum };

struct FileCheck {
  const IdxFileSpec* spec = nullptr;
  std::filesystem::path path;
  FileState state = FileState::kMissing;
  std::string detail;  // what was seen, for the report ("md5 abc..., expected def...")
};

struct DatasetCheck {
  const DatasetSpec* spec = nullptr;
  std::vector<FileCheck> files;
  bool ok() const;
};

// Where a data set's files live: <data_dir>/<name>/.
std::filesystem::path dataset_path(const DatasetSpec& spec, const std::filesystem::path& data_dir);

// Checks size and MD5 of each of the data set's four files.
FileCheck check_file(const IdxFileSpec& spec, const std::filesystem::path& path);
DatasetCheck verify_dataset(const DatasetSpec& spec, const std::filesystem::path& data_dir);

// Puts the data set's verified files under dataset_path(). Files that already
// verify are kept; everything new is staged, checked and then renamed into
// place, so a failed fetch never leaves a partial or unverified file behind.
// Progress goes to `log`. Throws with what to do when no source works.
void fetch_dataset(const DatasetSpec& spec, const std::filesystem::path& data_dir, std::ostream& log);

// Where Debian's dataset-fashion-mnist installs its .gz files; overridable
// with BNLAB_FASHION_MNIST_SOURCE.
std::filesystem::path fashion_mnist_source_dir();

}  // namespace bnlab::data
