#include "train/trainer.h"

#include <ATen/Dispatch.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "models/norm.h"
#include "train/cross_entropy.h"
#include "train/interrupt.h"
#include "train/optimizer.h"

namespace bnlab::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A non-finite loss poisons the running sum, so checking the sum every few
// steps finds a divergence; in a job the check is a collective (the ranks
// agree to stop together), too dear for every step.
constexpr int64_t kDivergenceCheckInterval = 25;

// The last batch of an epoch is the remainder; it is used when every rank's
// share holds at least min_rows_per_rank samples (BatchNorm with per-rank
// statistics cannot train on one).
int64_t usable_batches(const data::Batches& batches, int world_size, int64_t min_rows_per_rank) {
  const int64_t last = batches.rows(batches.count() - 1);
  return (last / world_size < min_rows_per_rank && batches.count() > 1) ? batches.count() - 1 : batches.count();
}

const parallel::Group& group_of(const TrainSetup& setup) {
  static const auto solo = parallel::Group::solo();
  return setup.group ? *setup.group : *solo;
}

// Every kDivergenceCheckInterval steps (and after an epoch's last) the ranks agree on the metrics so far
// and on stopping (a non-finite loss anywhere, Ctrl-C anywhere), so that all
// of them leave the loop after the same step. One process reads its own.
struct Agreement {
  double loss = 0, accuracy = 0;
  bool diverged = false, interrupted = false;
};

Agreement agree(const RunningMetrics& running, const parallel::Group& group) {
  if (group.size() == 1) return {running.loss(), running.accuracy(), !std::isfinite(running.loss()), interrupt_requested()};
  auto flags = torch::tensor({interrupt_requested() ? 1.0 : 0.0}, torch::kFloat64);
  group.all_reduce_sum(flags);
  const RunningMetrics all = running.over_ranks(group);
  return {all.loss(), all.accuracy(), !std::isfinite(all.loss()), flags.item<double>() > 0};
}

std::vector<double> per_rank(double value, const parallel::Group& group) {
  const auto gathered = group.all_gather(torch::tensor({value}, torch::kFloat64));
  return std::vector<double>(gathered.data_ptr<double>(), gathered.data_ptr<double>() + gathered.numel());
}

// The value of a one-element float tensor, read in place (Tensor::item
// dispatches an operator, ~1 us).
double scalar_value(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kFloat32) return *t.data_ptr<float>();
  if (t.scalar_type() == torch::kFloat64) return *t.data_ptr<double>();
  return t.item<double>();
}

}  // namespace

int64_t count_correct(const torch::Tensor& logits, const torch::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0) &&
                  labels.scalar_type() == torch::kInt64,
              "count_correct: expected logits (N, K) and int64 labels (N), got ", logits.sizes(), " and ",
              labels.sizes(), " ", labels.scalar_type());
  const auto scores = logits.contiguous();
  const auto targets = labels.contiguous();
  const int64_t N = scores.size(0), K = scores.size(1);
  const int64_t* target = targets.data_ptr<int64_t>();
  int64_t correct = 0;
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "bnlab_count_correct", [&] {
    const scalar_t* row = scores.data_ptr<scalar_t>();
    for (int64_t n = 0; n < N; ++n, row += K) {
      int64_t best = 0;
      for (int64_t k = 1; k < K && !std::isnan(row[best]); ++k)
        if (std::isnan(row[k]) || row[k] > row[best]) best = k;
      correct += K > 0 && best == target[n];
    }
  });
  return correct;
}

void RunningMetrics::add(const torch::Tensor& batch_loss_sum, const torch::Tensor& logits,
                         const torch::Tensor& labels) {
  loss_sum += scalar_value(batch_loss_sum);
  correct += count_correct(logits.detach(), labels);
  samples += labels.size(0);
}

double RunningMetrics::loss() const { return samples ? loss_sum / samples : 0.0; }
double RunningMetrics::accuracy() const { return samples ? double(correct) / samples : 0.0; }

