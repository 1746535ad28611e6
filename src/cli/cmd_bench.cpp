// bnlab bench bn|train [--relu] [--out FILE.csv [--overwrite]] [--quick]
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/bn_bench.h"
#include "bench/train_bench.h"
#include "bn/kernels.h"
#include "cli/command.h"
#include "core/errors.h"
#include "core/text.h"
#include "core/threads.h"

namespace bnlab::cli {
namespace {

namespace fs = std::filesystem;

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("({})", fmt::join(shape, ",")); }
// "32x128": a CSV field without quotes, so bnlab's CSV reader (bnlab diff) takes the file.
std::string shape_field(const std::vector<int64_t>& shape) { return fmt::format("{}", fmt::join(shape, "x")); }

// Each benchmark prints its table and returns it as CSV text.
std::string bench_bn(bool quick, bool relu) {
  bench::BnBenchOptions options;
  if (quick) options.seconds_per_case = 0.05;
  options.relu = relu;
  const double copy = bench::copy_bandwidth_gbps();
  std::cout << fmt::format("BatchNorm{} forward+backward, float32, training mode, {} thread(s); fused kernels: {}\n",
                           relu ? " followed by ReLU" : "", at::get_num_threads(), bn::fused_isa());
  std::cout << fmt::format("copy bandwidth (read+write, 256 MiB): {:.1f} GB/s\n\n", copy);
  std::cout << fmt::format("{:<18} {:<10} {:>10} {:>17} {:>9} {:>8} {:>8}\n", "shape", "impl", "median ms",
                           "p25-p75 ms", "x native", "GB/s", "% copy");
  const auto rows = bench::bench_batch_norm(options);
  for (const auto& r : rows)
    std::cout << fmt::format("{:<18} {:<10} {:>10.4f} {:>17} {:>9.2f} {:>8.1f} {:>7.0f}%\n", shape_text(r.shape),
                             r.impl, r.timing.median, fmt::format("{:.4f}-{:.4f}", r.timing.p25, r.timing.p75),
                             r.ratio_to_native, r.gbps, 100 * r.gbps / copy);
  std::string csv = "shape,impl,relu,median_ms,p25_ms,p75_ms,samples,ratio_to_native,gbps,copy_gbps\n";
  for (const auto& r : rows)
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", shape_field(r.shape), r.impl, relu ? 1 : 0, r.timing.median,
                       r.timing.p25, r.timing.p75, r.timing.samples, r.ratio_to_native, r.gbps, copy);
  return csv;
}

std::string bench_train(bool quick) {
  bench::TrainBenchOptions options;
  if (quick) options.seconds_per_case = 0.1;
  std::cout << fmt::format("Training step (clear gradients, forward, loss, backward, Adam step), ms/step; BLAS: {}\n\n",
                           blas_description());
  std::cout << fmt::format("{:<10} {:>6} {:<17} {:>7} {:>10} {:>17} {:>9}\n", "model", "batch", "norm", "threads",
                           "median ms", "p25-p75 ms", "x none");
  const auto rows = bench::bench_training(options);
  for (const auto& r : rows)
    std::cout << fmt::format("{:<10} {:>6} {:<17} {:>7} {:>10.3f} {:>17} {:>9.2f}\n", r.experiment, r.batch_size,
                             r.norm, r.threads, r.timing.median,
                             fmt::format("{:.3f}-{:.3f}", r.timing.p25, r.timing.p75), r.ratio_to_none);
  std::string csv = "model,batch_size,norm,threads,median_ms,p25_ms,p75_ms,samples,ratio_to_none\n";
  for (const auto& r : rows)
    csv += fmt::format("{},{},{},{},{},{},{},{},{}\n", r.experiment, r.batch_size, r.norm, r.threads, r.timing.median,
                       r.timing.p25, r.timing.p75, r.timing.samples, r.ratio_to_none);
  return csv;
}

// Checked before the benchmark runs, so that minutes of timing are not lost
// to a path that cannot be written, and no earlier table is replaced unasked.
void check_out_path(const fs::path& out, bool overwrite) {
  if (fs::is_directory(out)) throw UsageError(fmt::format("--out {}: is a directory", out.string()));
  if (fs::exists(out) && !overwrite)
    throw UsageError(fmt::format("--out {}: the file exists; pass --overwrite to replace it", out.string()));
  const auto dir = out.parent_path();
  if (!dir.empty() && !fs::is_directory(dir))
    throw UsageError(fmt::format("--out {}: no directory {}", out.string(), dir.string()));
}

void write_text(const fs::path& out, const std::string& text) {
  std::ofstream file(out);
  file << text;
  file.close();
  if (!file) throw std::runtime_error(fmt::format("could not write {}: {}", out.string(), std::strerror(errno)));
}

}  // namespace

int run_bench(const Args& args) {
  cxxopts::Options parser("bnlab bench",
                          "Benchmarks (run on a quiet machine; medians and quartiles of interleaved repetitions).\n"
                          "  bnlab bench bn      BatchNorm forward+backward: native vs reference vs fused kernels\n"
                          "  bnlab bench train   ms/step of keras-mlp and keras-cnn: none/native/custom BN, batch 32\n"
                          "                      and 128, threads 1 and 2\n");
  parser.add_options()
      ("out", "Also write the table as CSV", cxxopts::value<std::string>(), "FILE")
      ("overwrite", "Replace an existing --out file")
      ("quick", "Short timing budget (for tests; noisy)")
      ("relu", "bn: time BatchNorm followed by ReLU (native: BatchNorm then torch::relu; ours: the ReLU fused "
               "into the BatchNorm kernels)")
      ("what", "bn or train", cxxopts::value<std::string>());
  parser.parse_positional({"what"});
  parser.positional_help("bn|train");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  if (!parsed->count("what")) throw UsageError("missing benchmark: bn or train");
  const std::string what = (*parsed)["what"].as<std::string>();
  const bool quick = parsed->count("quick") > 0;
  const auto out = parsed->count("out") ? std::optional<std::string>((*parsed)["out"].as<std::string>()) : std::nullopt;
  const bool relu = parsed->count("relu") > 0;
  if (what != "bn" && what != "train")
    throw UsageError(fmt::format("unknown benchmark '{}': expected bn or train", what));
  if (relu && what != "bn") throw UsageError("--relu applies to bench bn only");
  if (out) check_out_path(*out, parsed->count("overwrite") > 0);
  const std::string csv = what == "bn" ? bench_bn(quick, relu) : bench_train(quick);
  if (!out) return kExitOk;
  write_text(*out, csv);
  std::cout << fmt::format("\nwrote {}\n", *out);
  return kExitOk;
}

}  // namespace bnlab::cli
