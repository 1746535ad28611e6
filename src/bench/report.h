#pragma once
// The benchmarks' tables: printed for people, written as CSV for bnlab diff
// and plots. One definition of each table's columns serves both.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "bench/bn_bench.h"
#include "bench/train_bench.h"

namespace bnlab::bench {

// What a bench bn run measured, with what it ran on.
struct BnBenchResult {
  std::vector<BnBenchRow> rows;
  bool relu = false;
  double copy_gbps = 0;  // read+write bandwidth of a large copy (copy_bandwidth_gbps)
  BenchNorm norm = BenchNorm::kBatch;
  bool relu_before = false;
};

// Checked before a benchmark runs, so that minutes of timing are not lost to
// a path that cannot be written, and no earlier table is replaced unasked.
// Throws std::invalid_argument naming the path and the problem.
void check_output_file(const std::filesystem::path& out, bool overwrite);

// The header goes out before the benchmark runs (it takes a while), the rows after.
void print_bn_header(std::ostream& out, const BnBenchResult& result);
void print_bn_rows(std::ostream& out, const BnBenchResult& result);
void write_bn_csv(const std::filesystem::path& file, const BnBenchResult& result);

void print_train_header(std::ostream& out);
// The rows, then each case's floor and where its steps' time goes.
void print_train_rows(std::ostream& out, const TrainBenchResult& result);
// One row per step row, with its case's floor in the same row.
void write_train_csv(const std::filesystem::path& file, const TrainBenchResult& result);

}  // namespace bnlab::bench
