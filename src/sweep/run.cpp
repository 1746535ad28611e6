#include "sweep/run.h"

#include <fmt/format.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <limits>

#include "core/blas.h"
#include "core/build_info.h"
#include "core/cpu.h"
#include "core/denormals.h"
#include "core/threads.h"
#include "experiments/config_keys.h"
#include "experiments/model_options.h"
#include "models/model.h"
#include "models/norm.h"
#include "parallel/data_parallel.h"
#include "parallel/root_task.h"
#include "runs/config_json.h"
#include "runs/csv_writer.h"
#include "runs/run_folder.h"
#include "sweep/run_listener.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace bnlab::sweep {
namespace {

using nlohmann::json;
using runs::RunStatus;

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

json stages_to_json(const PlannedRun& run) {
  json stages = json::array();
  for (const auto& stage : run.stages)
    stages.push_back({{"name", stage.spec.name},
                      {"action", to_name(stage.spec.action)},
                      {"trainable", to_name(stage.spec.trainable)},
                      {"bn_stats", stage.spec.freeze_bn_stats ? "frozen" : "update"},
                      {"config", runs::config_to_json(stage.config)}});
  return stages;
}

json data_parallel_record(const parallel::Group& group, const experiments::RunConfig& config) {
  return {{"world_size", group.size()},
          {"batch_size_per_rank", config.train.batch_size},
          {"global_batch_size", config.train.batch_size * group.size()},
          {"rendezvous", parallel::rendezvous_text(group.options())}};
}

// The record of a run that starts now, or resumes `previous`.
runs::RunRecord start_record(const PlannedRun& run, const parallel::Group& group,
                             const std::optional<runs::RunRecord>& previous) {
  runs::RunRecord record;
  record.experiment = run.experiment;
  record.variant = run.variant;
  record.seed = run.seed;
  record.started_at = previous ? previous->started_at : utc_now();
  if (previous) record.resumed_at = utc_now();
  record.config = runs::config_to_json(run.config);
  record.stages = stages_to_json(run);
  record.bnlab_version = build_version();
  record.bnlab_commit = build_commit();
  record.libtorch = TORCH_VERSION;
  record.blas = blas_description();
  record.cpu = cpu_description();
  record.kernel_copy = to_name(active_isa());
  record.threads = at::get_num_threads();
  record.denormals = to_name(current_denormals());
  record.host = host_name();
  record.pid = getpid();
  record.data_parallel = data_parallel_record(group, run.config);
  if (previous) record.resumes = previous->resumes;
  return record;
}

// run.json's account of one resume (runs::RunRecord::resumes).
json resume_entry(const train::CheckpointPosition& from, const std::string& cause) {
  return {{"at", utc_now()},
          {"stage", from.stage},
          {"epoch", from.epoch},
          {"global_step", from.global_step},
          {"cause", cause}};
}

void check_resumable(const runs::RunRecord& previous, const PlannedRun& run, const runs::RunFiles& files) {
  if (!std::filesystem::exists(files.checkpoint()))
    throw std::runtime_error(fmt::format("{}: no {} to resume from (start runs with --save-checkpoint)",
                                         files.path().string(), files.checkpoint().filename().string()));
  if (previous.stages != stages_to_json(run))
    throw std::runtime_error(
        fmt::format("{}: the config differs from the interrupted run's (run.json); resume with "
                    "the same experiment, variant, seed and --set values",
                    files.path().string()));
}

// The step (first cell) of a steps.csv or bn_stats.csv row; a cell that is
// not a number sorts last, so the rows from it on are dropped.
int64_t step_of(const std::vector<std::string>& cells) {
  const char* text = cells.empty() ? "" : cells[0].c_str();
  char* end = nullptr;
  const long long step = std::strtoll(text, &end, 10);
  return end != text && *end == '\0' ? step : std::numeric_limits<int64_t>::max();
}

// What resuming keeps of the files an interrupted run wrote after its last
// checkpoint: decided, and checked against the checkpoint, before any file
// changes (a metrics.csv with fewer rows than the checkpoint counts stops the
// resume with nothing changed).
std::vector<std::pair<runs::CsvRows, size_t>> plan_rewind(const runs::RunFiles& files,
                                                          const train::CheckpointPosition& position) {
  std::vector<std::pair<runs::CsvRows, size_t>> cuts;
  auto metrics = runs::read_csv_rows(files.metrics_csv());
  if (int64_t(metrics.lines.size()) < position.metrics_rows)
    throw std::runtime_error(
        fmt::format("{}: {} whole rows, but {} was written after row {}; not resuming (nothing was changed)",
                    files.metrics_csv().string(), metrics.lines.size(), files.checkpoint().filename().string(),
                    position.metrics_rows));
  cuts.emplace_back(std::move(metrics), size_t(position.metrics_rows));
  for (const auto& file : {files.steps_csv(), files.bn_stats_csv()}) {
    auto rows = runs::read_csv_rows(file);
    size_t keep = 0;
    while (keep < rows.cells.size() && step_of(rows.cells[keep]) <= position.global_step) ++keep;
    cuts.emplace_back(std::move(rows), keep);
  }
  return cuts;
}

// Where a non-zero rank's console output goes: nowhere (rank 0 speaks for the job).
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
};

