// The CSV readers: read_csv (diff, plot, report read results with it) with
// every cell read as a number, and read_csv_rows (resume reads with it), then
// the cut-back that resume applies.
#include "fuzz/fuzz_input.h"
#include "runs/csv_table.h"
#include "runs/csv_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = bnlab::fuzz::input_file(data, size, "metrics.csv");
  try {
    const auto table = bnlab::runs::read_csv(file);
    for (const auto& column : table.columns) {
      try {
        table.numbers(column);
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
  try {
    const auto rows = bnlab::runs::read_csv_rows(file);
    if (rows.lines.size() != rows.cells.size()) __builtin_trap();
    bnlab::runs::keep_leading_rows(rows, rows.lines.size() / 2);
    const auto again = bnlab::runs::read_csv_rows(file);
    if (again.lines.size() != rows.lines.size() / 2 || again.cut_short) __builtin_trap();  // nothing lost or torn
  } catch (const std::exception&) {
  }
  return 0;
}
