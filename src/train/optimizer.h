#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "experiments/run_config.h"

namespace bnlab::train {

// Adam (FusedAdam) or SGD (momentum, Nesterov, weight decay) over
// `parameters`. The learning rate is the schedule's alone: the optimiser
// starts at 0 and takes its rate from apply_schedule before each epoch
// (train_model does that), so no second place sets it.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const experiments::TrainConfig& config,
                                                        const std::vector<torch::Tensor>& parameters);

// The learning rate of a 0-based epoch under the configured schedule:
// none: lr; step: lr * step_gamma^(epoch / step_size); cosine: lr * (1 + cos(pi * epoch / epochs)) / 2.
double learning_rate_for_epoch(const experiments::TrainConfig& config, int64_t epoch);

// Sets the optimiser's rate to the schedule's for a 0-based epoch; returns it.
double apply_schedule(torch::optim::Optimizer& optimizer, const experiments::TrainConfig& config, int64_t epoch);

// Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True), its
// default since 2.0): backward then hands over the gradient it computed
// instead of adding it to a zeroed tensor, one op per parameter less.
void clear_gradients(torch::optim::Optimizer& optimizer);

}  // namespace bnlab::train
