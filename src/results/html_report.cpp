#include "results/html_report.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/build_info.h"
#include "core/cpu.h"
#include "core/durable_file.h"
#include "results/plot.h"
#include "runs/csv_table.h"
#include "runs/metrics.h"
#include "runs/record.h"

namespace bnlab::results {

// Generated from report_template.html and uPlot's package (CMakeLists.txt).
std::string_view report_template();
std::string_view uplot_js();
std::string_view uplot_css();
std::string_view uplot_license();

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The optimiser step at the end of each epoch row: the running sum of "steps".
std::map<double, double> step_at_epoch(const runs::CsvTable& table) {
  std::map<double, double> steps;
  double total = 0;
  const auto epochs = table.numbers("epoch"), counts = table.numbers("steps");
  for (size_t i = 0; i < epochs.size(); ++i) steps[epochs[i]] = total += counts[i];
  return steps;
}

json axes(const std::vector<double>& epochs, const std::map<double, double>& step_of) {
  std::vector<double> steps;
  for (double epoch : epochs) steps.push_back(step_of.count(epoch) ? step_of.at(epoch) : epoch);
  return {{"epoch", epochs}, {"step", steps}};
}

// A chart per metrics.csv column (but the epoch and step counters), a series
// per variant with its seeds.
json training_charts(const std::vector<runs::RunRef>& runs) {
  std::map<std::string, std::vector<runs::CsvTable>> tables;
  for (const auto& run : runs) tables[run.variant].push_back(runs::read_csv(run.metrics_csv()));
  json charts = json::array();
  for (const auto& column : runs::epoch_columns()) {
    const std::string metric = column.name;
    if (metric == "epoch" || metric == "steps") continue;
    json series = json::array();
    size_t index = 0;
    for (const auto& variant : runs::variant_names(runs)) {
      const auto& variant_tables = tables[variant];
      const Curve curve = aggregate_curve(variant_tables, "epoch", metric);
      json seeds = json::array();
      for (size_t s = 0; s < variant_tables.size(); ++s) {
        const auto& table = variant_tables[s];
        seeds.push_back({{"label", fmt::format("{} {}", variant, table.path.parent_path().filename().string())},
                         {"x", axes(table.numbers("epoch"), step_at_epoch(table))},
                         {"y", table.numbers(metric)}});
      }
      series.push_back({{"label", variant},
                        {"color", series_color(index++)},
                        {"x", axes(curve.x, step_at_epoch(variant_tables.front()))},
                        {"mean", curve.mean},
                        {"min", curve.min},
                        {"max", curve.max},
                        {"seeds", seeds}});
    }
    charts.push_back({{"title", metric_label(metric)}, {"y_label", metric}, {"series", series}});
  }
  return charts;
}

// bnlab plot --bn-stats's panels, for the runs that logged them.
json bn_charts(const std::vector<runs::RunRef>& runs) {
  std::vector<runs::RunRef> logged;
  for (const auto& run : runs)
    if (fs::exists(run.files().bn_stats_csv())) logged.push_back(run);
  json charts = json::array();
  if (logged.empty()) return charts;
  for (const auto& panel : bn_stats_figure(logged, "").panels) {
    json series = json::array();
    for (size_t s = 0; s < panel.series.size(); ++s) {
      const auto& curve = panel.series[s].curve;
      series.push_back({{"label", panel.series[s].label},
                        {"color", series_color(s)},
                        {"x", {{"step", curve.x}}},
                        {"mean", curve.mean},
                        {"min", curve.min},
                        {"max", curve.max},
                        {"seeds", json::array()}});
    }
    if (!series.empty()) charts.push_back({{"title", panel.title}, {"y_label", panel.y_label}, {"series", series}});
  }
  return charts;
}

// The config keys whose values differ between variants (each variant's first run).
json config_differences(const std::vector<runs::RunRef>& runs,
                        const std::vector<std::optional<runs::RunRecord>>& records) {
  std::vector<std::string> variants;
  std::vector<json> configs;
  for (size_t i = 0; i < runs.size(); ++i)
    if (records[i] && std::find(variants.begin(), variants.end(), runs[i].variant) == variants.end()) {
      variants.push_back(runs[i].variant);
      configs.push_back(records[i]->config);
    }
  std::set<std::string> keys;
  for (const auto& config : configs)
    for (const auto& item : config.items()) keys.insert(item.key());
  json rows = json::array();
  for (const auto& key : keys) {
    std::vector<std::string> values;
    for (const auto& config : configs) values.push_back(config.contains(key) ? config.at(key).dump() : "-");
    if (std::set<std::string>(values.begin(), values.end()).size() < 2) continue;
    values.insert(values.begin(), key);
    rows.push_back(values);
  }
  return {{"variants", variants}, {"rows", rows}};
}

json run_table(const std::vector<runs::RunRef>& runs, const std::vector<std::optional<runs::RunRecord>>& records) {
  json rows = json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& record = records[i];
    const std::string accuracy =
        record && record->final_metrics ? fmt::format("{:.4f}", record->final_metrics->val_accuracy) : "-";
    rows.push_back({runs[i].variant, std::to_string(runs[i].seed),
                    record ? runs::to_string(record->status) : "no run.json",
                    record ? std::to_string(record->epochs_completed) : "-", accuracy, record ? record->cpu : "",
                    record && record->error ? *record->error : ""});
  }
  return {{"header", {"variant", "seed", "status", "epochs", "final val_accuracy", "CPU", "error"}}, {"rows", rows}};
}

