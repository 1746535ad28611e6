#include "train/runner.h"

#include <fmt/format.h>
#include <torch/version.h>
#include <unistd.h>

#include <ctime>
#include <memory>

#include "core/build_info.h"
#include "core/threads.h"
#include "data/synthetic.h"
#include "models/model.h"
#include "models/norm.h"
#include "train/csv_writer.h"
#include "train/progress.h"
#include "train/run_directory.h"

namespace bnlab::train {
namespace {

using nlohmann::json;

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::string host_name() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

json to_json(const experiments::ConfigValue& value) {
  return std::visit(
      [](const auto& v) -> json {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, experiments::NoneValue>) return "none";
        else return v;
      },
      value);
}

json config_to_json(const experiments::RunConfig& config) {
  json out = json::object();
  for (const auto& key : experiments::config_keys()) out[key.name] = to_json(key.get(config));
  return out;
}

json metrics_to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},       {"loss", m.loss},
          {"accuracy", m.accuracy}, {"val_loss", m.val_loss},
          {"val_accuracy", m.val_accuracy}, {"ms_per_step", m.ms_per_step}};
}

std::string dataset_key(const experiments::DataConfig& c) {
  return fmt::format("{}|{}|{}|{}|{}", c.dataset, c.standardize, c.train_subset, c.synthetic_train,
                     c.synthetic_test);
}

