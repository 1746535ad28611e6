#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/durable_file.h"

namespace bnlab::runs {

// A cell of a CSV row: text (no comma, quote or newline) or a number.
using CsvCell = std::variant<std::string, double>;

// A CSV file that grows row by row (metrics.csv, steps.csv, bn_stats.csv).
// Each row is appended whole or not at all (AppendFile); sync() makes the
// rows durable and is called once an epoch. Numbers are written in their
// shortest exact form.
class CsvWriter {
 public:
  // append: continue an existing file whose header must equal `columns`
  // (resuming a run); otherwise the file is created anew (atomically).
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns, bool append = false);
  void write_row(const std::vector<double>& values);
  // Leading text cells (e.g. the stage name), then numbers.
  void write_row(const std::vector<std::string>& labels, const std::vector<double>& values);
  using Cell = CsvCell;
  void write_cells(const std::vector<Cell>& cells);
  void sync() { file_->sync(); }
  const std::filesystem::path& path() const { return file_->path(); }

 private:
  std::vector<std::string> columns_;
  std::optional<AppendFile> file_;
};

// A whole CSV file written at once (benchmark tables), atomically.
void write_csv_file(const std::filesystem::path& path, const std::vector<std::string>& columns,
                    const std::vector<std::vector<CsvCell>>& rows);

// A CSV file bnlab wrote, read for resuming: the header and the whole rows
// before the first that is not (a row cut short by a crash or a full disk).
struct CsvRows {
  std::filesystem::path path;
  std::string header;
  std::vector<std::string> lines;               // the whole rows, as written
  std::vector<std::vector<std::string>> cells;  // the same rows, split
  bool cut_short = false;                       // a partial row followed them
};
// An absent file reads as no rows.
CsvRows read_csv_rows(const std::filesystem::path& path);

// Replaces the file with its header and its first `keep` whole rows, unless
// it holds exactly those already. Never loses a row before `keep`.
void keep_leading_rows(const CsvRows& rows, size_t keep);

// "0.1", "3", "nan": integers without a decimal point, others round-trip exact.
std::string format_number(double value);

}  // namespace bnlab::runs
