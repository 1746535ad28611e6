#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bnlab::train {

// A CSV file written row by row and flushed after each row, so a killed run
// leaves a valid file. Numbers are written in their shortest exact form.
class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns);
  void write_row(const std::vector<double>& values);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<std::string> columns_;
  std::ofstream out_;
};

// "0.1", "3", "nan": integers without a decimal point, others round-trip exact.
std::string format_number(double value);

}  // namespace bnlab::train
