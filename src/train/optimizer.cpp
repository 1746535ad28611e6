#include "train/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "train/fused_adam.h"

namespace bnlab::train {

namespace {

constexpr double kRateBeforeSchedule = 0.0;  // replaced by apply_schedule before any step

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const experiments::TrainConfig& config,
                                                        const std::vector<torch::Tensor>& parameters) {
  using experiments::OptimizerKind;
  switch (config.optimizer) {
    case OptimizerKind::kAdam:
      return std::make_unique<FusedAdam>(
          parameters, torch::optim::AdamOptions(kRateBeforeSchedule).weight_decay(config.weight_decay));
    case OptimizerKind::kSgd:
      return std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(kRateBeforeSchedule)
                                                                 .momentum(config.momentum)
                                                                 .nesterov(config.nesterov)
                                                                 .weight_decay(config.weight_decay));
  }
  throw std::invalid_argument("unknown optimizer");
}

double learning_rate_for_epoch(const experiments::TrainConfig& config, int64_t epoch) {
  switch (config.schedule) {
    case experiments::Schedule::kStep:
      return config.lr * std::pow(config.step_gamma, static_cast<double>(epoch / config.step_size));
    case experiments::Schedule::kCosine:
      return config.lr * 0.5 * (1.0 + std::cos(M_PI * double(epoch) / double(config.epochs)));
    case experiments::Schedule::kNone:
      break;
  }
  return config.lr;
}

double apply_schedule(torch::optim::Optimizer& optimizer, const experiments::TrainConfig& config, int64_t epoch) {
  const double lr = learning_rate_for_epoch(config, epoch);
  set_learning_rate(optimizer, lr);
  return lr;
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

}  // namespace bnlab::train