RunningMetrics RunningMetrics::over_ranks(const parallel::Group& group) const {
  if (group.size() == 1) return *this;
  // One collective: loss sum, correct count and samples, exact in float64.
  auto sums = torch::tensor({loss_sum, double(correct), double(samples)}, torch::kFloat64);
  group.all_reduce_sum(sums);
  const double* summed = sums.data_ptr<double>();
  return {summed[0], int64_t(summed[1]), int64_t(summed[2])};
}

void train_step(torch::nn::Sequential& model, torch::optim::Optimizer& optimizer, const data::Batch& batch,
                RunningMetrics& running, const DataParallelStep& data_parallel) {
  clear_gradients(optimizer);
  auto logits = model->forward(batch.images);
  auto loss_sum = cross_entropy_sum(logits, batch.labels);
  const int64_t rows = data_parallel.global_batch_rows ? data_parallel.global_batch_rows : batch.labels.size(0);
  // The gradient of the mean, loss_sum / rows, seeded directly (no division node).
  torch::autograd::backward({loss_sum}, {torch::full({}, 1.0 / double(rows), loss_sum.options())});
  if (data_parallel.gradients) data_parallel.gradients->all_reduce();
  optimizer.step();
  running.add(loss_sum, logits, batch.labels);
}

const char* to_string(TrainStatus status) {
  switch (status) {
    case TrainStatus::kCompleted: return "completed";
    case TrainStatus::kDiverged: return "diverged";
    case TrainStatus::kInterrupted: return "interrupted";
  }
  return "?";
}

Evaluation evaluate(torch::nn::Sequential& model, const data::Split& split, const parallel::Group& group,
                    int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const parallel::Shard shard = parallel::shard_of(split.size(), group.rank(), group.size());
  RunningMetrics sums;
  for (int64_t begin = shard.begin; begin < shard.end; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, shard.end);
    auto labels = split.labels.slice(0, begin, end);
    auto logits = model->forward(split.images(begin, end));
    sums.add(cross_entropy_sum(logits, labels), logits, labels);
  }
  model->train(was_training);
  const RunningMetrics all = sums.over_ranks(group);
  return {all.loss(), all.accuracy()};
}

void set_training_mode(torch::nn::Sequential& model, bool freeze_bn_stats) {
  model->train();
  if (freeze_bn_stats)
    for (auto& layer : models::batch_norm_layers(*model)) layer.module->eval();
}

void recalibrate_batch_norm(torch::nn::Sequential& model, const data::Split& split, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  auto layers = models::batch_norm_layers(*model);
  std::vector<c10::optional<double>> momenta;
  model->eval();
  for (auto& layer : layers) {
    momenta.push_back(layer.momentum());
    layer.set_momentum(c10::nullopt);  // cumulative: every batch weighs the same
    layer.reset_running_stats();
    layer.module->train();
  }
  for (int64_t begin = 0; begin + 1 < split.size(); begin += batch_size)
    model->forward(split.images(begin, std::min(begin + batch_size, split.size())));
  for (size_t i = 0; i < layers.size(); ++i) layers[i].set_momentum(momenta[i]);
  model->train();
}

