#include "bn/function_support.h"

#include <ATen/Dispatch.h>

#include <cmath>

namespace bnlab::bn::detail {

void finish_batch_statistics(const torch::Tensor& batch_mean, torch::Tensor& var_to_invstd,
                             const torch::Tensor& running_mean, const torch::Tensor& running_var, int64_t M,
                             double momentum, double eps) {
  const int64_t C = batch_mean.numel();
  const double* mean = batch_mean.data_ptr<double>();
  double* var = var_to_invstd.data_ptr<double>();
  if (running_mean.defined()) {
    const double bessel = double(M) / double(M - 1);
    AT_DISPATCH_FLOATING_TYPES(running_mean.scalar_type(), "bnlab_running_stats", [&] {
      scalar_t* rm = running_mean.data_ptr<scalar_t>();
      scalar_t* rv = running_var.data_ptr<scalar_t>();
      const int64_t rm_stride = running_mean.stride(0), rv_stride = running_var.stride(0);
      for (int64_t c = 0; c < C; ++c) {
        scalar_t& m = rm[c * rm_stride];
        scalar_t& v = rv[c * rv_stride];
        m = scalar_t((1 - momentum) * double(m) + momentum * mean[c]);
        v = scalar_t((1 - momentum) * double(v) + momentum * bessel * var[c]);
      }
    });
  }
  for (int64_t c = 0; c < C; ++c) var[c] = 1.0 / std::sqrt(var[c] + eps);
}

torch::Tensor per_channel_copy(const torch::Tensor& t, torch::ScalarType type) {
  const auto src = t.contiguous();  // running statistics may be strided views
  auto out = torch::empty(src.sizes(), src.options().dtype(type));
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "bnlab_per_channel_copy", [&] {
    using From = scalar_t;
    const From* from = src.data_ptr<From>();
    AT_DISPATCH_FLOATING_TYPES(type, "bnlab_per_channel_copy", [&] {
      scalar_t* to = out.data_ptr<scalar_t>();
      for (int64_t c = 0; c < src.numel(); ++c) to[c] = scalar_t(from[c]);
    });
  });
  return out;
}

torch::Tensor in_dtype(const torch::Tensor& t, torch::ScalarType type) {
  return t.scalar_type() == type ? t : per_channel_copy(t, type);
}

namespace {
void check_per_channel(const torch::Tensor& t, const char* name, const torch::Tensor& x) {
  if (!t.defined()) return;
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x.size(1), "BatchNorm: ", name, " should contain ",
              x.size(1), " elements (one per input channel) but has shape ", t.sizes(),
              " (input shape ", x.sizes(), ")");
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), "BatchNorm: ", name, " has dtype ",
              t.scalar_type(), " but the input has dtype ", x.scalar_type());
  TORCH_CHECK(t.device() == x.device(), "BatchNorm: ", name, " is on ", t.device(),
              " but the input is on ", x.device());
}
}  // namespace

void check_batch_norm_arguments(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                const torch::Tensor& running_mean, const torch::Tensor& running_var,
                                bool use_batch_stats, bool synced) {
  TORCH_CHECK(x.dim() >= 2 && x.dim() <= 4,
              "BatchNorm: expected 2D (N,C), 3D (N,C,L) or 4D (N,C,H,W) input (got ", x.dim(),
              "D input of shape ", x.sizes(), ")");
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64,
              "BatchNorm: expected a float32 or float64 input, got ", x.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), "BatchNorm: only CPU tensors are supported, got ", x.device());
  check_per_channel(weight, "weight", x);
  check_per_channel(bias, "bias", x);
  check_per_channel(running_mean, "running_mean", x);
  check_per_channel(running_var, "running_var", x);
  TORCH_CHECK(running_mean.defined() == running_var.defined(),
              "BatchNorm: running_mean and running_var must both be given or both be undefined");
  TORCH_CHECK(use_batch_stats || running_mean.defined(),
              "BatchNorm: normalising with running statistics needs running_mean and running_var");
  if (use_batch_stats && !synced)
    TORCH_CHECK(x.numel() != x.size(1), "Expected more than 1 value per channel when training, got input size ",
                x.sizes());
}

}  // namespace bnlab::bn::detail
