#include "runs/metrics.h"

#include <fmt/format.h>

#include "runs/json_values.h"

namespace bnlab::runs {

const std::vector<Column<EpochMetrics>>& epoch_columns() {
  using M = EpochMetrics;
  static const std::vector<Column<M>> columns = {
      {"epoch", &M::epoch},
      {"loss", &M::loss},
      {"accuracy", &M::accuracy},
      {"val_loss", &M::val_loss},
      {"val_accuracy", &M::val_accuracy},
      {"lr", &M::lr, false},
      {"epoch_seconds", &M::epoch_seconds, false},
      {"ms_per_step", &M::ms_per_step},
      {"steps", &M::steps, false},
  };
  return columns;
}

const std::vector<Column<StepEvaluation>>& step_columns() {
  using S = StepEvaluation;
  static const std::vector<Column<S>> columns = {
      {"step", &S::step},         {"epoch", &S::epoch},       {"loss", &S::loss},
      {"accuracy", &S::accuracy}, {"val_loss", &S::val_loss}, {"val_accuracy", &S::val_accuracy},
  };
  return columns;
}

std::vector<std::string> metrics_csv_columns(bool staged) {
  std::vector<std::string> names = staged ? std::vector<std::string>{kStageColumn} : std::vector<std::string>{};
  for (const auto& name : column_names(epoch_columns())) names.push_back(name);
  return names;
}

namespace {

// Each in_final column by its own type: an integer column takes integers only.
void read_final_metrics(const nlohmann::json& final_metrics, EpochMetrics& metrics) {
  for (const auto& column : epoch_columns()) {
    if (!column.in_final) continue;
    std::visit(
        [&](auto m) {
          using Value = std::decay_t<decltype(metrics.*m)>;
          metrics.*m = json_field<Value>(final_metrics, column.name, Value(0));
        },
        column.member);
  }
}

}  // namespace

nlohmann::json final_metrics_json(const EpochMetrics& metrics) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& column : epoch_columns()) {
    if (!column.in_final) continue;
    std::visit([&](auto m) { out[column.name] = metrics.*m; }, column.member);
  }
  return out;
}

EpochMetrics final_metrics_from_json(const nlohmann::json& final_metrics) {
  EpochMetrics metrics;
  try {
    read_final_metrics(final_metrics, metrics);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(fmt::format("final.{}", error.what()));  // "final.epoch: expected ..."
  }
  return metrics;
}

const std::vector<std::string>& bn_stats_columns() {
  static const std::vector<std::string> names = {"step",
                                                 "epoch",
                                                 "block",
                                                 "batch_mean_avg",
                                                 "batch_mean_std",
                                                 "batch_var_avg",
                                                 "batch_var_std",
                                                 "running_mean_avg",
                                                 "running_mean_std",
                                                 "running_var_avg",
                                                 "running_var_std",
                                                 "gamma_avg",
                                                 "gamma_std",
                                                 "beta_avg",
                                                 "beta_std",
                                                 "unit_p15",
                                                 "unit_p50",
                                                 "unit_p85",
                                                 "train_eval_gap"};
  return names;
}

}  // namespace bnlab::runs