TrainOutcome train_model(torch::nn::Sequential& model, const data::Dataset& dataset,
                         torch::optim::Optimizer& optimizer, const TrainSetup& setup, TrainListener& listener) {
  const experiments::TrainConfig& config = *setup.config;
  const parallel::Group& group = group_of(setup);
  const int world = group.size();
  TrainOutcome outcome;
  outcome.epochs_completed = setup.first_epoch - 1;
  int64_t global_step = setup.first_global_step;
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  parallel::GradientReducer gradients(trainable, group);
  // Sync BatchNorm normalises over the whole global batch, so one row per
  // rank is enough there; per-rank statistics need two.
  const bool bn_statistics_per_rank = setup.has_batch_norm && (world == 1 || setup.broadcast_bn_buffers);
  const int64_t min_rows_per_rank = bn_statistics_per_rank ? 2 : 1;
  auto evaluate_test = [&] {
    if (world > 1 && setup.broadcast_bn_buffers) parallel::broadcast_buffers(*model, group);
    return evaluate(model, dataset.test, group);
  };

  for (int64_t epoch = setup.first_epoch; epoch <= config.epochs; ++epoch) {
    const double lr = apply_schedule(optimizer, config, epoch - 1);
    const data::Batches batches(dataset.train, data::epoch_order(dataset.train.size(), setup.seed, epoch),
                                config.batch_size * world);
    const int64_t steps = usable_batches(batches, world, min_rows_per_rank);
    listener.on_epoch_begin(epoch, steps);
    set_training_mode(model, setup.freeze_bn_stats);
    RunningMetrics running;
    const auto start = Clock::now();
    int64_t step = 0;
    bool diverged = false;

    for (; step < steps; ++step) {
      // One process stops at once on Ctrl-C; ranks stop together at the next check.
      if (world == 1 && interrupt_requested()) {
        outcome.status = TrainStatus::kInterrupted;
        return outcome;
      }
      const parallel::Shard shard = parallel::shard_of(batches.rows(step), group.rank(), world);
      const data::Batch batch = batches.rows(step, shard.begin, shard.end);
      if (listener.wants_probe(global_step + 1)) listener.on_probe(global_step + 1, epoch, batch);
      train_step(model, optimizer, batch, running, {batches.rows(step), world > 1 ? &gradients : nullptr});
      if (global_step++ == setup.first_global_step) listener.on_first_step();

      // Also after an epoch's last step: epochs shorter than the interval
      // would otherwise never agree to stop on Ctrl-C or SIGTERM.
      if ((step + 1) % kDivergenceCheckInterval == 0 || step + 1 == steps) {
        const Agreement agreed = agree(running, group);
        if (agreed.interrupted) {
          outcome.status = TrainStatus::kInterrupted;
          return outcome;
        }
        if (agreed.diverged) {
          diverged = true;
          ++step;
          break;
        }
      }
      if (listener.wants_running_metrics(step + 1, seconds_since(start)))
        listener.on_running_metrics(step + 1, seconds_since(start), running.loss(), running.accuracy());
      if (config.eval_every > 0 && global_step % config.eval_every == 0) {
        const RunningMetrics all = running.over_ranks(group);
        const Evaluation val = evaluate_test();
        listener.on_step_evaluation({global_step, epoch, all.loss(), all.accuracy(), val.loss, val.accuracy});
        set_training_mode(model, setup.freeze_bn_stats);
      }
    }
    const double train_seconds = seconds_since(start);
    const double ms_per_step = step ? 1e3 * train_seconds / step : 0.0;
    const RunningMetrics all = running.over_ranks(group);
    diverged = diverged || !std::isfinite(all.loss());
    const Evaluation val = evaluate_test();
    if (!diverged) {
      parallel::check_replicas_agree(*model, group, fmt::format("end of epoch {}", epoch));
      outcome.epochs_completed = epoch;
    }
    EpochMetrics metrics;
    metrics.epoch = epoch;
    metrics.steps = step;
    metrics.loss = all.loss();
    metrics.accuracy = all.accuracy();
    metrics.val_loss = val.loss;
    metrics.val_accuracy = val.accuracy;
    metrics.lr = lr;
    metrics.epoch_seconds = seconds_since(start);
    metrics.ms_per_step = ms_per_step;
    metrics.global_step = global_step;
    if (world > 1) {
      metrics.rank_ms_per_step = per_rank(ms_per_step, group);
      metrics.ms_per_step = *std::max_element(metrics.rank_ms_per_step.begin(), metrics.rank_ms_per_step.end());
    }
    listener.on_epoch_end(metrics);
    if (diverged) {
      outcome.status = TrainStatus::kDiverged;
      outcome.diverged_epoch = epoch;
      return outcome;
    }
  }
  return outcome;
}

}  // namespace bnlab::train
