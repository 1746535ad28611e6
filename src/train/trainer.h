#pragma once
// The training loop: epochs of shuffled mini-batches, evaluation on the test
// split, divergence and Ctrl-C handling. What happens to the numbers (CSV,
// console) is up to the TrainListener.
#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "data/dataset.h"
#include "experiments/run_config.h"
#include "parallel/data_parallel.h"
#include "parallel/group.h"
#include "runs/metrics.h"

namespace bnlab::train {

using runs::EpochMetrics;
using runs::StepEvaluation;

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
  // After the first optimiser step of this call to train_model.
  virtual void on_first_step() {}
  // Asked every step; when true, the trainer computes the running metrics
  // (one small host read) and calls on_running_metrics.
  virtual bool wants_running_metrics(int64_t /*step*/, double /*elapsed_seconds*/) { return false; }
  virtual void on_running_metrics(int64_t /*step*/, double /*elapsed_seconds*/, double /*loss*/,
                                  double /*accuracy*/) {}
  virtual void on_epoch_end(const EpochMetrics& /*metrics*/) {}
  // Asked every step; when true, on_probe sees the batch before the step
  // trains on it (BatchNorm internals logging).
  virtual bool wants_probe(int64_t /*global_step*/) { return false; }
  virtual void on_probe(int64_t /*global_step*/, int64_t /*epoch*/, const data::Batch& /*batch*/) {}
  virtual void on_step_evaluation(const StepEvaluation& /*evaluation*/) {}
};

// Loss and accuracy summed over an epoch's batches (or an evaluation's), in
// plain numbers: on the CPU a tensor's value is read as cheaply as a
// variable, and the tensor ops that kept these sums as tensors (add_,
// argmax, eq, sum) cost ~20 us a step, more than a small model's BN layers.
struct RunningMetrics {
  double loss_sum = 0;  // float64: an epoch of float32 losses adds up exactly enough
  int64_t correct = 0;
  int64_t samples = 0;
  // batch_loss_sum: the cross-entropy summed over the batch's samples.
  void add(const torch::Tensor& batch_loss_sum, const torch::Tensor& logits, const torch::Tensor& labels);
  double loss() const;
  double accuracy() const;
  // The sums over every rank of `group` (a collective: all ranks call it).
  RunningMetrics over_ranks(const parallel::Group& group) const;
};

// The rows of logits (N, K) whose largest value sits at the row's label
// (int64, N): argmax(1).eq(labels).sum() in one loop, the first of equal
// maxima taken and a NaN counted as the largest, as argmax does.
int64_t count_correct(const torch::Tensor& logits, const torch::Tensor& labels);

// What a step needs to know in a data-parallel job.
struct DataParallelStep {
  int64_t global_batch_rows = 0;               // the batch over all ranks; 0: this batch is all of it
  parallel::GradientReducer* gradients = nullptr;  // sums gradients over ranks; null in one process
};

// One optimiser step on a batch (the whole of a training step: clear gradients,
// forward, cross-entropy, backward, step), adding to `running`. The loss
// differentiated is this batch's summed cross-entropy over the global batch
// size, so that gradients summed over ranks are those of the global batch's
// mean loss (in one process, simply the batch's mean loss).
void train_step(torch::nn::Sequential& model, torch::optim::Optimizer& optimizer, const data::Batch& batch,
                RunningMetrics& running, const DataParallelStep& data_parallel = {});

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// Rows per forward when evaluating. Small enough that a CNN's activations
// stay in cache and under glibc's 32 MB limit for reusing freed blocks: in
// batches of 1000, keras-cnn's (1000,32,26,26) activations (86 MB each) were
// mapped and zeroed afresh every batch, and evaluating MNIST's 10000 test
// images took 0.9-2.1 s against 0.39 s in batches of 128 (0.42-0.44 at 256,
// 0.41 at 64); keras-mlp took 33 ms against 38 (Intel Xeon family 6 model
// 207, 1 thread, our BN).
inline constexpr int64_t kEvalBatchRows = 128;

// Loss and accuracy on a whole split, in eval mode, without gradients; the
// model's train/eval mode is restored afterwards. In a data-parallel job each
// rank evaluates its shard of the split and the sums are reduced over ranks
// (a collective: every rank calls it).
Evaluation evaluate(torch::nn::Sequential& model, const data::Split& split, const parallel::Group& group,
                    int64_t batch_size = kEvalBatchRows);

struct TrainSetup {
  const experiments::TrainConfig* config = nullptr;
  bool has_batch_norm = false;   // skip a last batch of one sample (BN cannot train on it)
  bool freeze_bn_stats = false;  // BN layers in eval mode: use and keep running statistics
  uint64_t seed = 0;             // data order
  int64_t first_epoch = 1;       // > 1 when resuming from a checkpoint
  int64_t first_global_step = 0; // steps already taken (earlier epochs and stages)
  // The data-parallel job (null: one process). train.batch_size is per rank;
  // every rank draws the same permutation and takes its shard of each global
  // batch of world_size x batch_size samples.
  const parallel::Group* group = nullptr;
  // Data-parallel: BatchNorm layers keep per-rank running statistics (local
  // mode), so rank 0's are broadcast before every evaluation, as DDP does.
  bool broadcast_bn_buffers = false;
};

// Trains `model` with `optimizer` on dataset.train for epochs first_epoch..
// config->epochs with the shuffling of `seed`, evaluating on dataset.test
// after every epoch (and every config->eval_every steps). Stops early on a
// non-finite loss (kDiverged) or Ctrl-C (kInterrupted).
TrainOutcome train_model(torch::nn::Sequential& model, const data::Dataset& dataset,
                         torch::optim::Optimizer& optimizer, const TrainSetup& setup, TrainListener& listener);

// model.train(), with BatchNorm layers kept in eval mode when freeze_bn_stats.
void set_training_mode(torch::nn::Sequential& model, bool freeze_bn_stats);

// Re-estimates every BatchNorm layer's running statistics on `split`: reset,
// then one pass in batches with a cumulative average (momentum None), other
// layers in eval mode, no gradients, no parameter changes.
void recalibrate_batch_norm(torch::nn::Sequential& model, const data::Split& split, int64_t batch_size);

}  // namespace bnlab::train