// Writes metrics.csv (and steps.csv) rows and drives the console output.
class RunListener : public TrainListener {
 public:
  RunListener(const RunDirectory& dir, ConsoleProgress& progress, bool step_evaluations)
      : metrics_(dir.metrics_csv(), metrics_columns()), progress_(progress) {
    if (step_evaluations)
      steps_ = std::make_unique<CsvWriter>(
          dir.steps_csv(), std::vector<std::string>{"step", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"});
  }
  void on_epoch_begin(int64_t epoch, int64_t steps) override { progress_.epoch_begin(epoch, steps); }
  bool wants_running_metrics(int64_t, double elapsed) override { return progress_.due(elapsed); }
  void on_running_metrics(int64_t step, double elapsed, double loss, double accuracy) override {
    progress_.running(step, elapsed, loss, accuracy);
  }
  void on_epoch_end(const EpochMetrics& m) override {
    metrics_.write_row({double(m.epoch), m.loss, m.accuracy, m.val_loss, m.val_accuracy, m.lr,
                        m.epoch_seconds, m.ms_per_step, double(m.steps)});
    progress_.epoch_end(m);
    last = m;
    if (m.val_accuracy > best_val_accuracy) best_val_accuracy = m.val_accuracy;
  }
  void on_step_evaluation(const StepEvaluation& e) override {
    steps_->write_row({double(e.step), double(e.epoch), e.loss, e.accuracy, e.val_loss, e.val_accuracy});
  }

  std::optional<EpochMetrics> last;
  double best_val_accuracy = 0;

 private:
  CsvWriter metrics_;
  std::unique_ptr<CsvWriter> steps_;
  ConsoleProgress& progress_;
};

bool has_batch_norm(torch::nn::Module& model) {
  for (const auto& module : model.modules(false))
    if (models::is_batch_norm(*module)) return true;
  return false;
}

}  // namespace

RunSummary summary_from_record(const std::filesystem::path& run_dir) {
  const json record = read_run_record(run_dir);
  RunSummary summary;
  summary.status = record.is_null() ? "missing" : record.value("status", "unknown");
  if (!record.is_null() && record.contains("final")) {
    const json& final_metrics = record["final"];
    EpochMetrics last;
    last.epoch = final_metrics.value("epoch", 0);
    last.loss = final_metrics.value("loss", 0.0);
    last.accuracy = final_metrics.value("accuracy", 0.0);
    last.val_loss = final_metrics.value("val_loss", 0.0);
    last.val_accuracy = final_metrics.value("val_accuracy", 0.0);
    last.ms_per_step = final_metrics.value("ms_per_step", 0.0);
    summary.last_epoch = last;
    summary.best_val_accuracy = record.value("best_val_accuracy", 0.0);
  }
  return summary;
}

const std::vector<std::string>& metrics_columns() {
  static const std::vector<std::string> columns = {
      "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds", "ms_per_step", "steps"};
  return columns;
}

const data::Dataset& DatasetCache::get(const experiments::DataConfig& config,
                                       const std::filesystem::path& data_dir) {
  const std::string key = dataset_key(config);
  auto found = loaded_.find(key);
  if (found != loaded_.end()) return found->second;
  // The synthetic set is the same for every run (seed 0), so runs compare.
  data::Dataset dataset = config.dataset == "synthetic"
                              ? data::make_synthetic_dataset(config.synthetic_train, config.synthetic_test, 0)
                              : data::load_dataset(config.dataset, data_dir);
  if (config.standardize) data::standardize(dataset);
  if (config.train_subset > 0 && config.train_subset < dataset.train.size()) {
    dataset.train.images = dataset.train.images.slice(0, 0, config.train_subset);
    dataset.train.labels = dataset.train.labels.slice(0, 0, config.train_subset);
  }
  return loaded_.emplace(key, std::move(dataset)).first->second;
}

RunSummary execute_run(const experiments::PlannedRun& run, const RunOptions& options,
                       DatasetCache& datasets, std::ostream& log) {
  RunDirectory dir(run.dir, options.overwrite);
  if (!dir.replaced_note().empty()) log << dir.replaced_note() << "\n";
  log << fmt::format("== {} / {} / seed {} -> {}\n", run.experiment, run.variant, run.seed, run.dir.string());

  json record = {{"experiment", run.experiment},
                 {"variant", run.variant},
                 {"seed", run.seed},
                 {"status", "running"},
                 {"started_at", utc_now()},
                 {"ended_at", nullptr},
                 {"epochs_completed", 0},
                 {"diverged_epoch", nullptr},
                 {"error", nullptr},
                 {"config", config_to_json(run.config)},
                 {"bnlab", {{"version", build_version()}, {"commit", build_commit()}}},
                 {"libtorch", TORCH_VERSION},
                 {"blas", blas_description()},
                 {"threads", at::get_num_threads()},
                 {"host", host_name()},
                 {"pid", getpid()}};
  dir.write_record(record);

  RunSummary summary;
  try {
    const data::Dataset& dataset = datasets.get(run.config.data, options.data_dir);
    torch::manual_seed(run.seed);  // initial weights and dropout masks
    auto model = models::build_model(run.config, dataset.num_classes);
    record["model"] = {{"parameters", models::count_parameters(*model)}, {"layers", models::model_summary(model)}};
    dir.write_record(record);

    ConsoleProgress progress(log, options.live_progress, run.config.train.epochs);
    RunListener listener(dir, progress, run.config.train.eval_every > 0);
    const TrainOutcome outcome =
        train_model(model, dataset, run.config.train, has_batch_norm(*model), run.seed, listener);
    summary.status = to_string(outcome.status);
    summary.last_epoch = listener.last;
    summary.best_val_accuracy = listener.best_val_accuracy;
    record["epochs_completed"] = outcome.epochs_completed;
    if (outcome.diverged_epoch) record["diverged_epoch"] = *outcome.diverged_epoch;
    if (listener.last) record["final"] = metrics_to_json(*listener.last);
    record["best_val_accuracy"] = listener.best_val_accuracy;
    if (outcome.status == TrainStatus::kDiverged)
      log << fmt::format("diverged: non-finite loss in epoch {}\n", *outcome.diverged_epoch);
  } catch (const std::exception& error) {
    summary.status = "failed";
    summary.error = error.what();
    if (auto* torch_error = dynamic_cast<const c10::Error*>(&error)) summary.error = torch_error->what_without_backtrace();
    record["error"] = summary.error;
  }
  record["status"] = summary.status;
  record["ended_at"] = utc_now();
  dir.write_record(record);
  return summary;
}

}  // namespace bnlab::train
