#include "results/report.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "core/durable_file.h"
#include "experiments/catalog.h"
#include "results/plot.h"

namespace bnlab::results {
namespace {

std::string format_mean_std(const MeanStd& s, int digits) {
  if (s.count == 0) return "-";
  return s.count > 1 ? fmt::format("{:.{}f} ± {:.{}f}", s.mean, digits, s.std, digits) : fmt::format("{:.{}f}", s.mean, digits);
}

std::string format_statuses(const VariantSummary& v) {
  std::vector<std::string> parts;
  for (const auto& [status, count] : v.statuses) parts.push_back(fmt::format("{} {}", count, status));
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string format_epochs_to(const VariantSummary& v) {
  if (v.reached_threshold == 0) return "never";
  std::string text = format_mean_std(v.epochs_to_threshold, v.epochs_to_threshold.count > 1 ? 1 : 0);
  if (v.reached_threshold < v.runs) text += fmt::format(" ({}/{} runs)", v.reached_threshold, v.runs);
  return text;
}

std::vector<std::string> header(double threshold) {
  return {"variant", "runs", "final val_accuracy", "best val_accuracy", "final loss",
          fmt::format("epochs to {:g}", threshold), "ms/step", "status"};
}

std::vector<std::string> row(const VariantSummary& v) {
  return {v.variant,
          std::to_string(v.runs),
          format_mean_std(v.final_val_accuracy, 4),
          format_mean_std(v.best_val_accuracy, 4),
          format_mean_std(v.final_loss, 4),
          format_epochs_to(v),
          std::isnan(v.ms_per_step) ? "-" : fmt::format("{:.3f}", v.ms_per_step),
          format_statuses(v)};
}

std::string description_of(const std::string& experiment) {
  try {
    return experiments::load_experiment(experiment).description;
  } catch (const std::exception&) {
    return "";  // results without (or with a changed) experiment file still report
  }
}

// Characters shown, not bytes ("±" is two bytes of UTF-8).
size_t display_width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

std::string pad(const std::string& text, size_t width, bool left_align) {
  const std::string fill(width > display_width(text) ? width - display_width(text) : 0, ' ');
  return left_align ? text + fill : fill + text;
}

}  // namespace

Report build_report(const std::filesystem::path& experiment_dir, const ReportOptions& options) {
  const auto runs = runs::experiment_runs(experiment_dir);
  if (runs.empty())
    throw std::runtime_error(fmt::format("{}: no runs (expected <variant>/seed-<s>/metrics.csv)", experiment_dir.string()));
  Report report;
  report.experiment = experiment_dir.filename().string();
  report.description = description_of(report.experiment);
  report.variants = summarize_variants(runs, options.threshold);
  report.threshold = options.threshold;
  report.runs = runs;
  if (options.plots) {
    const auto figure = training_curves(runs, options.metrics, "epoch",
                                        fmt::format("{}: mean over seeds, band min-max", report.experiment));
    if (!has_data(figure)) report.plots_skipped = "no run has a metrics row to draw (see the statuses above)";
    for (const char* file : {"curves.svg", "curves.png"}) {
      if (!report.plots_skipped.empty()) break;
      render_figure(figure, experiment_dir / file);
      report.plot_files.push_back(file);
    }
  }
  return report;
}

std::vector<std::vector<std::string>> summary_table(const Report& report) {
  std::vector<std::vector<std::string>> rows = {header(report.threshold)};
  for (const auto& v : report.variants) rows.push_back(row(v));
  return rows;
}

std::string render_markdown(const Report& report) {
  std::string md = fmt::format("# {}\n\n", report.experiment);
  if (!report.description.empty()) md += report.description + "\n\n";
  const auto table = summary_table(report);
  md += "| " + fmt::format("{}", fmt::join(table.front(), " | ")) + " |\n|";
  for (size_t i = 0; i < table.front().size(); ++i) md += i == 0 ? "---|" : "---:|";
  md += "\n";
  for (size_t r = 1; r < table.size(); ++r) md += "| " + fmt::format("{}", fmt::join(table[r], " | ")) + " |\n";
  md += fmt::format(
      "\nMeans ± sample standard deviations over seeds. Accuracies are on the test split; \"epochs to {:g}\" is the "
      "first epoch whose val_accuracy reaches {:g}; ms/step is the median over all epochs of all runs.\n",
      report.threshold, report.threshold);
  if (!report.plot_files.empty()) {
    md += "\n## Training curves\n\n![training curves](curves.png)\n\n";
    md += "Vector version: [curves.svg](curves.svg).\n";
  }
  if (!report.plots_skipped.empty()) md += fmt::format("\n## Training curves\n\nNone: {}.\n", report.plots_skipped);
  return md;
}

std::filesystem::path experiment_results_dir(const std::filesystem::path& results_root, const std::string& name) {
  const auto dir = results_root / name;
  if (!std::filesystem::is_directory(dir))
    throw std::runtime_error(
        fmt::format("{}: no results for '{}' (run `bnlab run {}` first)", dir.string(), name, name));
  return dir;
}

std::filesystem::path write_markdown(const std::filesystem::path& experiment_dir, const Report& report) {
  const auto file = experiment_dir / "report.md";
  write_file_atomically(file, render_markdown(report));
  return file;
}

void print_table(std::ostream& out, const Report& report) {
  const auto rows = summary_table(report);
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], display_width(r[i]));
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) out << pad(r[i], widths[i], i == 0) << "  ";
    out << "\n";
  }
}

}  // namespace bnlab::results
