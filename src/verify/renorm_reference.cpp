#include "verify/renorm_reference.h"

#include <cmath>

namespace bnlab::verify {
namespace {

// (C) -> (1, C, 1, ...) broadcastable against x.
torch::Tensor per_channel(const torch::Tensor& t, const torch::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = x.size(1);
  return t.view(shape);
}

// Every dimension but the channels'.
std::vector<int64_t> reduced_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

torch::Tensor affine(const torch::Tensor& xhat, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto y = weight.defined() ? xhat * per_channel(weight, xhat) : xhat;
  return bias.defined() ? y + per_channel(bias, xhat) : y;
}

}  // namespace

RenormReferenceImpl::RenormReferenceImpl(RenormReferenceOptions options_) : options(std::move(options_)) {
  const int64_t C = options.num_features;
  if (options.affine) {
    weight = register_parameter("weight", torch::ones({C}));
    bias = register_parameter("bias", torch::zeros({C}));
  }
  running_mean = register_buffer("running_mean", torch::zeros({C}));
  running_var = register_buffer("running_var", torch::ones({C}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kInt64));
  if (options.renorm.averages() == bn::RenormAverages::kSeparate) {
    renorm_mean = register_buffer("renorm_mean", torch::zeros({C}));
    renorm_std = register_buffer("renorm_std", torch::ones({C}));
  }
}

torch::Tensor RenormReferenceImpl::forward(const torch::Tensor& x) {
  if (is_training()) return train_step(x);
  // Inference: BatchNorm with the running statistics (r = 1, d = 0).
  const auto xhat = (x - per_channel(running_mean, x)) / per_channel((running_var + options.eps).sqrt(), x);
  return affine(xhat, weight, bias);
}

torch::Tensor RenormReferenceImpl::train_step(const torch::Tensor& x) {
  const auto dims = reduced_dims(x);
  const int64_t M = x.numel() / x.size(1);                  // values per channel
  const auto batch_mean = x.mean(dims);                     // (C) mu_B
  const auto batch_var = x.var(dims, /*unbiased=*/false);   // (C) sigma_B^2, biased
  const auto batch_std = (batch_var + options.eps).sqrt();  // (C) sigma_B
  const auto bounds = bn::renorm_bounds(options.renorm, num_batches_tracked.item<int64_t>());
  const bool separate = renorm_mean.defined();
  const auto mu = separate ? renorm_mean : running_mean;  // (C) averages before this batch
  const auto sigma = separate ? renorm_std.clamp_min(std::sqrt(options.eps)) : (running_var + options.eps).sqrt();
  // r and d: constants for backward (the paper's stop_gradient).
  const auto r = (batch_std / sigma).clamp(bounds.rmin, bounds.rmax).detach();           // (C)
  const auto d = ((batch_mean - mu) / sigma).clamp(-bounds.dmax, bounds.dmax).detach();  // (C)
  const auto xhat = (x - per_channel(batch_mean, x)) / per_channel(batch_std, x);        // x's shape
  const auto y = affine(xhat * per_channel(r, x) + per_channel(d, x), weight, bias);

  torch::NoGradGuard no_grad;
  num_batches_tracked.add_(1);
  const double m = options.momentum ? *options.momentum : 1.0 / double(num_batches_tracked.item<int64_t>());
  running_mean.mul_(1 - m).add_(m * batch_mean);
  running_var.mul_(1 - m).add_(m * batch_var * (double(M) / double(M - 1)));  // unbiased, as PyTorch
  if (separate) {
    const double a = options.renorm.momentum();
    renorm_mean.mul_(1 - a).add_(a * batch_mean);
    renorm_std.mul_(1 - a).add_(a * batch_std);
  }
  return y;
}

}  // namespace bnlab::verify
