#pragma once
// A CSV file in memory (bnlab's metrics files: a header row, then one row per
// epoch or step; no quoted fields).
#include <filesystem>
#include <string>
#include <vector>

namespace bnlab::runs {

struct CsvTable {
  std::filesystem::path path;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // each as wide as `columns`

  bool has_column(const std::string& name) const;
  size_t column_index(const std::string& name) const;  // throws naming file and column

  // The cell as a number ("nan", "inf" allowed); throws naming file, row
  // (1-based, header excluded) and column when it is not one.
  double number(size_t row, size_t column) const;
  std::vector<double> numbers(const std::string& column) const;
};

// Throws std::runtime_error naming the file for: missing file, empty file,
// no header, ragged rows, quoted fields, duplicate column names.
CsvTable read_csv(const std::filesystem::path& path);

}  // namespace bnlab::runs
