// bnlab plot RUN_OR_EXPERIMENT_DIR... [-o FILE] [--metrics M,...] [--x epoch|step]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "core/text.h"
#include "results/plot.h"

namespace bnlab::cli {

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

  const bool bn_stats = parsed->count("bn-stats") > 0;
  results::PlotRuns plot;
  try {
    plot = results::runs_to_plot(paths);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  const auto figure =
      bn_stats ? results::bn_stats_figure(plot.runs, plot.title + ": BatchNorm internals, mean over seeds")
               : results::training_curves(plot.runs, metrics, x, plot.title + ": mean over seeds, band min-max");
  const auto outputs = parsed->count("output")
                           ? std::vector<std::filesystem::path>{(*parsed)["output"].as<std::string>()}
                           : results::default_plot_outputs(paths, bn_stats);
  for (const auto& output : outputs) {
    results::render_figure(figure, output);
    std::cout << fmt::format("wrote {}\n", output.string());
  }
  return kExitOk;
}

}  // namespace bnlab::cli
