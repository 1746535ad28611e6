#include "results/diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "core/text.h"
#include "runs/metrics.h"

namespace bnlab::results {
namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::vector<std::string> key_columns(const runs::CsvTable& a, const runs::CsvTable& b, const DiffOptions& options) {
  if (!options.key.empty()) return options.key;
  if (a.has_column(runs::kStageColumn) && b.has_column(runs::kStageColumn)) return {runs::kStageColumn, "epoch"};
  return {"epoch"};
}

// Row index by key ("epoch=3"), refusing duplicate keys.
std::map<std::string, size_t> index_rows(const runs::CsvTable& table, const std::vector<std::string>& keys) {
  std::vector<size_t> key_index;
  for (const auto& key : keys) {
    if (!table.has_column(key))
      fail(fmt::format("{}: no key column '{}' (columns: {}); choose one with --key", table.path.string(), key,
                       join(table.columns, ", ")));
    key_index.push_back(table.column_index(key));
  }
  std::map<std::string, size_t> rows;
  for (size_t row = 0; row < table.rows.size(); ++row) {
    std::vector<std::string> parts;
    for (size_t k = 0; k < keys.size(); ++k) parts.push_back(keys[k] + "=" + table.rows[row][key_index[k]]);
    const std::string key = join(parts, ",");
    if (!rows.emplace(key, row).second)
      fail(fmt::format("{}: duplicate key {} (rows {} and {})", table.path.string(), key, rows[key] + 1, row + 1));
  }
  return rows;
}

std::vector<std::string> compared_columns(const runs::CsvTable& a, const runs::CsvTable& b,
                                          const std::vector<std::string>& keys, const DiffOptions& options) {
  for (const auto& column : options.columns)
    for (const runs::CsvTable* table : {&a, &b})
      if (!table->has_column(column))
        fail(fmt::format("{}: no column '{}' (given with --columns)", table->path.string(), column));
  if (options.columns.empty()) {
    std::vector<std::string> only_a, only_b;
    for (const auto& c : a.columns)
      if (!b.has_column(c)) only_a.push_back(c);
    for (const auto& c : b.columns)
      if (!a.has_column(c)) only_b.push_back(c);
    if (!only_a.empty() || !only_b.empty())
      fail(fmt::format("different columns: only in {}: [{}]; only in {}: [{}] (compare common ones with --columns)",
                       a.path.string(), join(only_a, ", "), b.path.string(), join(only_b, ", ")));
  }
  std::vector<std::string> columns;
  for (const auto& column : options.columns.empty() ? a.columns : options.columns) {
    if (contains(keys, column) || contains(options.ignore, column)) continue;
    if (options.columns.empty() && !options.include_timing && is_timing_column(column)) continue;
    columns.push_back(column);
  }
  return columns;
}

// A cell that is neither a number nor empty (a missing value is no word).
bool is_word(const std::string& cell) {
  if (cell.empty()) return false;
  try {
    parse_double(cell, "");
    return false;
  } catch (const std::invalid_argument&) {
    return true;
  }
}

// A column of words, not numbers: its first cell is a word in both tables.
// Not any cell: a metrics file with one bad cell stays an error.
bool is_text_column(const runs::CsvTable& a, size_t ia, const runs::CsvTable& b, size_t ib) {
  return is_word(a.rows.front()[ia]) && is_word(b.rows.front()[ib]);
}

bool numbers_equal(double a, double b, const DiffOptions& options) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;  // also equal infinities
  const double diff = std::abs(a - b);
  return diff <= options.atol || diff <= options.rtol * std::max(std::abs(a), std::abs(b));
}

}  // namespace