// The model a stage starts from: fresh for the first, else the previous
// stage's model (`previous`, or when resuming into a later stage, the one it
// saved) carried into this stage's architecture.
torch::nn::Sequential stage_model(const PlannedRun& run, size_t index, torch::nn::Sequential previous,
                                  const runs::RunFiles* files, int64_t num_classes,
                                  const std::shared_ptr<const parallel::Group>& group, std::ostream& log) {
  auto build = [&](const experiments::RunConfig& config) {
    return models::build_model(experiments::model_options(config, num_classes, group));
  };
  torch::manual_seed(run.seed + 1000003 * int64_t(index));  // init of layers new to this stage
  auto model = build(run.stages[index].config);
  if (index == 0) return model;
  if (!previous) {
    const auto& before = run.stages[index - 1];
    previous = build(before.config);
    // Only rank 0 has the folder; the others get its weights when the stage's
    // model is broadcast (run_stages).
    if (files) train::load_model(files->stage_model(before.spec.name), *previous);
  }
  const auto fresh = models::transfer_weights(*previous, *model);
  if (!fresh.empty())
    log << fmt::format("stage {}: new in this stage (initialised fresh): {}\n", run.stages[index].spec.name,
                       fmt::join(fresh, ", "));
  return model;
}

// Evaluation-only rows (recalibrate, evaluate): loss and accuracy on the
// training split and val_* on the test split, all in eval mode, as epoch 0.
train::EpochMetrics evaluation_row(torch::nn::Sequential& model, const data::Dataset& dataset, int64_t global_step,
                                   const parallel::Group& group) {
  const auto start = std::chrono::steady_clock::now();
  const auto train = train::evaluate(model, dataset.train, group), test = train::evaluate(model, dataset.test, group);
  train::EpochMetrics row;
  row.loss = train.loss;
  row.accuracy = train.accuracy;
  row.val_loss = test.loss;
  row.val_accuracy = test.accuracy;
  row.epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row.global_step = global_step;
  return row;
}

RunStatus status_of(train::TrainStatus status) {
  switch (status) {
    case train::TrainStatus::kCompleted:
      return RunStatus::kCompleted;
    case train::TrainStatus::kDiverged:
      return RunStatus::kDiverged;
    case train::TrainStatus::kInterrupted:
      return RunStatus::kInterrupted;
  }
  return RunStatus::kFailed;
}

// A checkpoint to resume from, and its position (read once).
struct ResumePoint {
  train::CheckpointFile file;
  train::CheckpointPosition position;
};

