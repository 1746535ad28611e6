#pragma once
// Figures through gnuplot: panels side by side, one line per series with an
// optional min-max band, written as SVG or PNG.
#include <filesystem>
#include <string>
#include <vector>

#include "results/summary.h"
#include "runs/discovery.h"

namespace bnlab::results {

struct PlotSeries {
  std::string label;
  Curve curve;  // the line is `mean`; min/max draw a band when they differ
};

struct PlotPanel {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
};

struct PlotFigure {
  std::string title;
  std::vector<PlotPanel> panels;  // laid out side by side, wrapping after `columns`
  int columns = 2;
};

// True when some series of the figure has a finite point to draw.
bool has_data(const PlotFigure& figure);

// Renders to `output` (.svg, or .png through cairo). Throws with the command
// to install gnuplot when it is missing, and with gnuplot's message when it
// fails or writes nothing.
void render_figure(const PlotFigure& figure, const std::filesystem::path& output);

// Training curves: a panel per metric, a line per variant (mean over seeds,
// band min-max). x is "epoch" (metrics.csv) or "step" (steps.csv, written
// when train.eval_every is set).
PlotFigure training_curves(const std::vector<runs::RunRef>& runs, const std::vector<std::string>& metrics,
                           const std::string& x, const std::string& title);

// BatchNorm internals from bn_stats.csv (log.bn_stats_every): per hidden
// block, the p15-p85 band and median of one unit's input to the activation,
// the batch vs running mean, and the batch vs running variance (channel
// averages), against the training step; a line (pair) per variant, averaged
// over seeds.
PlotFigure bn_stats_figure(const std::vector<runs::RunRef>& runs, const std::string& title);

// The runs of the results folders to plot together: with several folders,
// variants are prefixed by their experiment's name, so that equal names do
// not merge; the title names them ("a vs b"). Throws std::invalid_argument
// for a CSV file (plots take run or experiment folders).
struct PlotRuns {
  std::vector<runs::RunRef> runs;
  std::string title;
};
PlotRuns runs_to_plot(const std::vector<std::string>& paths);

// Where a plot goes when not told: <stem>.svg and <stem>.png (stem curves,
// or bn_stats for BatchNorm internals) in the one folder given, else in ".".
std::vector<std::filesystem::path> default_plot_outputs(const std::vector<std::string>& paths, bool bn_stats);

// The colour of the i-th series of a panel (matplotlib's tab10, cycled), "#rrggbb".
const std::string& series_color(size_t index);

// "val_accuracy" -> "validation accuracy".
std::string metric_label(const std::string& metric);

}  // namespace bnlab::results
