#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace bnlab::data {

struct DataDir {
  std::filesystem::path path;
  std::string origin;  // "--data-dir", "BNLAB_DATA_DIR" or "default"
};

// Resolution order: the --data-dir flag, then $BNLAB_DATA_DIR, then `data/`
// under the bnlab source tree. Empty values count as unset.
DataDir resolve_data_dir(const std::optional<std::string>& flag,
                         const std::optional<std::string>& environment,
                         const std::filesystem::path& default_dir);

// The same, reading BNLAB_DATA_DIR from the environment.
DataDir resolve_data_dir(const std::optional<std::string>& flag);

}  // namespace bnlab::data
