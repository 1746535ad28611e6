#include "bench/report.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <stdexcept>

#include "bn/kernels.h"
#include "core/blas.h"
#include "core/build_info.h"
#include "core/cpu.h"
#include "core/denormals.h"
#include "core/threads.h"
#include "runs/csv_writer.h"

namespace bnlab::bench {
namespace fs = std::filesystem;
namespace {

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("({})", fmt::join(shape, ",")); }
// "32x128": a CSV field without quotes, so bnlab's CSV reader (bnlab diff) takes the file.
std::string shape_field(const std::vector<int64_t>& shape) { return fmt::format("{}", fmt::join(shape, "x")); }

}  // namespace

void check_output_file(const fs::path& out, bool overwrite) {
  if (fs::is_directory(out)) throw std::invalid_argument(fmt::format("--out {}: is a directory", out.string()));
  if (fs::exists(out) && !overwrite)
    throw std::invalid_argument(fmt::format("--out {}: the file exists; pass --overwrite to replace it", out.string()));
  const auto dir = out.parent_path();
  if (!dir.empty() && !fs::is_directory(dir))
    throw std::invalid_argument(fmt::format("--out {}: no directory {}", out.string(), dir.string()));
}

void print_bn_header(std::ostream& out, const BnBenchResult& result) {
  out << fmt::format(
      "{}{}{} forward+backward, float32, training mode, {} thread(s); fused kernels: {}; denormals: {}\n",
      result.relu_before ? "ReLU followed by " : "", display_name(result.norm), result.relu ? " followed by ReLU" : "",
      at::get_num_threads(), to_name(active_isa()), to_name(current_denormals()));
  // The code that was timed too: a table compares with another of the same
  // commit, or one whose changes it knows ("-dirty": uncommitted changes).
  out << fmt::format("CPU: {}\ncopy bandwidth (read+write, 256 MiB): {:.1f} GB/s\n{}\n\n", cpu_description(),
                     result.copy_gbps, build_description());
  out << fmt::format("{:<18} {:<13} {:<10} {:>10} {:>17} {:>9} {:>8} {:>8}\n", "shape", "layout", "impl", "median ms",
                     "p25-p75 ms", "x native", "GB/s", "% copy")
      << std::flush;
}

void print_bn_rows(std::ostream& out, const BnBenchResult& result) {
  for (const auto& r : result.rows)
    out << fmt::format("{:<18} {:<13} {:<10} {:>10.4f} {:>17} {:>9.2f} {:>8.1f} {:>7.0f}%\n", shape_text(r.shape),
                       r.layout, r.impl, r.timing.median, fmt::format("{:.4f}-{:.4f}", r.timing.p25, r.timing.p75),
                       r.ratio_to_native, r.gbps, 100 * r.gbps / result.copy_gbps);
}

void write_bn_csv(const fs::path& file, const BnBenchResult& result) {
  std::vector<std::vector<runs::CsvCell>> rows;
  for (const auto& r : result.rows)
    rows.push_back({to_name(result.norm), shape_field(r.shape), r.layout, r.impl, result.relu ? 1.0 : 0.0,
                    result.relu_before ? 1.0 : 0.0, r.timing.median, r.timing.p25, r.timing.p75,
                    double(r.timing.samples), r.ratio_to_native, r.gbps, result.copy_gbps, cpu_description(),
                    to_name(active_isa()), build_commit()});
  runs::write_csv_file(file,
                       {"norm", "shape", "layout", "impl", "relu", "relu_before", "median_ms", "p25_ms", "p75_ms",
                        "samples", "ratio_to_native", "gbps", "copy_gbps", "cpu", "isa", "commit"},
                       rows);
}