std::string meta_line(const std::vector<std::optional<runs::RunRecord>>& records) {
  std::set<std::string> commits;
  for (const auto& record : records)
    if (record) commits.insert(record->bnlab_commit);
  return fmt::format("{} runs at bnlab commit {}; report made {:%Y-%m-%d %H:%M} UTC by bnlab {} ({}) on {}",
                     records.size(), fmt::join(commits, ", "), fmt::gmtime(std::time(nullptr)), build_version(),
                     build_commit(), cpu_description());
}

json report_data(const Report& report) {
  std::vector<std::optional<runs::RunRecord>> records;
  for (const auto& run : report.runs) {
    try {
      records.push_back(runs::read_run_record(run.dir));
    } catch (const std::exception&) {
      records.push_back(std::nullopt);  // shown as "no run.json"; the summary says more
    }
  }
  const auto table = summary_table(report);
  return {{"experiment", report.experiment},
          {"description", report.description},
          {"meta", meta_line(records)},
          {"summary", {{"header", table.front()}, {"rows", std::vector(table.begin() + 1, table.end())}}},
          {"training", training_charts(report.runs)},
          {"bn", bn_charts(report.runs)},
          {"config_diff", config_differences(report.runs, records)},
          {"runs", run_table(report.runs, records)}};
}

// JSON inside <script>: "</" would end the element early.
std::string script_safe(std::string text) {
  for (size_t at = text.find("</"); at != std::string::npos; at = text.find("</", at + 3)) text.replace(at, 2, "<\\/");
  return text;
}

void replace_once(std::string& page, const std::string& placeholder, std::string_view with) {
  const size_t at = page.find(placeholder);
  if (at == std::string::npos) throw std::logic_error("report_template.html lacks " + placeholder);
  page.replace(at, placeholder.size(), with);
}

}  // namespace

std::string render_html(const Report& report) {
  std::string page(report_template());
  replace_once(page, "/*UPLOT_CSS*/", uplot_css());
  replace_once(page, "/*UPLOT_JS*/", uplot_js());
  replace_once(page, "/*UPLOT_LICENSE*/", uplot_license());
  replace_once(page, "/*REPORT_JSON*/",
               script_safe(report_data(report).dump(-1, ' ', false, json::error_handler_t::replace)));
  return page;
}

fs::path write_html(const fs::path& experiment_dir, const Report& report) {
  const auto file = experiment_dir / "report.html";
  write_file_atomically(file, render_html(report));
  return file;
}

}  // namespace bnlab::results
