#include "results/summary.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runs/record.h"

namespace bnlab::results {

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd out;
  out.count = static_cast<int>(values.size());
  if (values.empty()) return out;
  for (double v : values) out.mean += v;
  out.mean /= values.size();
  if (values.size() > 1) {
    double squares = 0;
    for (double v : values) squares += (v - out.mean) * (v - out.mean);
    out.std = std::sqrt(squares / (values.size() - 1));
  }
  return out;
}

double median(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

Curve aggregate_curve(const std::vector<runs::CsvTable>& tables, const std::string& x_column,
                      const std::string& metric) {
  std::map<double, std::vector<double>> by_x;
  for (const auto& table : tables) {
    const auto xs = table.numbers(x_column);
    const auto ys = table.numbers(metric);
    for (size_t i = 0; i < xs.size(); ++i)
      if (std::isfinite(ys[i])) by_x[xs[i]].push_back(ys[i]);
  }
  Curve curve;
  for (const auto& [x, ys] : by_x) {
    curve.x.push_back(x);
    curve.mean.push_back(mean_std(ys).mean);
    curve.min.push_back(*std::min_element(ys.begin(), ys.end()));
    curve.max.push_back(*std::max_element(ys.begin(), ys.end()));
  }
  return curve;
}

std::vector<VariantSummary> summarize_variants(const std::vector<runs::RunRef>& runs, double threshold) {
  std::vector<VariantSummary> summaries;
  for (const auto& variant : runs::variant_names(runs)) {
    VariantSummary s;
    s.variant = variant;
    std::vector<double> final_acc, best_acc, final_loss, epochs_to, ms;
    for (const auto& run : runs) {
      if (run.variant != variant) continue;
      ++s.runs;
      const auto record = runs::read_run_record(run.dir);
      ++s.statuses[record ? runs::to_string(record->status) : "unknown"];
      runs::CsvTable table = runs::read_csv(run.metrics_csv());
      if (table.has_column(runs::kStageColumn) && !table.rows.empty()) {
        // Staged runs: the numbers of the final stage (the task the run ends on).
        const size_t stage = table.column_index(runs::kStageColumn);
        const std::string last = table.rows.back()[stage];
        std::vector<std::vector<std::string>> rows;
        for (auto& r : table.rows)
          if (r[stage] == last) rows.push_back(r);
        table.rows = rows;
      }
      if (table.rows.empty()) continue;
      const auto acc = table.numbers("val_accuracy");
      const auto epochs = table.numbers("epoch");
      final_acc.push_back(acc.back());
      best_acc.push_back(*std::max_element(acc.begin(), acc.end()));
      final_loss.push_back(table.numbers("loss").back());
      for (size_t i = 0; i < acc.size(); ++i)
        if (acc[i] >= threshold) {
          epochs_to.push_back(epochs[i]);
          break;
        }
      for (double v : table.numbers("ms_per_step")) ms.push_back(v);
    }
    s.final_val_accuracy = mean_std(final_acc);
    s.best_val_accuracy = mean_std(best_acc);
    s.final_loss = mean_std(final_loss);
    s.epochs_to_threshold = mean_std(epochs_to);
    s.reached_threshold = static_cast<int>(epochs_to.size());
    s.ms_per_step = median(ms);
    summaries.push_back(s);
  }
  return summaries;
}

}  // namespace bnlab::results
