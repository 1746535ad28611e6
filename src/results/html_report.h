#pragma once
// report.html: an experiment's report as one self-contained page that opens
// offline: interactive curves of every metric per variant (mean over seeds,
// min-max band, per-seed lines on demand, epoch or optimiser step on x, zoom,
// values on hover), the sortable summary table, what differs between the
// variants' configs, every run's status and error, the BatchNorm internals
// where bn_stats.csv exists, and where, when and by which commit it was made.
// Charts by uPlot (embedded at build time: cmake/Uplot.cmake); the page's
// script is src/results/report_template.html.
#include <filesystem>
#include <string>

#include "results/report.h"

namespace bnlab::results {

std::string render_html(const Report& report);

// Writes report.html into the experiment's folder (atomically); returns its path.
std::filesystem::path write_html(const std::filesystem::path& experiment_dir, const Report& report);

}  // namespace bnlab::results
