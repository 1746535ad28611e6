// bnlab diff A B [--key K] [--atol X] [--rtol X] [--columns C,...] [--ignore C,...]
//                [--include-timing] [--format text|csv]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "core/text.h"
#include "results/diff.h"

namespace bnlab::cli {
namespace {

// Exit codes of diff: equal, different, error.
constexpr int kDiffEqual = 0, kDiffDifferent = 1, kDiffError = 2;

std::vector<std::string> list_option(const cxxopts::ParseResult& parsed, const char* name) {
  return parsed.count(name) ? split(parsed[name].as<std::string>(), ',') : std::vector<std::string>{};
}

int diff_files(const runs::ResultsPath& a, const runs::ResultsPath& b, const results::DiffOptions& options, bool csv) {
  auto diff = results::diff_tables(runs::read_csv(a.metrics_csv()), runs::read_csv(b.metrics_csv()), options);
  if (csv)
    results::write_diff_csv(std::cout, {diff});
  else
    results::write_diff_text(std::cout, diff);
  return diff.equal() ? kDiffEqual : kDiffDifferent;
}

int diff_experiments(const runs::ResultsPath& a, const runs::ResultsPath& b, const results::DiffOptions& options,
                     bool csv) {
  const auto diff = results::diff_experiments(a.runs, b.runs, options);
  if (csv) {
    results::write_diff_csv(std::cout, diff.runs);
  } else {
    for (const auto& run : diff.runs) results::write_diff_text(std::cout, run);
    for (const auto& name : diff.only_in_a) std::cout << fmt::format("run {} only in A ({})\n", name, a.path.string());
    for (const auto& name : diff.only_in_b) std::cout << fmt::format("run {} only in B ({})\n", name, b.path.string());
    size_t equal = 0;
    for (const auto& run : diff.runs) equal += run.equal();
    std::cout << fmt::format("{} runs compared, {} equal, {} different; {} only in A, {} only in B\n",
                             diff.runs.size(), equal, diff.runs.size() - equal, diff.only_in_a.size(),
                             diff.only_in_b.size());
  }
  return diff.equal() ? kDiffEqual : kDiffDifferent;
}

}  // namespace

int run_diff(const Args& args) {
  cxxopts::Options parser(
      "bnlab diff",
      "Compare result CSVs cell by cell. A and B are metrics CSVs, run folders (their metrics.csv)\n"
      "or experiment results folders (every run in both, matched by variant and seed).\n"
      "Two numbers are equal when |a-b| <= atol or |a-b| <= rtol*max(|a|,|b|) (numdiff's rule).\n"
      "Exit: 0 equal within tolerance, 1 different, 2 error.");
  parser.add_options()
      ("key", "Key column(s) to align rows on (default: stage,epoch when both have stage, else epoch)",
       cxxopts::value<std::string>(), "COLS")
      ("atol", "Absolute tolerance", cxxopts::value<double>()->default_value("0"), "X")
      ("rtol", "Relative tolerance", cxxopts::value<double>()->default_value("0"), "X")
      ("columns", "Compare only these columns", cxxopts::value<std::string>(), "C,...")
      ("ignore", "Do not compare these columns", cxxopts::value<std::string>(), "C,...")
      ("include-timing", "Also compare timing columns (epoch_seconds, ms_per_step), skipped by default")
      ("format", "text or csv", cxxopts::value<std::string>()->default_value("text"), "F")
      ("paths", "A B", cxxopts::value<std::vector<std::string>>());
  parser.parse_positional({"paths"});
  parser.positional_help("A B");
  try {
    auto parsed = parse_command(parser, args);
    if (!parsed) return kExitOk;
    const auto paths = parsed->count("paths") ? (*parsed)["paths"].as<std::vector<std::string>>() : Args{};
    if (paths.size() != 2) throw UsageError(fmt::format("expected two paths A B, got {}", paths.size()));
    results::DiffOptions options;
    options.key = list_option(*parsed, "key");
    options.atol = (*parsed)["atol"].as<double>();
    options.rtol = (*parsed)["rtol"].as<double>();
    if (options.atol < 0 || options.rtol < 0) throw UsageError("--atol and --rtol must be >= 0");
    options.columns = list_option(*parsed, "columns");
    options.ignore = list_option(*parsed, "ignore");
    options.include_timing = parsed->count("include-timing") > 0;
    const std::string format = (*parsed)["format"].as<std::string>();
    if (format != "text" && format != "csv") throw UsageError(fmt::format("--format: expected text or csv, got '{}'", format));

    const auto a = runs::resolve_results_path(paths[0]);
    const auto b = runs::resolve_results_path(paths[1]);
    const bool a_experiment = a.kind == runs::ResultsPathKind::kExperimentDir;
    if (a_experiment != (b.kind == runs::ResultsPathKind::kExperimentDir))
      throw std::runtime_error("compare two experiment folders, or two runs/CSV files, not one of each");
    return a_experiment ? diff_experiments(a, b, options, format == "csv") : diff_files(a, b, options, format == "csv");
  } catch (const UsageError&) {
    throw;  // exit 2 with usage, like every command
  } catch (const std::exception& error) {
    std::cerr << fmt::format("bnlab diff: error: {}\n", error.what());
    return kDiffError;  // diff's errors exit 2, not 1: 1 means "different"
  }
}

}  // namespace bnlab::cli
