#pragma once
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace bnlab::runs {

// A CSV file written row by row and flushed after each row, so a killed run
// leaves a valid file. Numbers are written in their shortest exact form.
class CsvWriter {
 public:
  // append: continue an existing file whose header must equal `columns`
  // (resuming a run); otherwise the file is created anew.
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns, bool append = false);
  void write_row(const std::vector<double>& values);
  // Leading text cells (e.g. the stage name), then numbers.
  void write_row(const std::vector<std::string>& labels, const std::vector<double>& values);
  // Text and numbers in any order (text must hold no comma, quote or newline).
  using Cell = std::variant<std::string, double>;
  void write_cells(const std::vector<Cell>& cells);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<std::string> columns_;
  std::ofstream out_;
};

// Keeps the header and the data rows for which keep(row_index, cells) is true.
void filter_csv_rows(const std::filesystem::path& path,
                     const std::function<bool(size_t, const std::vector<std::string>&)>& keep);

// "0.1", "3", "nan": integers without a decimal point, others round-trip exact.
std::string format_number(double value);

}  // namespace bnlab::runs
