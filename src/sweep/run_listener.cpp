#include "sweep/run_listener.h"

#include <algorithm>
#include <cmath>

#include "parallel/root_task.h"
#include "runs/metrics.h"
#include "train/rng_state.h"

namespace bnlab::sweep {
namespace {

// A row's values as TensorBoard scalars "<prefix><column>", less the columns
// that are the x axis.
template <typename Row>
std::vector<std::pair<std::string, double>> tagged(const std::string& prefix,
                                                   const std::vector<runs::Column<Row>>& columns, const Row& row,
                                                   const std::vector<std::string>& axes) {
  std::vector<std::pair<std::string, double>> values;
  for (const auto& column : columns)
    if (std::find(axes.begin(), axes.end(), column.name) == axes.end())
      values.emplace_back(prefix + column.name, column.get(row));
  return values;
}

}  // namespace

RunListener::RunListener(const runs::RunFiles* files, const parallel::Group& group, bool staged, bool append,
                         train::ConsoleProgress& progress)
    : files_(files), group_(group), staged_(staged), append_(append), progress_(progress) {
  if (files_) metrics_.emplace(files_->metrics_csv(), runs::metrics_csv_columns(staged), append);
}

void RunListener::begin_stage(int64_t index, const experiments::ResolvedStage& stage, torch::nn::Sequential model,
                              torch::optim::Optimizer* optimizer, bool save_checkpoints) {
  stage_index_ = index;
  best_val_accuracy_ = 0;  // "best" means within the final stage (epochs of one task)
  progress_.set_epochs(stage.config.train.epochs);
  stage_name_ = stage.spec.name;
  model_ = model;
  optimizer_ = optimizer;
  save_checkpoints_ = save_checkpoints;
  // Every rank probes (sync BN's forward is a collective); rank 0 writes.
  bn_stats_every_ = stage.config.log.bn_stats_every;
  bn_sync_ = stage.config.bn.mode == experiments::BnMode::kSync;
  if (bn_stats_every_ > 0 && !bn_stats_) {
    const auto csv = files_ ? std::optional(files_->bn_stats_csv()) : std::nullopt;
    bn_stats_ = std::make_unique<train::BnStatsLogger>(csv ? &*csv : nullptr, bn_stats_every_, append_);
  }
  if (!files_) return;
  if (stage.config.train.eval_every > 0 && !steps_)
    steps_ = std::make_unique<runs::CsvWriter>(files_->steps_csv(), runs::column_names(runs::step_columns()), append_);
  if (stage.config.log.tensorboard && !events_) events_ = runs::open_event_file(*files_);
}

void RunListener::resume_from(const train::CheckpointPosition& position) {
  rows_written_ = position.metrics_rows;
  // What the interrupted attempt logged after the checkpoint is replayed.
  if (events_) events_->session_start(position.global_step + 1);
  best_val_accuracy_ = position.best_val_accuracy;
}

void RunListener::on_epoch_begin(int64_t epoch, int64_t steps) { progress_.epoch_begin(epoch, steps); }

void RunListener::on_first_step() {
  if (!first_step_end_) first_step_end_ = std::chrono::steady_clock::now();
}

bool RunListener::wants_running_metrics(int64_t, double elapsed) { return progress_.due(elapsed); }

void RunListener::on_running_metrics(int64_t step, double elapsed, double loss, double accuracy) {
  progress_.running(step, elapsed, loss, accuracy);
}

void RunListener::on_epoch_end(const train::EpochMetrics& m) {
  write_metrics(m);
  sync_step_files();  // the epoch's rows are durable before the checkpoint that counts them
  progress_.epoch_end(m);
  if (save_checkpoints_ && optimizer_ && std::isfinite(m.loss)) save_checkpoint(m);
}

// The replicas are equal here (the trainer checked), so rank 0 writes the
// model and optimiser of all; the generator states differ by rank and are
// gathered. A write that fails on rank 0 stops every rank alike.
void RunListener::save_checkpoint(const train::EpochMetrics& m) {
  const torch::Tensor rng_states = group_.all_gather(train::cpu_rng_state());  // (world_size, S)
  const train::CheckpointPosition position{stage_index_,       m.epoch,      m.global_step, rows_written_,
                                           best_val_accuracy_, group_.size()};
  parallel::run_on_root(group_, [&] {
    train::save_checkpoint(files_->checkpoint(), *model_, *optimizer_, position, rng_states);
    return std::string();
  });
}

void RunListener::on_step_evaluation(const train::StepEvaluation& e) {
  if (steps_) steps_->write_row(runs::row_values(runs::step_columns(), e));
  if (events_) events_->scalars(e.step, tagged("step/", runs::step_columns(), e, {"step", "epoch"}));
}

bool RunListener::wants_probe(int64_t global_step) {
  return bn_stats_ && bn_stats_every_ > 0 && global_step % bn_stats_every_ == 0;
}

void RunListener::on_probe(int64_t global_step, int64_t epoch, const data::Batch& batch) {
  bn_stats_->log(model_, global_step, epoch, batch, events_.get(), bn_sync_ ? &group_ : nullptr);
}

void RunListener::sync_step_files() {
  if (steps_) steps_->sync();
  if (bn_stats_) bn_stats_->sync();
  if (events_) events_->sync();
}

void RunListener::write_metrics(const train::EpochMetrics& m) {
  const auto values = runs::row_values(runs::epoch_columns(), m);
  if (metrics_) {
    metrics_->write_row(staged_ ? std::vector<std::string>{stage_name_} : std::vector<std::string>{}, values);
    metrics_->sync();
  }
  if (events_) events_->scalars(m.global_step, tagged("epoch/", runs::epoch_columns(), m, {"epoch"}));
  ++rows_written_;
  last_ = m;
  if (m.val_accuracy > best_val_accuracy_) best_val_accuracy_ = m.val_accuracy;
}

}  // namespace bnlab::sweep
