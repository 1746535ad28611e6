#include "results/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "core/durable_file.h"
#include "core/process.h"

namespace bnlab::results {
namespace fs = std::filesystem;
namespace {

// Matplotlib's tab10, readable on white and distinguishable in print.
const std::vector<std::string> kColors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string quoted(const std::string& text) {  // a gnuplot single-quoted string
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string terminal_for(const fs::path& output, int width, int height) {
  const std::string extension = output.extension().string();
  if (extension == ".svg")
    return fmt::format("svg size {},{} dynamic noenhanced font 'Helvetica,13' background rgb 'white'", width, height);
  if (extension == ".png") return fmt::format("pngcairo size {},{} noenhanced font 'Helvetica,11'", width, height);
  throw std::invalid_argument(fmt::format("{}: plots are written as .svg or .png", output.string()));
}

// Writes one data file per series: x mean min max.
fs::path write_series(const fs::path& dir, size_t panel, size_t series, const Curve& curve) {
  const fs::path file = dir / fmt::format("p{}_s{}.dat", panel, series);
  std::string text;
  for (size_t i = 0; i < curve.x.size(); ++i)
    text += fmt::format("{} {} {} {}\n", curve.x[i], curve.mean[i], curve.min[i], curve.max[i]);
  write_file_atomically(file, text);
  return file;
}

// gnuplot stops with "all points y value undefined" on a series of NaNs
// only (runs that diverged in their first epoch): such a series is left out.
bool has_finite_point(const Curve& curve) {
  return std::any_of(curve.mean.begin(), curve.mean.end(), [](double y) { return std::isfinite(y); });
}

std::string panel_script(const PlotPanel& panel, size_t index, const fs::path& dir) {
  std::string script = fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", quoted(panel.title),
                                   quoted(panel.x_label), quoted(panel.y_label));
  const bool loss_like = panel.y_label.find("loss") != std::string::npos;
  script += loss_like ? "set key top right\n" : "set key bottom right\n";
  std::vector<std::string> bands, lines;
  for (size_t s = 0; s < panel.series.size(); ++s) {
    const auto& series = panel.series[s];
    if (series.curve.x.empty() || !has_finite_point(series.curve)) continue;
    const std::string file = quoted(write_series(dir, index, s, series.curve).string());
    const std::string color = quoted(series_color(s));
    if (series.curve.min != series.curve.max)
      bands.push_back(fmt::format("{} using 1:3:4 with filledcurves fc rgb {} fs transparent solid 0.18 noborder notitle",
                                  file, color));
    lines.push_back(fmt::format("{} using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb {} title {}", file, color,
                                quoted(series.label)));
  }
  bands.insert(bands.end(), lines.begin(), lines.end());  // bands first, lines on top
  // An empty panel: a constant outside the fixed ranges draws the frame only
  // (plotting NaN alone is an error to gnuplot).
  if (bands.empty())
    return script + "set label 1 'no data' at graph 0.5,0.5 center\nplot [0:1] [0:1] 2 notitle\nunset label 1\n";
  return script + "plot " + fmt::format("{}", fmt::join(bands, ", \\\n     ")) + "\n";
}

}  // namespace

const std::string& series_color(size_t index) { return kColors[index % kColors.size()]; }

std::string metric_label(const std::string& metric) {
  std::string label = metric.rfind("val_", 0) == 0 ? "validation " + metric.substr(4) : metric;
  for (char& c : label)
    if (c == '_') c = ' ';
  return label;
}

bool has_data(const PlotFigure& figure) {
  for (const auto& panel : figure.panels)
    for (const auto& series : panel.series)
      if (has_finite_point(series.curve)) return true;
  return false;
}

void render_figure(const PlotFigure& figure, const fs::path& output) {
  if (!has_data(figure))
    throw std::runtime_error(
        fmt::format("nothing to plot into {}: no run has a finite value to draw (failed or "
                    "diverged runs only? their run.json says why)",
                    output.string()));
  if (!program_on_path("gnuplot"))
    throw std::runtime_error("gnuplot not found: apt-get install gnuplot-nox (or run scripts/setup.sh)");
  const int columns = std::max(1, std::min<int>(figure.columns, static_cast<int>(figure.panels.size())));
  const int rows = (static_cast<int>(figure.panels.size()) + columns - 1) / columns;
  const ScratchFolder work(fs::temp_directory_path(), "bnlab-plot-");
  // gnuplot writes into the scratch folder; the figure then replaces `output`
  // atomically, so a failed plot leaves the previous figure, not a partial one.
  const fs::path drawn = work.path() / ("figure" + output.extension().string());
  std::string script = fmt::format("set terminal {}\nset output {}\n",
                                   terminal_for(output, 560 * columns, 420 * rows + 40), quoted(drawn.string()));
  script += fmt::format("set multiplot layout {},{} title {} font ',15'\n", rows, columns, quoted(figure.title));
  script += "set grid lc rgb '#dddddd'\nset border lc rgb '#555555'\nset key opaque box lc rgb '#cccccc'\n";
  for (size_t p = 0; p < figure.panels.size(); ++p) script += panel_script(figure.panels[p], p, work.path());
  script += "unset multiplot\n";
  const fs::path script_file = work.path() / "figure.gp";
  write_file_atomically(script_file, script);

  const auto result = run_process({"gnuplot", script_file.string()});
  if (result.exit_code != 0)
    throw std::runtime_error(
        fmt::format("gnuplot failed (exit {}) drawing {}:\n{}", result.exit_code, output.string(), result.output));
  const std::string bytes = read_whole_file(drawn);
  if (bytes.empty())
    throw std::runtime_error(fmt::format("gnuplot drew nothing for {}:\n{}", output.string(), result.output));
  fs::create_directories(output.parent_path().empty() ? fs::path(".") : output.parent_path());
  write_file_atomically(output, bytes);
}

PlotFigure training_curves(const std::vector<runs::RunRef>& runs, const std::vector<std::string>& metrics,
                           const std::string& x, const std::string& title) {
  std::map<std::string, std::vector<runs::CsvTable>> tables;
  for (const auto& run : runs) {
    const fs::path file = x == "step" ? run.files().steps_csv() : run.files().metrics_csv();
    if (!fs::exists(file))
      throw std::runtime_error(fmt::format("{}: no {}{}", run.dir.string(), file.filename().string(),
                                           x == "step" ? " (run with --set train.eval_every=K to log steps)" : ""));
    tables[run.variant].push_back(runs::read_csv(file));
  }
  PlotFigure figure;
  figure.title = title;
  for (const auto& metric : metrics) {
    PlotPanel panel{metric_label(metric), x, metric_label(metric), {}};
    for (const auto& variant : runs::variant_names(runs)) {
      const auto& variant_tables = tables[variant];
      const std::string label = variant_tables.size() > 1 ? fmt::format("{} ({} seeds)", variant, variant_tables.size())
                                                          : variant;
      panel.series.push_back({label, aggregate_curve(variant_tables, x, metric)});
    }
    figure.panels.push_back(std::move(panel));
  }
  return figure;
}

namespace {

// Rows of one block from every run of a variant, as tables per run.
std::vector<runs::CsvTable> block_rows(const std::vector<runs::CsvTable>& tables, int block) {
  std::vector<runs::CsvTable> selected;
  for (const auto& table : tables) {
    runs::CsvTable rows = table;
    rows.rows.clear();
    const size_t column = table.column_index("block");
    for (size_t r = 0; r < table.rows.size(); ++r)
      if (table.number(r, column) == block) rows.rows.push_back(table.rows[r]);
    selected.push_back(std::move(rows));
  }
  return selected;
}

// mean = median, band = p15..p85, averaged over seeds.
Curve percentile_band(const std::vector<runs::CsvTable>& tables) {
  Curve band = aggregate_curve(tables, "step", "unit_p50");
  band.min = aggregate_curve(tables, "step", "unit_p15").mean;
  band.max = aggregate_curve(tables, "step", "unit_p85").mean;
  return band;
}

Curve line_only(Curve curve) {
  curve.min = curve.max = curve.mean;
  return curve;
}

}  // namespace

PlotFigure bn_stats_figure(const std::vector<runs::RunRef>& runs, const std::string& title) {
  std::map<std::string, std::vector<runs::CsvTable>> tables;
  int blocks = 0;
  for (const auto& run : runs) {
    const fs::path file = run.files().bn_stats_csv();
    if (!fs::exists(file))
      throw std::runtime_error(
          fmt::format("{}: no {} (run with --set log.bn_stats_every=K)", run.dir.string(), file.filename().string()));
    tables[run.variant].push_back(runs::read_csv(file));
    for (double b : tables[run.variant].back().numbers("block")) blocks = std::max(blocks, int(b));
  }
  PlotFigure figure;
  figure.title = title;
  figure.columns = 3;
  for (int block = 1; block <= blocks; ++block) {
    PlotPanel unit{fmt::format("block {}: unit 0 input to activation (p15-p85, median)", block), "step", "value", {}};
    PlotPanel mean{fmt::format("block {}: BN mean, batch vs running", block), "step", "channel average", {}};
    PlotPanel var{fmt::format("block {}: BN variance, batch vs running", block), "step", "channel average", {}};
    for (const auto& variant : runs::variant_names(runs)) {
      const auto rows = block_rows(tables[variant], block);
      unit.series.push_back({variant, percentile_band(rows)});
      const bool has_bn = !rows.empty() && !rows[0].rows.empty() && std::isfinite(rows[0].number(0, rows[0].column_index("batch_mean_avg")));
      if (!has_bn) continue;
      mean.series.push_back({variant + " batch", line_only(aggregate_curve(rows, "step", "batch_mean_avg"))});
      mean.series.push_back({variant + " running", line_only(aggregate_curve(rows, "step", "running_mean_avg"))});
      var.series.push_back({variant + " batch", line_only(aggregate_curve(rows, "step", "batch_var_avg"))});
      var.series.push_back({variant + " running", line_only(aggregate_curve(rows, "step", "running_var_avg"))});
    }
    figure.panels.push_back(std::move(unit));
    figure.panels.push_back(std::move(mean));
    figure.panels.push_back(std::move(var));
  }
  return figure;
}

PlotRuns runs_to_plot(const std::vector<std::string>& paths) {
  PlotRuns plot;
  std::vector<std::string> names;
  for (const auto& path : paths) {
    auto resolved = runs::resolve_results_path(path);
    if (resolved.kind == runs::ResultsPathKind::kCsvFile)
      throw std::invalid_argument(fmt::format("{}: give run or experiment folders to plot, not a CSV file", path));
    names.push_back(resolved.experiment);
    for (auto run : resolved.runs) {
      if (paths.size() > 1) run.variant = resolved.experiment + "/" + run.variant;
      plot.runs.push_back(run);
    }
  }
  plot.title = fmt::format("{}", fmt::join(names, " vs "));
  return plot;
}

std::vector<fs::path> default_plot_outputs(const std::vector<std::string>& paths, bool bn_stats) {
  const fs::path dir = paths.size() == 1 ? fs::path(paths[0]) : fs::path(".");
  const std::string stem = bn_stats ? "bn_stats" : "curves";
  return {dir / (stem + ".svg"), dir / (stem + ".png")};
}

}  // namespace bnlab::results
