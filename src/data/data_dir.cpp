#include "data/data_dir.h"

#include <cstdlib>

namespace bnlab::data {

DataDir resolve_data_dir(const std::optional<std::string>& flag,
                         const std::optional<std::string>& environment,
                         const std::filesystem::path& default_dir) {
  if (flag && !flag->empty()) return {*flag, "--data-dir"};
  if (environment && !environment->empty()) return {*environment, "BNLAB_DATA_DIR"};
  return {default_dir, "default"};
}

DataDir resolve_data_dir(const std::optional<std::string>& flag) {
  const char* environment = std::getenv("BNLAB_DATA_DIR");
  return resolve_data_dir(flag, environment ? std::optional<std::string>(environment) : std::nullopt,
                          std::filesystem::path(BNLAB_SOURCE_DIR) / "data");
}

}  // namespace bnlab::data
