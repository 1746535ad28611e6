#pragma once
// The training loop: epochs of shuffled mini-batches, evaluation on the test
// split, divergence and Ctrl-C handling. What happens to the numbers (CSV,
// console) is up to the TrainListener.
#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "data/dataset.h"
#include "experiments/run_config.h"

namespace bnlab::train {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t steps = 0;  // optimiser steps taken in this epoch
  double loss = 0, accuracy = 0;          // running averages over the epoch's batches
  double val_loss = 0, val_accuracy = 0;  // on the whole test split, eval mode
  double lr = 0;
  double epoch_seconds = 0;  // training and evaluation
  double ms_per_step = 0;    // training only
};

struct StepEvaluation {
  int64_t step = 0;  // global optimiser step, 1-based
  int64_t epoch = 0;
  double loss = 0, accuracy = 0;  // running averages over the epoch so far
  double val_loss = 0, val_accuracy = 0;
};

enum class TrainStatus { kCompleted, kDiverged, kInterrupted };
const char* to_string(TrainStatus status);

struct TrainOutcome {
  TrainStatus status = TrainStatus::kCompleted;
  int64_t epochs_completed = 0;
  std::optional<int64_t> diverged_epoch;
};

class TrainListener {
 public:
  virtual ~TrainListener() = default;
  virtual void on_epoch_begin(int64_t /*epoch*/, int64_t /*steps*/) {}
  // Asked every step; when true, the trainer computes the running metrics
  // (one small host read) and calls on_running_metrics.
  virtual bool wants_running_metrics(int64_t /*step*/, double /*elapsed_seconds*/) { return false; }
  virtual void on_running_metrics(int64_t /*step*/, double /*elapsed_seconds*/, double /*loss*/,
                                  double /*accuracy*/) {}
  virtual void on_epoch_end(const EpochMetrics& /*metrics*/) {}
  virtual void on_step_evaluation(const StepEvaluation& /*evaluation*/) {}
};

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// Loss and accuracy on a whole split, in eval mode, without gradients; the
// model's train/eval mode is restored afterwards.
Evaluation evaluate(torch::nn::Sequential& model, const data::Split& split, int64_t batch_size = 1000);

// Trains `model` on dataset.train for config.epochs with the shuffling of
// `seed`, evaluating on dataset.test after every epoch (and every
// config.eval_every steps). A last batch of one sample is skipped when the
// model has BatchNorm (which cannot train on it). Stops early on a non-finite
// loss (kDiverged) or Ctrl-C (kInterrupted).
TrainOutcome train_model(torch::nn::Sequential& model, const data::Dataset& dataset,
                         const experiments::TrainConfig& config, bool has_batch_norm, uint64_t seed,
                         TrainListener& listener);

}  // namespace bnlab::train
