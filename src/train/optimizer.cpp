#include "train/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "train/fused_adam.h"

namespace bnlab::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const experiments::TrainConfig& config,
                                                        const std::vector<torch::Tensor>& parameters) {
  if (config.optimizer == "adam")
    return std::make_unique<FusedAdam>(parameters,
                                       torch::optim::AdamOptions(config.lr).weight_decay(config.weight_decay));
  if (config.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(config.lr)
                                                               .momentum(config.momentum)
                                                               .nesterov(config.nesterov)
                                                               .weight_decay(config.weight_decay));
  throw std::invalid_argument("unknown optimizer '" + config.optimizer + "'");
}

double learning_rate_for_epoch(const experiments::TrainConfig& config, int64_t epoch) {
  if (config.schedule == "step")
    return config.lr * std::pow(config.step_gamma, static_cast<double>(epoch / config.step_size));
  if (config.schedule == "cosine")
    return config.lr * 0.5 * (1.0 + std::cos(M_PI * double(epoch) / double(config.epochs)));
  return config.lr;
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace bnlab::train