void print_train_header(std::ostream& out) {
  out << fmt::format(
      "Training step (clear gradients, forward, loss, backward, Adam step), ms/step; BLAS: {}\n"
      "CPU: {}; kernel copy: {}; denormals: {}\n{}\n"
      "x floor: the median over the step's floor (its GEMMs and convolutions alone, plus the optimiser's\n"
      "bytes at the copy bandwidth of its working set), timed in the same run\n\n",
      blas_description(), cpu_description(), to_name(active_isa()), to_name(current_denormals()), build_description());
  out << fmt::format("{:<10} {:>6} {:<17} {:>7} {:>10} {:>17} {:>9} {:>9} {:>9}\n", "model", "batch", "norm", "threads",
                     "median ms", "p25-p75 ms", "mean ms", "x none", "x floor")
      << std::flush;
}

namespace {

const TrainBenchRow* find_row(const TrainBenchResult& result, const TrainBenchFloor& f, const std::string& norm) {
  for (const auto& r : result.rows)
    if (r.experiment == f.experiment && r.batch_size == f.batch_size && r.threads == f.threads && r.norm == norm)
      return &r;
  return nullptr;
}

// Where a case's step time goes: the floor's parts, what the norm adds over
// none, and the rest (none's median less the floor: dispatch, autograd,
// allocations, activations, pooling, the loss, the optimiser beyond its bytes).
void print_breakdown(std::ostream& out, const TrainBenchResult& result) {
  out << fmt::format("\n{:<10} {:>6} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10} {:>10}\n", "floor of", "batch",
                     "threads", "GEMMs ms", "optim MB", "at GB/s", "optim ms", "floor ms", "rest ms", "custom BN");
  for (const auto& f : result.floors) {
    const auto* none = find_row(result, f, "none");
    const auto* custom = find_row(result, f, "custom");
    out << fmt::format("{:<10} {:>6} {:>7} {:>10.3f} {:>10.2f} {:>9.1f} {:>10.3f} {:>10.3f} {:>10} {:>10}\n",
                       f.experiment, f.batch_size, f.threads, f.floor.gemm_ms, f.floor.optimizer.moved_bytes / 1e6,
                       f.floor.optimizer_gbps, f.floor.optimizer_ms(), f.floor.total_ms(),
                       none ? fmt::format("{:.3f}", none->timing.median - f.floor.total_ms()) : "-",
                       none && custom ? fmt::format("{:+.3f}", custom->timing.median - none->timing.median) : "-");
  }
}

}  // namespace

void print_train_rows(std::ostream& out, const TrainBenchResult& result) {
  for (const auto& r : result.rows)
    out << fmt::format("{:<10} {:>6} {:<17} {:>7} {:>10.3f} {:>17} {:>9.3f} {:>9.2f} {:>9.2f}\n", r.experiment,
                       r.batch_size, r.norm, r.threads, r.timing.median,
                       fmt::format("{:.3f}-{:.3f}", r.timing.p25, r.timing.p75), r.timing.mean, r.ratio_to_none,
                       r.x_floor);
  print_breakdown(out, result);
}

void write_train_csv(const fs::path& file, const TrainBenchResult& result) {
  std::vector<std::vector<runs::CsvCell>> cells;
  for (const auto& r : result.rows) {
    StepFloor floor;
    for (const auto& f : result.floors)
      if (f.experiment == r.experiment && f.batch_size == r.batch_size && f.threads == r.threads) floor = f.floor;
    cells.push_back({r.experiment, double(r.batch_size), r.norm, double(r.threads), r.timing.median, r.timing.p25,
                     r.timing.p75, r.timing.mean, double(r.timing.samples), r.ratio_to_none, r.x_floor,
                     floor.total_ms(), floor.gemm_ms, floor.optimizer_ms(), floor.optimizer_gbps, cpu_description(),
                     to_name(active_isa()), build_commit()});
  }
  runs::write_csv_file(
      file,
      {"model", "batch_size", "norm", "threads", "median_ms", "p25_ms", "p75_ms", "mean_ms", "samples", "ratio_to_none",
       "x_floor", "floor_ms", "floor_gemm_ms", "floor_optimizer_ms", "optimizer_copy_gbps", "cpu", "isa", "commit"},
      cells);
}

}  // namespace bnlab::bench
