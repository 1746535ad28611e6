// bnlab bench bn|train [--norm batch|group|layer|instance] [--relu | --relu-before] [--out FILE.csv [--overwrite]]
//                      [--quick]
#include <fmt/format.h>

#include <iostream>
#include <optional>

#include "bench/report.h"
#include "cli/command.h"
#include "cli/errors.h"
#include "core/progress_line.h"

namespace bnlab::cli {
namespace {

struct BenchCommandOptions {
  std::string what;  // bn or train
  bool quick = false, relu = false, relu_before = false, overwrite = false;
  bench::BenchNorm norm = bench::BenchNorm::kBatch;
  std::optional<std::string> out;
};

BenchCommandOptions read_options(const cxxopts::ParseResult& parsed) {
  BenchCommandOptions o;
  if (!parsed.count("what")) throw UsageError("missing benchmark: bn or train");
  o.what = parsed["what"].as<std::string>();
  if (o.what != "bn" && o.what != "train")
    throw UsageError(fmt::format("unknown benchmark '{}': expected bn or train", o.what));
  o.quick = parsed.count("quick") > 0;
  o.relu = parsed.count("relu") > 0;
  o.relu_before = parsed.count("relu-before") > 0;
  for (const auto& [given, flag] : {std::pair{o.relu, "--relu"}, std::pair{o.relu_before, "--relu-before"}})
    if (given && o.what != "bn") throw UsageError(fmt::format("{} applies to bench bn only", flag));
  if (o.relu && o.relu_before) throw UsageError("--relu and --relu-before: choose one");
  const auto norm = parsed["norm"].as<std::string>();
  const auto chosen = from_name<bench::BenchNorm>(norm);
  if (!chosen)
    throw UsageError(
        fmt::format("--norm: expected {}, got '{}'", fmt::join(all_names<bench::BenchNorm>(), ", "), norm));
  o.norm = *chosen;
  if (o.norm != bench::BenchNorm::kBatch && o.what != "bn") throw UsageError("--norm applies to bench bn only");
  for (const auto& [given, flag] : {std::pair{o.relu, "--relu"}, std::pair{o.relu_before, "--relu-before"}})
    if (given && o.norm != bench::BenchNorm::kBatch)
      throw UsageError(fmt::format("{} applies to --norm batch only", flag));
  o.overwrite = parsed.count("overwrite") > 0;
  if (parsed.count("out")) o.out = parsed["out"].as<std::string>();
  return o;
}

void bench_bn(const BenchCommandOptions& o) {
  bench::BnBenchOptions options;
  if (o.quick) options.seconds_per_case = 0.05;
  options.relu = o.relu;
  options.relu_before = o.relu_before;
  options.norm = o.norm;
  bench::BnBenchResult result{{}, o.relu, bench::copy_bandwidth_gbps(), o.norm, o.relu_before};
  bench::print_bn_header(std::cout, result);
  {
    ProgressLine progress(std::cout, ProgressLine::stderr_is_terminal(), 0);
    options.on_case = [&](size_t index, size_t total, const std::string& shape) {
      progress.set_total(total);
      progress.begin(index, "bench bn " + shape);
    };
    result.rows = bench::bench_batch_norm(options);
  }
  bench::print_bn_rows(std::cout, result);
  if (o.out) bench::write_bn_csv(*o.out, result);
}

void bench_train(const BenchCommandOptions& o) {
  bench::TrainBenchOptions options;
  if (o.quick) options.seconds_per_case = 0.1;
  bench::print_train_header(std::cout);
  bench::TrainBenchResult result;
  {
    ProgressLine progress(std::cout, ProgressLine::stderr_is_terminal(), 0);
    options.on_case = [&](size_t index, size_t total, const std::string& what) {
      progress.set_total(total);
      progress.begin(index, "bench train " + what);
    };
    result = bench::bench_training(options);
  }
  bench::print_train_rows(std::cout, result);
  if (o.out) bench::write_train_csv(*o.out, result);
}

}  // namespace

int run_bench(const Args& args) {
  cxxopts::Options parser("bnlab bench",
                          "Benchmarks (run on a quiet machine; medians and quartiles of interleaved repetitions).\n"
                          "  bnlab bench bn      BatchNorm forward+backward: native vs reference vs fused kernels\n"
                          "  bnlab bench train   ms/step of keras-mlp and keras-cnn: none/native/custom BN, batch 32\n"
                          "                      and 128, threads 1 and 2\n");
  parser.add_options()("out", "Also write the table as CSV", cxxopts::value<std::string>(), "FILE")(
      "overwrite", "Replace an existing --out file")("quick", "Short timing budget (for tests; noisy)")(
      "norm",
      "bn: batch, or group, layer, instance (bnlab's GroupNorm against LibTorch's; groups as gn.groups = 0 "
      "gives them)",
      cxxopts::value<std::string>()->default_value("batch"),
      "NORM")("relu",
              "bn: time BatchNorm followed by ReLU (native: BatchNorm then torch::relu; ours: the ReLU fused "
              "into the BatchNorm kernels)")(
      "relu-before",
      "bn: time a ReLU followed by BatchNorm (native: torch::relu then BatchNorm; ours: BatchNorm reading "
      "the ReLU's input, the ReLU applied in its kernels)")("what", "bn or train", cxxopts::value<std::string>());
  parser.parse_positional({"what"});
  parser.positional_help("bn|train");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  const BenchCommandOptions o = read_options(*parsed);
  if (o.out) {
    try {
      bench::check_output_file(*o.out, o.overwrite);
    } catch (const std::invalid_argument& error) {
      throw UsageError(error.what());
    }
  }
  if (o.what == "bn")
    bench_bn(o);
  else
    bench_train(o);
  if (o.out) std::cout << fmt::format("\nwrote {}\n", *o.out);
  return kExitOk;
}

}  // namespace bnlab::cli
