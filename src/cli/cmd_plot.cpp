// bnlab plot RUN_OR_EXPERIMENT_DIR... [-o FILE] [--metrics M,...] [--x epoch|step]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "core/errors.h"
#include "core/text.h"
#include "results/plot.h"

namespace bnlab::cli {
namespace {

// Runs of every path; with several paths, variants are prefixed by the
// folder they came from so that equal names do not merge.
std::vector<results::RunRef> collect_runs(const std::vector<std::string>& paths, std::string& title) {
  std::vector<results::RunRef> runs;
  std::vector<std::string> names;
  for (const auto& path : paths) {
    auto resolved = results::resolve_results_path(path);
    if (resolved.kind == results::ResultsPathKind::kCsvFile)
      throw UsageError(fmt::format("{}: give run or experiment folders to plot, not a CSV file", path));
    const std::string name = resolved.kind == results::ResultsPathKind::kExperimentDir
                                 ? resolved.experiment
                                 : resolved.runs.front().dir.parent_path().parent_path().filename().string();
    names.push_back(name);
    for (auto run : resolved.runs) {
      if (paths.size() > 1) run.variant = name + "/" + run.variant;
      runs.push_back(run);
    }
  }
  title = join(names, " vs ");
  return runs;
}

std::vector<std::filesystem::path> outputs(const cxxopts::ParseResult& parsed, const std::vector<std::string>& paths) {
  if (parsed.count("output")) return {parsed["output"].as<std::string>()};
  const std::filesystem::path dir = paths.size() == 1 ? std::filesystem::path(paths[0]) : std::filesystem::path(".");
  const std::string stem = parsed.count("bn-stats") ? "bn_stats" : "curves";
  return {dir / (stem + ".svg"), dir / (stem + ".png")};
}

}  // namespace

int run_plot(const Args& args) {
  cxxopts::Options parser("bnlab plot",
                          "Training curves through gnuplot: a panel per metric, a line per variant (mean over\n"
                          "seeds) with a min-max band. Writes curves.svg and curves.png into the (single) folder\n"
                          "given, or FILE (.svg or .png) with -o.");
  parser.add_options()
      ("o,output", "Output file, .svg or .png", cxxopts::value<std::string>(), "FILE")
      ("metrics", "Columns to plot", cxxopts::value<std::string>()->default_value("loss,val_accuracy"), "M,...")
      ("x", "epoch (metrics.csv) or step (steps.csv)", cxxopts::value<std::string>()->default_value("epoch"), "X")
      ("bn-stats", "Plot BatchNorm internals from bn_stats.csv (unit percentiles, batch vs running statistics)")
      ("paths", "Run or experiment folders", cxxopts::value<std::vector<std::string>>());
  parser.parse_positional({"paths"});
  parser.positional_help("RUN_OR_EXPERIMENT_DIR...");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;

  if (!parsed->count("paths")) throw UsageError("give at least one run or experiment results folder");
  const auto paths = (*parsed)["paths"].as<std::vector<std::string>>();
  const std::string x = (*parsed)["x"].as<std::string>();
  if (x != "epoch" && x != "step") throw UsageError(fmt::format("--x: expected epoch or step, got '{}'", x));
  const auto metrics = split((*parsed)["metrics"].as<std::string>(), ',');
  if (metrics.empty()) throw UsageError("--metrics: give at least one column");

  std::string title;
  const auto runs = collect_runs(paths, title);
  const bool bn_stats = parsed->count("bn-stats") > 0;
  const auto figure = bn_stats ? results::bn_stats_figure(runs, title + ": BatchNorm internals, mean over seeds")
                               : results::training_curves(runs, metrics, x, title + ": mean over seeds, band min-max");
  for (const auto& output : outputs(*parsed, paths)) {
    results::render_figure(figure, output);
    std::cout << fmt::format("wrote {}\n", output.string());
  }
  return kExitOk;
}

}  // namespace bnlab::cli
