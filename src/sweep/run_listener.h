#pragma once
// What a run does with its training's numbers: metrics.csv rows (with the
// stage name first in staged runs), steps.csv, bn_stats.csv, TensorBoard's
// event file, checkpoints after epochs, and the console.
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "experiments/experiment.h"
#include "runs/csv_writer.h"
#include "runs/layout.h"
#include "runs/tensorboard.h"
#include "train/bn_stats.h"
#include "train/checkpoint.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace bnlab::sweep {

class RunListener : public train::TrainListener {
 public:
  // `files` is null on data-parallel ranks other than 0, which keep the
  // bookkeeping (last epoch, best accuracy) and take part in the collectives
  // of checkpoints and BN-internals probes, but write no file. append: the
  // files continue a resumed run's.
  RunListener(const runs::RunFiles* files, const parallel::Group& group, bool staged, bool append,
              train::ConsoleProgress& progress);

  // Per stage: what the stage is, and what to checkpoint.
  void begin_stage(int64_t index, const experiments::ResolvedStage& stage, torch::nn::Sequential model,
                   torch::optim::Optimizer* optimizer, bool save_checkpoints);
  // Continue from a checkpoint's position.
  void resume_from(const train::CheckpointPosition& position);

  void on_epoch_begin(int64_t epoch, int64_t steps) override;
  void on_first_step() override;
  bool wants_running_metrics(int64_t step, double elapsed) override;
  void on_running_metrics(int64_t step, double elapsed, double loss, double accuracy) override;
  void on_epoch_end(const train::EpochMetrics& metrics) override;
  void on_step_evaluation(const train::StepEvaluation& evaluation) override;
  bool wants_probe(int64_t global_step) override;
  void on_probe(int64_t global_step, int64_t epoch, const data::Batch& batch) override;

  // A metrics.csv row (training epochs, and the rows of evaluation stages).
  void write_metrics(const train::EpochMetrics& metrics);

  const std::optional<train::EpochMetrics>& last() const { return last_; }
  // When the first optimiser step ended; unset until a step is taken.
  const std::optional<std::chrono::steady_clock::time_point>& first_step_end() const { return first_step_end_; }
  double best_val_accuracy() const { return best_val_accuracy_; }

 private:
  void sync_step_files();
  void save_checkpoint(const train::EpochMetrics& metrics);
  const runs::RunFiles* files_;
  const parallel::Group& group_;
  bool staged_, append_;
  train::ConsoleProgress& progress_;
  std::optional<runs::CsvWriter> metrics_;
  std::unique_ptr<runs::CsvWriter> steps_;
  std::unique_ptr<train::BnStatsLogger> bn_stats_;
  std::unique_ptr<runs::EventWriter> events_;  // with log.tensorboard
  int64_t bn_stats_every_ = 0;
  bool bn_sync_ = false;  // this stage's BN normalises over every rank's shard
  int64_t stage_index_ = 0;
  std::string stage_name_;
  torch::nn::Sequential model_{nullptr};
  torch::optim::Optimizer* optimizer_ = nullptr;
  bool save_checkpoints_ = false;
  std::optional<train::EpochMetrics> last_;
  double best_val_accuracy_ = 0;
  int64_t rows_written_ = 0;
  std::optional<std::chrono::steady_clock::time_point> first_step_end_;
};

}  // namespace bnlab::sweep
