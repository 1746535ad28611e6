#include "train/trainer.h"

#include <chrono>
#include <cmath>

#include "models/norm.h"
#include "train/interrupt.h"
#include "train/optimizer.h"

namespace bnlab::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A non-finite loss poisons the running sum, so checking the sum every few
// steps (one host read) finds a divergence without reading every loss.
constexpr int64_t kDivergenceCheckInterval = 25;

int64_t usable_batches(const data::Batches& batches, int64_t total, int64_t batch_size,
                       bool has_batch_norm) {
  const int64_t last = total - (batches.count() - 1) * batch_size;
  return (has_batch_norm && last == 1 && batches.count() > 1) ? batches.count() - 1 : batches.count();
}

}  // namespace

void RunningMetrics::add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t n = labels.size(0);
  loss_sum.add_(loss.detach(), double(n));  // float into the float64 sum, in place
  correct.add_(logits.detach().argmax(1).eq(labels).sum());
  samples += n;
}

double RunningMetrics::loss() const { return samples ? loss_sum.item<double>() / samples : 0.0; }
double RunningMetrics::accuracy() const { return samples ? double(correct.item<int64_t>()) / samples : 0.0; }

void train_step(torch::nn::Sequential& model, torch::optim::Optimizer& optimizer, const data::Batch& batch,
                RunningMetrics& running) {
  optimizer.zero_grad();
  auto logits = model->forward(batch.images);
  auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  loss.backward();
  optimizer.step();
  running.add(loss, logits, batch.labels);
}

const char* to_string(TrainStatus status) {
  switch (status) {
    case TrainStatus::kCompleted: return "completed";
    case TrainStatus::kDiverged: return "diverged";
    case TrainStatus::kInterrupted: return "interrupted";
  }
  return "?";
}

Evaluation evaluate(torch::nn::Sequential& model, const data::Split& split, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < split.size(); begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, split.size());
    auto images = split.images.slice(0, begin, end);
    auto labels = split.labels.slice(0, begin, end);
    auto logits = model->forward(images);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
  }
  model->train(was_training);
  return {loss_sum / split.size(), double(correct) / split.size()};
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
    model->forward(split.images.slice(0, begin, std::min(begin + batch_size, split.size())));
  for (size_t i = 0; i < layers.size(); ++i) layers[i].set_momentum(momenta[i]);
  model->train();
}

TrainOutcome train_model(torch::nn::Sequential& model, const data::Dataset& dataset,
                         torch::optim::Optimizer& optimizer, const TrainSetup& setup, TrainListener& listener) {
  const experiments::TrainConfig& config = *setup.config;
  TrainOutcome outcome;
  outcome.epochs_completed = setup.first_epoch - 1;
  int64_t global_step = setup.first_global_step;

  for (int64_t epoch = setup.first_epoch; epoch <= config.epochs; ++epoch) {
    const double lr = learning_rate_for_epoch(config, epoch - 1);
    set_learning_rate(optimizer, lr);
    const data::Batches batches(dataset.train, data::epoch_order(dataset.train.size(), setup.seed, epoch),
                                config.batch_size);
    const int64_t steps = usable_batches(batches, dataset.train.size(), config.batch_size, setup.has_batch_norm);
    listener.on_epoch_begin(epoch, steps);
    set_training_mode(model, setup.freeze_bn_stats);
    RunningMetrics running;
    const auto start = Clock::now();
    int64_t step = 0;
    bool diverged = false;

    for (; step < steps; ++step) {
      if (interrupt_requested()) {
        outcome.status = TrainStatus::kInterrupted;
        return outcome;
      }
      const data::Batch batch = batches[step];
      if (listener.wants_probe(global_step + 1)) listener.on_probe(global_step + 1, epoch, batch);
      train_step(model, optimizer, batch, running);
      ++global_step;

      if ((step + 1) % kDivergenceCheckInterval == 0 && !std::isfinite(running.loss())) {
        diverged = true;
        ++step;
        break;
      }
      if (listener.wants_running_metrics(step + 1, seconds_since(start)))
        listener.on_running_metrics(step + 1, seconds_since(start), running.loss(), running.accuracy());
      if (config.eval_every > 0 && global_step % config.eval_every == 0) {
        const Evaluation val = evaluate(model, dataset.test);
        listener.on_step_evaluation({global_step, epoch, running.loss(), running.accuracy(), val.loss, val.accuracy});
        set_training_mode(model, setup.freeze_bn_stats);
      }
    }
    const double train_seconds = seconds_since(start);
    diverged = diverged || !std::isfinite(running.loss());
    const Evaluation val = evaluate(model, dataset.test);
    if (!diverged) outcome.epochs_completed = epoch;
    listener.on_epoch_end({epoch, step, running.loss(), running.accuracy(), val.loss, val.accuracy, lr,
                           seconds_since(start), step ? 1e3 * train_seconds / step : 0.0, global_step});
    if (diverged) {
      outcome.status = TrainStatus::kDiverged;
      outcome.diverged_epoch = epoch;
      return outcome;
    }
  }
  return outcome;
}

}  // namespace bnlab::train
