#include "runs/csv_writer.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bnlab::runs {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream stream(line);
  for (std::string cell; std::getline(stream, cell, ',');) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

std::string header_line(const std::vector<std::string>& columns) {
  return fmt::format("{}\n", fmt::join(columns, ","));
}

// Text cells are written as they are (the files are read back by splitting
// at commas): one that a reader would split or misread is refused.
const std::string& plain_text(const std::string& text) {
  if (text.find_first_of(",\"\n\r") != std::string::npos)
    throw std::invalid_argument(fmt::format("CSV cell '{}' holds a comma, quote or line break", text));
  return text;
}

std::string row_line(const std::vector<CsvCell>& cells) {
  std::vector<std::string> texts;
  for (const auto& cell : cells)
    texts.push_back(std::holds_alternative<double>(cell) ? format_number(std::get<double>(cell))
                                                         : plain_text(std::get<std::string>(cell)));
  return fmt::format("{}\n", fmt::join(texts, ","));
}

}  // namespace

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::abs(value) < 1e15) return fmt::format("{}", int64_t(value));
  return fmt::format("{}", value);
}

CsvWriter::CsvWriter(const fs::path& path, std::vector<std::string> columns, bool append)
    : columns_(std::move(columns)) {
  const std::string header = header_line(columns_);
  if (append && fs::exists(path)) {
    const CsvRows existing = read_csv_rows(path);
    if (existing.header + "\n" != header)
      throw std::runtime_error(fmt::format("{}: cannot append, header is '{}', expected '{}'", path.string(),
                                           existing.header, header.substr(0, header.size() - 1)));
    if (existing.cut_short) keep_leading_rows(existing, existing.lines.size());
  } else {
    write_file_atomically(path, header);
  }
  file_.emplace(path);
}

void CsvWriter::write_row(const std::vector<double>& values) { write_row({}, values); }

void CsvWriter::write_row(const std::vector<std::string>& labels, const std::vector<double>& values) {
  std::vector<Cell> cells(labels.begin(), labels.end());
  cells.insert(cells.end(), values.begin(), values.end());
  write_cells(cells);
}

void CsvWriter::write_cells(const std::vector<Cell>& cells) {
  if (cells.size() != columns_.size())
    throw std::logic_error(
        fmt::format("{}: row of {} values for {} columns", path().string(), cells.size(), columns_.size()));
  file_->append(row_line(cells));
}

void write_csv_file(const fs::path& path, const std::vector<std::string>& columns,
                    const std::vector<std::vector<CsvCell>>& rows) {
  std::string text = header_line(columns);
  for (const auto& row : rows) {
    if (row.size() != columns.size())
      throw std::logic_error(
          fmt::format("{}: row of {} values for {} columns", path.string(), row.size(), columns.size()));
    text += row_line(row);
  }
  write_file_atomically(path, text);
}

CsvRows read_csv_rows(const fs::path& path) {
  CsvRows result;
  result.path = path;
  if (!fs::exists(path)) return result;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path.string()));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(fmt::format("{}: read error", path.string()));
  size_t start = 0;
  size_t width = 0;
  bool header_read = false;
  for (size_t end; start < text.size() && (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string line = text.substr(start, end - start);
    if (!header_read) {
      header_read = true;
      result.header = line;
      width = split_cells(line).size();
      continue;
    }
    auto cells = split_cells(line);
    if (cells.size() != width) {
      result.cut_short = true;
      return result;
    }
    result.lines.push_back(std::move(line));
    result.cells.push_back(std::move(cells));
  }
  result.cut_short = start < text.size();  // a last line without its newline
  return result;
}

void keep_leading_rows(const CsvRows& rows, size_t keep) {
  if (keep > rows.lines.size())
    throw std::logic_error(fmt::format("{}: cannot keep {} rows of {}", rows.path.string(), keep, rows.lines.size()));
  if (keep == rows.lines.size() && !rows.cut_short) return;
  std::string text = rows.header + "\n";
  for (size_t i = 0; i < keep; ++i) text += rows.lines[i] + "\n";
  write_file_atomically(rows.path, text);
}

}  // namespace bnlab::runs