// The stages of a run, from the first (or the checkpoint's) to the last or
// the first that does not complete; fills the record's outcome.
RunStatus run_stages(const PlannedRun& run, const RunOptions& options, DatasetCache& datasets,
                     const runs::RunFiles* files, const std::shared_ptr<const parallel::Group>& group,
                     const std::optional<ResumePoint>& resume_from, runs::RunRecord& record, RunListener& listener,
                     std::ostream& log) {
  std::optional<train::CheckpointPosition> resume_at;  // until the checkpoint's stage is reached
  if (resume_from) resume_at = resume_from->position;
  train::TrainOutcome outcome;
  int64_t global_step = 0;
  torch::nn::Sequential previous_model{nullptr};
  for (size_t index = resume_at ? size_t(resume_at->stage) : 0; index < run.stages.size(); ++index) {
    const auto& stage = run.stages[index];
    const data::Dataset& dataset = datasets.get(stage.config.data, options.data_dir);
    auto model = stage_model(run, index, previous_model, files, dataset.num_classes, group, log);
    parallel::broadcast_parameters_and_buffers(*model, *group);
    if (index == 0)
      record.model = {{"parameters", models::count_parameters(*model)}, {"layers", models::model_summary(model)}};
    if (!stage.spec.name.empty())
      log << fmt::format("-- stage {} ({}, {} on {})\n", stage.spec.name, to_name(stage.spec.action),
                         to_name(stage.spec.trainable), stage.config.data.dataset);
    auto optimizer = train::make_optimizer(stage.config.train, models::select_trainable(*model, stage.spec.trainable));
    listener.begin_stage(int64_t(index), stage, model, optimizer.get(), options.save_checkpoint);
    int64_t first_epoch = 1;
    if (resume_at) {
      const auto position = train::load_checkpoint(resume_from->file, *model, *optimizer, group->rank(), group->size());
      parallel::check_replicas_agree(*model, *group, "after loading " + resume_from->file.name);
      listener.resume_from(position);
      first_epoch = position.epoch + 1;
      global_step = position.global_step;
      resume_at.reset();
    }
    if (stage.spec.action == experiments::StageAction::kTrain) {
      train::TrainSetup setup{&stage.config.train,
                              !models::batch_norm_layers(*model).empty(),
                              stage.spec.freeze_bn_stats,
                              uint64_t(run.seed) + 7919 * index,
                              first_epoch,
                              global_step,
                              group.get(),
                              stage.config.bn.mode != experiments::BnMode::kSync};
      outcome = train::train_model(model, dataset, *optimizer, setup, listener);
      global_step = listener.last() ? listener.last()->global_step : global_step;
      record.epochs_completed += outcome.epochs_completed;
    } else {
      if (stage.spec.action == experiments::StageAction::kRecalibrate)
        train::recalibrate_batch_norm(model, dataset.train, stage.config.train.batch_size);
      const auto row = evaluation_row(model, dataset, global_step, *group);
      listener.write_metrics(row);
      log << fmt::format("{}: loss {:.4f} - accuracy {:.4f} - val_loss {:.4f} - val_accuracy {:.4f}\n",
                         to_name(stage.spec.action), row.loss, row.accuracy, row.val_loss, row.val_accuracy);
      outcome = train::TrainOutcome{};
    }
    if (outcome.status != train::TrainStatus::kCompleted) {
      if (outcome.diverged_epoch) record.diverged_epoch = *outcome.diverged_epoch;
      if (!stage.spec.name.empty()) record.stopped_in_stage = stage.spec.name;
      break;
    }
    if (files) train::save_model(files->stage_model(stage.spec.name), *model);
    previous_model = model;
  }
  if (outcome.status == train::TrainStatus::kDiverged)
    log << fmt::format("diverged: non-finite loss in epoch {}\n", *outcome.diverged_epoch);
  return status_of(outcome.status);
}

}  // namespace

