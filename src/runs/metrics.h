#pragma once
// The rows of a run's CSV files, each defined by one table of columns: the
// table gives the header, the order of every row written, and the names in
// run.json's "final". Keras CSVLogger's names and order come first.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

namespace bnlab::runs {

// One epoch's metrics: a row of metrics.csv.
struct EpochMetrics {
  int64_t epoch = 0;                      // 1-based
  double loss = 0, accuracy = 0;          // running averages over the epoch's batches
  double val_loss = 0, val_accuracy = 0;  // on the whole test split, eval mode
  double lr = 0;
  double epoch_seconds = 0;  // training and evaluation
  double ms_per_step = 0;    // training only; in a data-parallel job, the slowest rank's
  int64_t steps = 0;         // optimiser steps taken in this epoch
  // Not columns:
  int64_t global_step = 0;               // optimiser steps so far, over all epochs (and stages)
  std::vector<double> rank_ms_per_step;  // data-parallel jobs: every rank's, in rank order
};

// An evaluation every K steps: a row of steps.csv.
struct StepEvaluation {
  int64_t step = 0;  // global optimiser step, 1-based
  int64_t epoch = 0;
  double loss = 0, accuracy = 0;  // running averages over the epoch so far
  double val_loss = 0, val_accuracy = 0;
};

// A column of a row type: its name and the member it holds.
template <typename Row>
struct Column {
  const char* name;
  std::variant<int64_t Row::*, double Row::*> member;
  bool in_final = true;  // EpochMetrics: also in run.json's "final"

  double get(const Row& row) const {
    return std::visit([&](auto m) { return double(row.*m); }, member);
  }
};

const std::vector<Column<EpochMetrics>>& epoch_columns();
const std::vector<Column<StepEvaluation>>& step_columns();

// A table's header; metrics.csv of a staged run starts with a "stage" column.
template <typename Row>
std::vector<std::string> column_names(const std::vector<Column<Row>>& columns) {
  std::vector<std::string> names;
  for (const auto& column : columns) names.push_back(column.name);
  return names;
}
std::vector<std::string> metrics_csv_columns(bool staged);
constexpr const char* kStageColumn = "stage";

// A row's values in its table's column order.
template <typename Row>
std::vector<double> row_values(const std::vector<Column<Row>>& columns, const Row& row) {
  std::vector<double> values;
  for (const auto& column : columns) values.push_back(column.get(row));
  return values;
}

// run.json's "final": the epoch columns marked in_final.
nlohmann::json final_metrics_json(const EpochMetrics& metrics);
EpochMetrics final_metrics_from_json(const nlohmann::json& final_metrics);

// bn_stats.csv's columns (train/bn_stats.h computes the rows).
const std::vector<std::string>& bn_stats_columns();

}  // namespace bnlab::runs
