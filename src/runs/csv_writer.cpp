#include "runs/csv_writer.h"

#include <fmt/format.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace bnlab::runs {

void filter_csv_rows(const std::filesystem::path& path,
                     const std::function<bool(size_t, const std::vector<std::string>&)>& keep) {
  if (!std::filesystem::exists(path)) return;
  std::ifstream in(path);
  std::string header, line, kept;
  std::getline(in, header);
  kept = header + "\n";
  for (size_t row = 0; std::getline(in, line); ++row) {
    std::vector<std::string> cells;
    std::stringstream stream(line);
    for (std::string cell; std::getline(stream, cell, ',');) cells.push_back(cell);
    if (keep(row, cells)) kept += line + "\n";
  }
  in.close();
  const auto temporary = path.string() + ".tmp";
  std::ofstream(temporary, std::ios::trunc) << kept;
  std::filesystem::rename(temporary, path);
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::abs(value) < 1e15) return fmt::format("{}", int64_t(value));
  return fmt::format("{}", value);
}

CsvWriter::CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns, bool append)
    : path_(path), columns_(std::move(columns)) {
  const std::string header = fmt::format("{}", fmt::join(columns_, ","));
  if (append && std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::string existing;
    std::getline(in, existing);
    if (existing != header)
      throw std::runtime_error(
          fmt::format("{}: cannot append, header is '{}', expected '{}'", path.string(), existing, header));
    out_.open(path, std::ios::app);
  } else {
    out_.open(path, std::ios::trunc);
    out_ << header << "\n";
  }
  if (!out_) throw std::runtime_error(fmt::format("{}: cannot write", path.string()));
  out_.flush();
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
        fmt::format("{}: row of {} values for {} columns", path_.string(), cells.size(), columns_.size()));
  std::vector<std::string> texts;
  for (const auto& cell : cells)
    texts.push_back(std::holds_alternative<double>(cell) ? format_number(std::get<double>(cell))
                                                         : std::get<std::string>(cell));
  out_ << fmt::format("{}\n", fmt::join(texts, ",")) << std::flush;
  if (!out_) throw std::runtime_error(fmt::format("{}: write error", path_.string()));
}

}  // namespace bnlab::runs