RunSummary execute_run(const PlannedRun& run, const RunOptions& options, DatasetCache& datasets,
                       std::ostream& console) {
  const auto started = std::chrono::steady_clock::now();
  const auto group = options.group ? options.group : std::shared_ptr<const parallel::Group>(parallel::Group::solo());
  const bool root = group->is_root();
  NullBuffer discard;
  std::ostream quiet(&discard);
  std::ostream& log = root ? console : quiet;

  // Rank 0 takes the folder and, resuming, checks the run and reads its
  // checkpoint, whose bytes every rank receives; when rank 0 cannot (folder
  // locked, config changed, checkpoint damaged), every rank stops alike.
  std::optional<runs::RunDirectory> dir;
  std::optional<runs::RunRecord> previous;
  std::vector<std::pair<runs::CsvRows, size_t>> rewind;
  const std::string checkpoint_bytes = parallel::run_on_root(*group, [&] {
    using Mode = runs::RunDirectory::Mode;
    dir.emplace(run.dir, options.resume ? Mode::kResume : options.overwrite ? Mode::kOverwrite : Mode::kNew);
    if (!dir->replaced_note().empty()) log << dir->replaced_note() << "\n";
    if (!options.resume) return std::string();
    previous = runs::read_run_record(run.dir);
    if (previous) check_resumable(*previous, run, *dir);
    auto file = train::read_checkpoint_file(dir->checkpoint());
    const auto position = train::read_checkpoint_position(file);
    train::check_world_size(position, file, group->size());
    rewind = plan_rewind(*dir, position);
    return std::move(file.bytes);
  });
  std::optional<ResumePoint> resume_from;
  if (options.resume) {
    train::CheckpointFile file{runs::RunFiles(run.dir).checkpoint().string(), checkpoint_bytes};
    const auto position = train::read_checkpoint_position(file);
    resume_from = ResumePoint{std::move(file), position};
  }
  log << fmt::format("== {} / {} / seed {} -> {}{}{}\n", run.experiment, run.variant, run.seed, run.dir.string(),
                     options.resume ? " (resuming)" : "",
                     group->size() > 1 ? fmt::format(" ({} ranks)", group->size()) : "");

  runs::RunRecord record = start_record(run, *group, previous);
  if (resume_from)
    record.resumes.push_back(
        resume_entry(resume_from->position, options.resume_cause.empty() ? "--resume" : options.resume_cause));
  // A restart that found no checkpoint yet starts over in the folder of the
  // attempt it replaces: recorded too, as a resume from the start.
  if (!resume_from && !options.resume_cause.empty() && dir && !dir->replaced_note().empty())
    record.resumes.push_back(resume_entry({}, options.resume_cause + "; no checkpoint yet: from the start"));
  if (dir) runs::write_run_record(dir->path(), record);

  RunSummary summary;
  try {
    for (const auto& [rows, keep] : rewind) runs::keep_leading_rows(rows, keep);  // before any writer opens them
    train::ConsoleProgress progress(log, options.live_progress && root, run.config.train.epochs);
    RunListener listener(dir ? &*dir : nullptr, *group, has_named_stages(run), options.resume, progress);
    summary.status =
        run_stages(run, options, datasets, dir ? &*dir : nullptr, group, resume_from, record, listener, log);
    summary.last_epoch = listener.last();
    summary.best_val_accuracy = listener.best_val_accuracy();
    record.final_metrics = listener.last();
    if (listener.last() && !listener.last()->rank_ms_per_step.empty())
      record.data_parallel["rank_ms_per_step"] = listener.last()->rank_ms_per_step;
    record.best_val_accuracy = listener.best_val_accuracy();
    if (listener.first_step_end())
      record.seconds_to_first_step = std::chrono::duration<double>(*listener.first_step_end() - started).count();
  } catch (const c10::Error& error) {
    summary.status = RunStatus::kFailed;
    summary.error = error.what_without_backtrace();
  } catch (const std::exception& error) {
    summary.status = RunStatus::kFailed;
    summary.error = error.what();
  }
  if (!summary.error.empty()) record.error = summary.error;
  record.status = summary.status;
  record.ended_at = utc_now();
  if (dir) runs::write_run_record(dir->path(), record);
  return summary;
}

RunSummary summary_from_record(const std::filesystem::path& run_dir) {
  const auto record = runs::read_run_record(run_dir);
  if (!record) throw std::runtime_error(fmt::format("{}: no run record", run_dir.string()));
  RunSummary summary;
  summary.status = record->status;
  summary.last_epoch = record->final_metrics;
  summary.best_val_accuracy = record->best_val_accuracy.value_or(0.0);
  summary.error = record->error.value_or("");
  return summary;
}

}  // namespace bnlab::sweep