bool is_timing_column(const std::string& column) {
  auto ends_with = [&](const std::string& suffix) {
    return column.size() >= suffix.size() && column.compare(column.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("_seconds") || ends_with("ms_per_step") || column == "seconds";
}

TableDiff diff_tables(const runs::CsvTable& a, const runs::CsvTable& b, const DiffOptions& options) {
  for (const runs::CsvTable* table : {&a, &b})
    if (table->rows.empty()) fail(fmt::format("{}: no data rows", table->path.string()));
  TableDiff diff;
  diff.key_columns = key_columns(a, b, options);
  const auto rows_a = index_rows(a, diff.key_columns);
  const auto rows_b = index_rows(b, diff.key_columns);
  const auto columns = compared_columns(a, b, diff.key_columns, options);
  std::vector<std::string> key_of_row_a(a.rows.size());
  for (const auto& [key, row] : rows_a) key_of_row_a[row] = key;

  for (const auto& column : columns) {
    const size_t ia = a.column_index(column), ib = b.column_index(column);
    ColumnSummary summary{column};
    summary.text = is_text_column(a, ia, b, ib);
    for (size_t row_a = 0; row_a < a.rows.size(); ++row_a) {  // in A's order, not the keys'
      const std::string& key = key_of_row_a[row_a];
      auto found = rows_b.find(key);
      if (found == rows_b.end()) continue;
      ++summary.compared;
      if (summary.text) {
        const std::string &ta = a.rows[row_a][ia], &tb = b.rows[found->second][ib];
        if (ta == tb) continue;
        ++summary.differing;
        diff.cells.push_back({key, column, ta, tb, 0, 0, /*text=*/true});
        continue;
      }
      const double va = a.number(row_a, ia), vb = b.number(found->second, ib);
      if (numbers_equal(va, vb, options)) continue;
      const double abs_diff = std::abs(va - vb);
      const double rel_diff = abs_diff / std::max(std::abs(va), std::abs(vb));
      ++summary.differing;
      summary.max_abs = std::max(summary.max_abs, std::isnan(abs_diff) ? INFINITY : abs_diff);
      summary.max_rel = std::max(summary.max_rel, std::isnan(rel_diff) ? INFINITY : rel_diff);
      diff.cells.push_back({key, column, a.rows[row_a][ia], b.rows[found->second][ib], abs_diff, rel_diff});
    }
    diff.cells_compared += summary.compared;
    diff.columns.push_back(summary);
  }
  for (const auto& key : key_of_row_a)
    if (!rows_b.count(key)) diff.only_in_a.push_back(key);
  for (const auto& [key, row] : rows_b)
    if (!rows_a.count(key)) diff.only_in_b.push_back(key);
  return diff;
}

bool ExperimentDiff::equal() const {
  if (!only_in_a.empty() || !only_in_b.empty()) return false;
  return std::all_of(runs.begin(), runs.end(), [](const TableDiff& d) { return d.equal(); });
}

ExperimentDiff diff_experiments(const std::vector<runs::RunRef>& a, const std::vector<runs::RunRef>& b,
                                const DiffOptions& options) {
  auto name = [](const runs::RunRef& r) { return runs::run_label(r.variant, r.seed); };
  std::map<std::string, const runs::RunRef*> by_name_b;
  for (const auto& run : b) by_name_b[name(run)] = &run;
  ExperimentDiff result;
  std::set<std::string> matched;
  for (const auto& run : a) {
    auto found = by_name_b.find(name(run));
    if (found == by_name_b.end()) {
      result.only_in_a.push_back(name(run));
      continue;
    }
    matched.insert(name(run));
    TableDiff diff =
        diff_tables(runs::read_csv(run.metrics_csv()), runs::read_csv(found->second->metrics_csv()), options);
    diff.label = name(run);
    result.runs.push_back(std::move(diff));
  }
  for (const auto& run : b)
    if (!matched.count(name(run))) result.only_in_b.push_back(name(run));
  return result;
}

namespace {
// A difference as the text table shows it; "-" for text cells, which have none.
std::string difference_text(const CellDiff& cell, double difference) {
  return cell.text ? "-" : fmt::format("{:.3g}", difference);
}
}  // namespace

void write_diff_text(std::ostream& out, const TableDiff& diff) {
  const std::string prefix = diff.label.empty() ? "" : diff.label + ": ";
  if (!diff.cells.empty()) {
    out << fmt::format("{:<22} {:<14} {:>22} {:>22} {:>11} {:>11}\n", "key", "column", "A", "B", "abs diff", "rel diff");
    for (const auto& c : diff.cells)
      out << fmt::format("{:<22} {:<14} {:>22} {:>22} {:>11} {:>11}\n", c.key, c.column, c.a, c.b,
                         difference_text(c, c.abs_diff), difference_text(c, c.rel_diff));
  }
  for (const auto& key : diff.only_in_a) out << fmt::format("{}row {} only in A\n", prefix, key);
  for (const auto& key : diff.only_in_b) out << fmt::format("{}row {} only in B\n", prefix, key);
  size_t differing = 0;
  for (const auto& c : diff.columns) differing += c.differing;
  out << fmt::format("{}{} cells compared, {} differ{}\n", prefix, diff.cells_compared, differing,
                     diff.equal() ? " (equal within tolerance)" : "");
  for (const auto& c : diff.columns)
    if (c.differing)
      out << fmt::format("  {:<14} {} of {} differ{}\n", c.column, c.differing, c.compared,
                         c.text ? " (text)" : fmt::format(", max abs {:.3g}, max rel {:.3g}", c.max_abs, c.max_rel));
}

void write_diff_csv(std::ostream& out, const std::vector<TableDiff>& diffs) {
  out << "run,key,column,a,b,abs_diff,rel_diff\n";
  for (const auto& diff : diffs) {
    for (const auto& c : diff.cells)
      out << fmt::format("{},\"{}\",{},{},{},{},{}\n", diff.label, c.key, c.column, c.a, c.b,
                         c.text ? "" : fmt::format("{}", c.abs_diff), c.text ? "" : fmt::format("{}", c.rel_diff));
    for (const auto& key : diff.only_in_a) out << fmt::format("{},\"{}\",,present,missing,,\n", diff.label, key);
    for (const auto& key : diff.only_in_b) out << fmt::format("{},\"{}\",,missing,present,,\n", diff.label, key);
  }
}

}  // namespace bnlab::results
