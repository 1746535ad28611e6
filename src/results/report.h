#pragma once
// `bnlab report`: an experiment's results as a table per variant (over
// seeds) and training curves, in results/<name>/report.md (and report.html:
// html_report.h).
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "results/summary.h"

namespace bnlab::results {

struct ReportOptions {
  double threshold = 0.97;                    // for "epochs to reach val_accuracy >= threshold"
  std::vector<std::string> metrics = {"loss", "val_accuracy"};
  bool plots = true;                          // render curves.svg/png (needs gnuplot)
};

struct Report {
  std::string experiment;
  std::string description;  // from experiments/<name>.toml when it exists
  std::vector<VariantSummary> variants;
  double threshold = 0;
  std::vector<std::string> plot_files;  // relative to the experiment's results folder
  std::string plots_skipped;            // why there are no curves, when asked for but not drawn
  std::vector<runs::RunRef> runs;       // every run, variants in the experiment's order
};

// Reads every run under `experiment_dir`, renders the plots into it and
// returns the report. Throws when there are no runs.
Report build_report(const std::filesystem::path& experiment_dir, const ReportOptions& options);

// The experiment's results folder under `results_root`; throws naming the
// folder and the command that fills it when there is none.
std::filesystem::path experiment_results_dir(const std::filesystem::path& results_root, const std::string& name);

// The summary table: its header, then a row per variant (as text).
std::vector<std::vector<std::string>> summary_table(const Report& report);

std::string render_markdown(const Report& report);
// Writes report.md into the experiment's folder; returns its path. Throws
// naming the file when it cannot be written.
std::filesystem::path write_markdown(const std::filesystem::path& experiment_dir, const Report& report);
void print_table(std::ostream& out, const Report& report);

}  // namespace bnlab::results
