#include "train/fused_adam.h"

#include <ATen/Dispatch.h>

#include <cmath>

#include "core/cpu.h"

// The compiled copies of adam_kernel_impl.h.
#define BNLAB_ISA_DECLARATIONS "train/adam_kernel_isa.h"
#include "core/isa_copies.h"

namespace bnlab::train {
namespace {

using torch::optim::AdamOptions;
using torch::optim::AdamParamState;

AdamParamState& state_of(torch::optim::Optimizer& optimizer, const torch::Tensor& p, const std::string& key,
                         bool amsgrad) {
  auto& states = optimizer.state();
  auto found = states.find(key);
  if (found == states.end()) {
    auto fresh = std::make_unique<AdamParamState>();
    fresh->step(0);
    fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    if (amsgrad) fresh->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    found = states.emplace(key, std::move(fresh)).first;
  }
  return static_cast<AdamParamState&>(*found->second);
}

void update_parameter(torch::Tensor& p, AdamParamState& state, const AdamOptions& options) {
  TORCH_CHECK(!p.grad().is_sparse(), "FusedAdam: sparse gradients are not supported");
  TORCH_CHECK(p.is_contiguous() && state.exp_avg().is_contiguous() && state.exp_avg_sq().is_contiguous(),
              "FusedAdam: parameters and their state must be contiguous, got parameter of shape ", p.sizes(),
              " and strides ", p.strides());
  const auto grad = p.grad().contiguous();
  state.step(state.step() + 1);
  const double t = double(state.step());
  // Plain variables, not a structured binding: C++17 lambdas cannot capture those (clang refuses).
  const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
  const double step_size = options.lr() / (1 - std::pow(beta1, t));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, t));
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "bnlab_fused_adam", [&] {
    scalar_t* vmax = options.amsgrad() ? state.max_exp_avg_sq().data_ptr<scalar_t>() : nullptr;
    BNLAB_ISA_COPY(adam_kernel, update<scalar_t>)(p.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                                                  state.exp_avg().data_ptr<scalar_t>(),
                                                  state.exp_avg_sq().data_ptr<scalar_t>(), vmax, p.numel(), beta1,
                                                  beta2, options.eps(), options.weight_decay(), step_size,
                                                  bias_correction2_sqrt);
  });
}

}  // namespace

const std::string& FusedAdam::state_key(const torch::Tensor& p) {
  const auto* impl = p.unsafeGetTensorImpl();
  auto found = state_keys_.find(impl);
  if (found == state_keys_.end()) found = state_keys_.emplace(impl, c10::guts::to_string(impl)).first;
  return found->second;
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      update_parameter(p, state_of(*this, p, state_key(p), options.amsgrad()), options);
    }
  }
  return loss;
}

}  // namespace bnlab::train
