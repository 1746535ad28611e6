#include "train/runner.h"

#include <fmt/format.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>

#include "core/build_info.h"
#include "core/threads.h"
#include "data/synthetic.h"
#include "dist/data_parallel.h"
#include "models/model.h"
#include "models/norm.h"
#include "train/csv_writer.h"
#include "train/progress.h"
#include "train/bn_stats.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
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

bool has_named_stages(const experiments::PlannedRun& run) { return !run.stages.front().spec.name.empty(); }

std::vector<std::string> metrics_file_columns(bool staged) {
  std::vector<std::string> columns = staged ? std::vector<std::string>{"stage"} : std::vector<std::string>{};
  for (const auto& c : metrics_columns()) columns.push_back(c);
  return columns;
}

// Writes metrics.csv rows (with the stage name first in staged runs),
// steps.csv and bn_stats.csv, checkpoints after epochs, and drives the console.
// `dir` is null on data-parallel ranks other than 0, which keep the
// bookkeeping (last epoch, best accuracy) but write no file.
class RunListener : public TrainListener {
 public:
  RunListener(const RunDirectory* dir, bool staged, bool append, ConsoleProgress& progress)
      : dir_(dir), staged_(staged), append_(append), progress_(progress) {
    if (dir_) metrics_.emplace(dir_->metrics_csv(), metrics_file_columns(staged), append);
  }

