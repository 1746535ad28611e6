#include "runs/csv_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include "core/text.h"

namespace bnlab::runs {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw std::runtime_error(fmt::format("{}: {}", path.string(), problem));
}

std::string trim_cr(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

bool CsvTable::has_column(const std::string& name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

size_t CsvTable::column_index(const std::string& name) const {
  auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end()) fail(path, fmt::format("no column '{}' (columns: {})", name, join(columns, ", ")));
  return static_cast<size_t>(it - columns.begin());
}

double CsvTable::number(size_t row, size_t column) const {
  const std::string& cell = rows.at(row).at(column);
  try {
    return parse_double(cell, columns[column]);
  } catch (const std::invalid_argument&) {
    fail(path, fmt::format("row {}, column '{}': '{}' is not a number", row + 1, columns[column], cell));
  }
}

std::vector<double> CsvTable::numbers(const std::string& column) const {
  const size_t index = column_index(column);
  std::vector<double> values;
  for (size_t row = 0; row < rows.size(); ++row) values.push_back(number(row, index));
  return values;
}

CsvTable read_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!std::filesystem::exists(path)) fail(path, "no such file");
  if (!in) fail(path, "cannot open");
  CsvTable table;
  table.path = path;
  std::string line;
  if (!std::getline(in, line) || trim_cr(line).empty()) fail(path, "empty file (no header row)");
  table.columns = split(trim_cr(line), ',');
  for (size_t i = 0; i < table.columns.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (table.columns[i] == table.columns[j]) fail(path, fmt::format("duplicate column '{}'", table.columns[i]));
  size_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    line = trim_cr(line);
    if (line.empty()) continue;
    if (line.find('"') != std::string::npos)
      fail(path, fmt::format("line {}: quoted fields are not supported", line_number));
    auto cells = split(line, ',');
    if (!line.empty() && line.back() == ',') cells.push_back("");
    if (cells.size() != table.columns.size())
      fail(path, fmt::format("line {}: {} fields, header has {}", line_number, cells.size(), table.columns.size()));
    table.rows.push_back(std::move(cells));
  }
  return table;
}

}  // namespace bnlab::runs
