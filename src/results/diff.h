#pragma once
// Comparing metrics CSVs cell by cell, with numdiff's tolerance semantics.
#include <ostream>
#include <string>
#include <vector>

#include "runs/csv_table.h"
#include "runs/discovery.h"

namespace bnlab::results {

struct DiffOptions {
  std::vector<std::string> key;      // empty: stage,epoch when both have a stage column, else epoch
  double atol = 0;                   // a pair is equal when |a-b| <= atol
  double rtol = 0;                   //   or |a-b| <= rtol * max(|a|, |b|)
  std::vector<std::string> columns;  // compare only these (empty: all common non-key columns)
  std::vector<std::string> ignore;   // never compare these
  bool include_timing = false;       // timing columns (epoch_seconds, ms_per_step, ...) are skipped by default
};

struct CellDiff {
  std::string key;  // "epoch=3" or "stage=b,epoch=3"
  std::string column;
  std::string a, b;
  double abs_diff = 0, rel_diff = 0;  // numbers only
  bool text = false;                  // a text column's cells (see diff_tables)
};

struct ColumnSummary {
  std::string column;
  size_t compared = 0, differing = 0;
  double max_abs = 0, max_rel = 0;
  bool text = false;  // compared as text (see diff_tables)
};

struct TableDiff {
  std::string label;  // what was compared ("plain/seed-0"), empty for two files
  std::vector<std::string> key_columns;
  std::vector<CellDiff> cells;         // the differing cells
  std::vector<ColumnSummary> columns;  // every compared column
  std::vector<std::string> only_in_a, only_in_b;  // keys of unmatched rows
  size_t cells_compared = 0;
  bool equal() const { return cells.empty() && only_in_a.empty() && only_in_b.empty(); }
};

// Cells are numbers compared with the tolerances, except in a text column:
// one whose cell in the first row of both tables is not a number (a bench
// CSV's shape, impl, cpu, isa, commit), whose cells are equal when the
// same text. Throws std::runtime_error (naming file, row and column) for
// different column sets, duplicate keys, missing key columns, a non-numeric
// cell in a numeric column and tables without rows.
TableDiff diff_tables(const runs::CsvTable& a, const runs::CsvTable& b, const DiffOptions& options);

struct ExperimentDiff {
  std::vector<TableDiff> runs;                  // runs present in both, by variant and seed
  std::vector<std::string> only_in_a, only_in_b;  // "variant/seed-s"
  bool equal() const;
};

ExperimentDiff diff_experiments(const std::vector<runs::RunRef>& a, const std::vector<runs::RunRef>& b,
                                const DiffOptions& options);

bool is_timing_column(const std::string& column);

// Human-readable: a table of differing cells and a summary; or CSV
// (label,key,column,a,b,abs_diff,rel_diff) for machines.
void write_diff_text(std::ostream& out, const TableDiff& diff);
void write_diff_csv(std::ostream& out, const std::vector<TableDiff>& diffs);

}  // namespace bnlab::results
