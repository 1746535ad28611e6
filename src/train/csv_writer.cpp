#include "train/csv_writer.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace bnlab::train {

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::abs(value) < 1e15) return fmt::format("{}", int64_t(value));
  return fmt::format("{}", value);
}

CsvWriter::CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns)
    : path_(path), columns_(std::move(columns)), out_(path, std::ios::trunc) {
  if (!out_) throw std::runtime_error(fmt::format("{}: cannot write", path.string()));
  out_ << fmt::format("{}\n", fmt::join(columns_, ",")) << std::flush;
}

void CsvWriter::write_row(const std::vector<double>& values) {
  if (values.size() != columns_.size())
    throw std::logic_error(fmt::format("{}: row of {} values for {} columns", path_.string(),
                                       values.size(), columns_.size()));
  std::vector<std::string> cells;
  for (double v : values) cells.push_back(format_number(v));
  out_ << fmt::format("{}\n", fmt::join(cells, ",")) << std::flush;
  if (!out_) throw std::runtime_error(fmt::format("{}: write error", path_.string()));
}

}  // namespace bnlab::train
