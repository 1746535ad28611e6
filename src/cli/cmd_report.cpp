// bnlab report NAME [--results DIR] [--threshold X] [--no-plots]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "results/html_report.h"
#include "results/report.h"
#include "runs/layout.h"

namespace bnlab::cli {

int run_report(const Args& args) {
  cxxopts::Options parser("bnlab report",
                          "Summarise an experiment's runs: per variant, final and best val_accuracy (mean ± std\n"
                          "over seeds), final loss, epochs to a threshold, ms/step and statuses; with training\n"
                          "curves. Writes results/<NAME>/report.md (+ curves.svg/png), report.html (one offline page:\n"
                          "interactive curves, sortable table, config differences, run statuses, BatchNorm internals)\n"
                          "and prints the table.");
  parser.add_options()
      ("results", "Results root (default: results/ or $BNLAB_RESULTS_DIR)", cxxopts::value<std::string>(), "DIR")
      ("threshold", "val_accuracy threshold for 'epochs to'", cxxopts::value<double>()->default_value("0.97"), "X")
      ("no-plots", "Skip the curves (no gnuplot needed)")
      ("name", "Experiment name", cxxopts::value<std::string>());
  parser.parse_positional({"name"});
  parser.positional_help("NAME");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  if (!parsed->count("name")) throw UsageError("missing experiment name");

  const std::string name = (*parsed)["name"].as<std::string>();
  const std::filesystem::path root = parsed->count("results")
                                         ? std::filesystem::path((*parsed)["results"].as<std::string>())
                                         : runs::default_results_root();
  const auto dir = results::experiment_results_dir(root, name);

  results::ReportOptions options;
  options.threshold = (*parsed)["threshold"].as<double>();
  options.plots = parsed->count("no-plots") == 0;
  const auto report = results::build_report(dir, options);
  const auto markdown_path = results::write_markdown(dir, report);
  const auto html_path = results::write_html(dir, report);
  results::print_table(std::cout, report);
  std::cout << fmt::format("\nwrote {}, {}", markdown_path.string(), html_path.string());
  for (const auto& plot : report.plot_files) std::cout << fmt::format(", {}", (dir / plot).string());
  std::cout << "\n";
  if (!report.plots_skipped.empty()) std::cout << fmt::format("curves skipped: {}\n", report.plots_skipped);
  return kExitOk;
}

}  // namespace bnlab::cli