  // Per stage: what the stage is, and what to checkpoint.
  void begin_stage(int64_t index, const experiments::ResolvedStage& stage, torch::nn::Sequential model,
                   torch::optim::Optimizer* optimizer, bool save_checkpoints) {
    stage_index_ = index;
    best_val_accuracy = 0;  // "best" means within the final stage (epochs of one task)
    progress_.set_epochs(stage.config.train.epochs);
    stage_name_ = stage.spec.name;
    model_ = model;
    optimizer_ = optimizer;
    save_checkpoints_ = save_checkpoints;
    if (!dir_) return;
    if (stage.config.train.eval_every > 0 && !steps_)
      steps_ = std::make_unique<CsvWriter>(
          dir_->steps_csv(), std::vector<std::string>{"step", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"},
          append_);
    bn_stats_every_ = stage.config.log.bn_stats_every;
    if (bn_stats_every_ > 0 && !bn_stats_)
      bn_stats_ = std::make_unique<BnStatsLogger>(dir_->bn_stats_csv(), bn_stats_every_, append_);
  }

  void on_epoch_begin(int64_t epoch, int64_t steps) override { progress_.epoch_begin(epoch, steps); }
  bool wants_running_metrics(int64_t, double elapsed) override { return progress_.due(elapsed); }
  void on_running_metrics(int64_t step, double elapsed, double loss, double accuracy) override {
    progress_.running(step, elapsed, loss, accuracy);
  }
  void on_epoch_end(const EpochMetrics& m) override {
    write_metrics(m);
    progress_.epoch_end(m);
    if (dir_ && save_checkpoints_ && optimizer_ && std::isfinite(m.loss))
      save_checkpoint(dir_->checkpoint(), *model_, *optimizer_,
                      {stage_index_, m.epoch, m.global_step, rows_written, best_val_accuracy});
  }
  void on_step_evaluation(const StepEvaluation& e) override {
    if (steps_) steps_->write_row({double(e.step), double(e.epoch), e.loss, e.accuracy, e.val_loss, e.val_accuracy});
  }
  bool wants_probe(int64_t global_step) override { return bn_stats_ && bn_stats_every_ > 0 && global_step % bn_stats_every_ == 0; }
  void on_probe(int64_t global_step, int64_t epoch, const data::Batch& batch) override {
    bn_stats_->log(model_, global_step, epoch, batch);
  }

  void write_metrics(const EpochMetrics& m) {
    const std::vector<double> values = {double(m.epoch), m.loss, m.accuracy, m.val_loss, m.val_accuracy, m.lr,
                                        m.epoch_seconds, m.ms_per_step, double(m.steps)};
    if (metrics_) metrics_->write_row(staged_ ? std::vector<std::string>{stage_name_} : std::vector<std::string>{}, values);
    ++rows_written;
    last = m;
    if (m.val_accuracy > best_val_accuracy) best_val_accuracy = m.val_accuracy;
  }

  std::optional<EpochMetrics> last;
  double best_val_accuracy = 0;
  int64_t rows_written = 0;

 private:
  const RunDirectory* dir_;
  bool staged_;
  std::optional<CsvWriter> metrics_;
  bool append_;
  std::unique_ptr<CsvWriter> steps_;
  std::unique_ptr<BnStatsLogger> bn_stats_;
  int64_t bn_stats_every_ = 0;
  ConsoleProgress& progress_;
  int64_t stage_index_ = 0;
  std::string stage_name_;
  torch::nn::Sequential model_{nullptr};
  torch::optim::Optimizer* optimizer_ = nullptr;
  bool save_checkpoints_ = false;
};

bool has_batch_norm(torch::nn::Module& model) { return !models::batch_norm_layers(model).empty(); }

json stages_to_json(const experiments::PlannedRun& run) {
  json stages = json::array();
  for (const auto& stage : run.stages)
    stages.push_back({{"name", stage.spec.name},
                      {"action", stage.spec.action},
                      {"trainable", stage.spec.trainable},
                      {"bn_stats", stage.spec.freeze_bn_stats ? "frozen" : "update"},
                      {"config", config_to_json(stage.config)}});
  return stages;
}

// The model a stage starts from: fresh for the first, else the previous
// stage's model (`previous`, or when resuming into a later stage, the one it
// saved) carried into this stage's architecture.
torch::nn::Sequential stage_model(const experiments::PlannedRun& run, size_t index, torch::nn::Sequential previous,
                                  const RunDirectory* dir, int64_t num_classes, std::ostream& log) {
  torch::manual_seed(run.seed + 1000003 * int64_t(index));  // init of layers new to this stage
  auto model = models::build_model(run.stages[index].config, num_classes);
  if (index == 0) return model;
  if (!previous) {
    const auto& spec = run.stages[index - 1];
    previous = models::build_model(spec.config, num_classes);
    load_model(dir->stage_model(spec.spec.name), *previous);
  }
  const auto fresh = models::transfer_weights(*previous, *model);
  if (!fresh.empty())
    log << fmt::format("stage {}: new in this stage (initialised fresh): {}\n", run.stages[index].spec.name,
                       fmt::join(fresh, ", "));
  return model;
}

// Evaluation-only rows (recalibrate, evaluate): loss and accuracy on the
// training split and val_* on the test split, all in eval mode, as epoch 0.
EpochMetrics evaluation_row(torch::nn::Sequential& model, const data::Dataset& dataset, int64_t global_step,
                            const dist::Group& group) {
  const auto start = std::chrono::steady_clock::now();
  const Evaluation train = evaluate(model, dataset.train, group), test = evaluate(model, dataset.test, group);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {0, 0, train.loss, train.accuracy, test.loss, test.accuracy, 0.0, seconds, 0.0, global_step, {}};
}

// Removes what an interrupted run wrote after its last checkpoint.
void rewind_to(const RunDirectory& dir, const CheckpointPosition& position) {
  filter_csv_rows(dir.metrics_csv(), [&](size_t row, const auto&) { return int64_t(row) < position.metrics_rows; });
  for (const auto& file : {dir.steps_csv(), dir.bn_stats_csv()})
    filter_csv_rows(file, [&](size_t, const std::vector<std::string>& cells) {
      return !cells.empty() && std::stoll(cells[0]) <= position.global_step;
    });
}

void check_resumable(const json& previous, const json& record, const RunDirectory& dir) {
  if (!std::filesystem::exists(dir.checkpoint()))
    throw std::runtime_error(fmt::format("{}: no checkpoint.pt to resume from (start runs with --save-checkpoint)",
                                         dir.path().string()));
  if (previous.value("stages", json()) != record["stages"])
    throw std::runtime_error(fmt::format("{}: the config differs from the interrupted run's (run.json); resume with "
                                         "the same experiment, variant, seed and --set values", dir.path().string()));
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

namespace {

// Where a non-zero rank's console output goes: nowhere (rank 0 speaks for the job).
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
};

json data_parallel_record(const dist::Group& group, const experiments::RunConfig& config) {
  return {{"world_size", group.size()},
          {"batch_size_per_rank", config.train.batch_size},
          {"global_batch_size", config.train.batch_size * group.size()},
          {"master", fmt::format("{}:{}", group.options().master_addr, group.options().master_port)}};
}

void check_data_parallel_support(const experiments::PlannedRun& run, const RunOptions& options) {
  if (options.resume || options.save_checkpoint)
    throw std::runtime_error("checkpoints (--save-checkpoint, --resume) are not supported in data-parallel jobs");
  for (const auto& stage : run.stages)
    if (stage.config.log.bn_stats_every > 0)
      throw std::runtime_error("log.bn_stats_every is not supported in data-parallel jobs (the probe would run "
                               "collectives on one rank only); set it to 0");
}

}  // namespace

RunSummary execute_run(const experiments::PlannedRun& run, const RunOptions& options,
                       DatasetCache& datasets, std::ostream& console) {
  using Mode = RunDirectory::Mode;
  const auto group = options.group ? options.group : std::shared_ptr<const dist::Group>(dist::Group::solo());
  const bool root = group->is_root();
  NullBuffer discard;
  std::ostream quiet(&discard);
  std::ostream& log = root ? console : quiet;
  if (group->size() > 1) check_data_parallel_support(run, options);
  std::optional<RunDirectory> dir;
  if (root) {
    dir.emplace(run.dir, options.resume ? Mode::kResume : options.overwrite ? Mode::kOverwrite : Mode::kNew);
    if (!dir->replaced_note().empty()) log << dir->replaced_note() << "\n";
  }
  log << fmt::format("== {} / {} / seed {} -> {}{}{}\n", run.experiment, run.variant, run.seed, run.dir.string(),
                     options.resume ? " (resuming)" : "",
                     group->size() > 1 ? fmt::format(" ({} ranks)", group->size()) : "");

  const json previous = options.resume ? read_run_record(run.dir) : json();
  json record = {{"experiment", run.experiment},
                 {"variant", run.variant},
                 {"seed", run.seed},
                 {"status", "running"},
                 {"started_at", options.resume ? previous.value("started_at", utc_now()) : utc_now()},
                 {"ended_at", nullptr},
                 {"epochs_completed", 0},
                 {"diverged_epoch", nullptr},
                 {"error", nullptr},
                 {"config", config_to_json(run.config)},
                 {"stages", stages_to_json(run)},
                 {"bnlab", {{"version", build_version()}, {"commit", build_commit()}}},
                 {"libtorch", TORCH_VERSION},
                 {"blas", blas_description()},
                 {"threads", at::get_num_threads()},
                 {"host", host_name()},
                 {"pid", getpid()},
                 {"data_parallel", data_parallel_record(*group, run.config)}};
  if (options.resume) {
    check_resumable(previous, record, *dir);
    record["resumed_at"] = utc_now();
  }
  if (dir) dir->write_record(record);
  const RunDirectory* files = dir ? &*dir : nullptr;

  RunSummary summary;
  try {
    CheckpointPosition position;
    bool resuming = options.resume;
    if (resuming) {
      position = read_checkpoint_position(dir->checkpoint());
      rewind_to(*dir, position);  // before any writer opens the files
    }
    ConsoleProgress progress(log, options.live_progress && root, run.config.train.epochs);
    RunListener listener(files, has_named_stages(run), options.resume, progress);
    TrainOutcome outcome;
    int64_t global_step = 0, epochs_completed = 0;
    torch::nn::Sequential previous_model{nullptr};
    for (size_t index = resuming ? size_t(position.stage) : 0; index < run.stages.size(); ++index) {
      const auto& stage = run.stages[index];
      const data::Dataset& dataset = datasets.get(stage.config.data, options.data_dir);
      auto model = stage_model(run, index, previous_model, files, dataset.num_classes, log);
      dist::broadcast_parameters_and_buffers(*model, *group);
      if (index == 0) record["model"] = {{"parameters", models::count_parameters(*model)}, {"layers", models::model_summary(model)}};
      if (!stage.spec.name.empty()) log << fmt::format("-- stage {} ({}, {} on {})\n", stage.spec.name, stage.spec.action,
                                                       stage.spec.trainable, stage.config.data.dataset);
      auto optimizer = make_optimizer(stage.config.train, models::select_trainable(*model, stage.spec.trainable));
      listener.begin_stage(int64_t(index), stage, model, optimizer.get(), options.save_checkpoint);
      int64_t first_epoch = 1;
      if (resuming) {
        position = load_checkpoint(dir->checkpoint(), *model, *optimizer);
        listener.rows_written = position.metrics_rows;
        listener.best_val_accuracy = position.best_val_accuracy;
        first_epoch = position.epoch + 1;
        global_step = position.global_step;
        resuming = false;
      }
      if (stage.spec.action == "train") {
        TrainSetup setup{&stage.config.train, has_batch_norm(*model), stage.spec.freeze_bn_stats,
                         uint64_t(run.seed) + 7919 * index, first_epoch, global_step, group.get(),
                         stage.config.bn.mode != "sync"};
        outcome = train_model(model, dataset, *optimizer, setup, listener);
        global_step = listener.last ? listener.last->global_step : global_step;
        epochs_completed += outcome.epochs_completed;
      } else {
        if (stage.spec.action == "recalibrate") recalibrate_batch_norm(model, dataset.train, stage.config.train.batch_size);
        const EpochMetrics row = evaluation_row(model, dataset, global_step, *group);
        listener.write_metrics(row);
        log << fmt::format("{}: loss {:.4f} - accuracy {:.4f} - val_loss {:.4f} - val_accuracy {:.4f}\n",
                           stage.spec.action, row.loss, row.accuracy, row.val_loss, row.val_accuracy);
        outcome = TrainOutcome{};
      }
      if (outcome.status != TrainStatus::kCompleted) {
        if (outcome.diverged_epoch) record["diverged_epoch"] = *outcome.diverged_epoch;
        if (!stage.spec.name.empty()) record["stopped_in_stage"] = stage.spec.name;
        break;
      }
      if (dir) save_model(dir->stage_model(stage.spec.name), *model);
      previous_model = model;
    }
    summary.status = to_string(outcome.status);
    summary.last_epoch = listener.last;
    summary.best_val_accuracy = listener.best_val_accuracy;
    record["epochs_completed"] = epochs_completed;
    if (listener.last) record["final"] = metrics_to_json(*listener.last);
    if (listener.last && !listener.last->rank_ms_per_step.empty())
      record["data_parallel"]["rank_ms_per_step"] = listener.last->rank_ms_per_step;
    record["best_val_accuracy"] = listener.best_val_accuracy;
    if (outcome.status == TrainStatus::kDiverged)
      log << fmt::format("diverged: non-finite loss in epoch {}\n", *outcome.diverged_epoch);
  } catch (const c10::Error& error) {
    summary.status = "failed";
    summary.error = error.what_without_backtrace();
  } catch (const std::exception& error) {
    summary.status = "failed";
    summary.error = error.what();
  }
  if (!summary.error.empty()) record["error"] = summary.error;
  record["status"] = summary.status;
  record["ended_at"] = utc_now();
  if (dir) dir->write_record(record);
  return summary;
}

}  // namespace bnlab::train
