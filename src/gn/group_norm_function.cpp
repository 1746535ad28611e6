#include "gn/group_norm_function.h"

#include "bn/function_support.h"

namespace bnlab::gn {
namespace {

using bn::detail::absent_as_empty;
using bn::detail::affine_or_absent;
using bn::detail::per_channel_copy;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// (N, C, S) contiguous: the layout the kernels read.
torch::Tensor as_ncs(const torch::Tensor& t) { return t.contiguous().view({t.size(0), t.size(1), -1}); }

// t3 (N, C, S) back in `like`'s shape and memory format: channels-last
// input gives channels-last output, as native GroupNorm keeps it (one copy;
// the kernels read and write (N, C, S)).
torch::Tensor like_input(const torch::Tensor& t3, const torch::Tensor& like) {
  const auto t = t3.view(like.sizes());
  return bn::detail::is_channels_last(like) ? t.contiguous(at::MemoryFormat::ChannelsLast) : t;
}

}  // namespace

const GroupNormKernelSet& group_norm_kernel_set(Kernels which) {
  return which == Kernels::kFused ? fused::kernel_set() : reference::kernel_set();
}

// ---- forward ------------------------------------------------------------------

torch::Tensor GroupNormFunction::forward(AutogradContext* ctx, const torch::Tensor& x,
                                         const torch::Tensor& weight_or_empty, const torch::Tensor& bias_or_empty,
                                         int64_t groups, double eps, Kernels kernels) {
  const auto& k = group_norm_kernel_set(kernels);
  const auto weight = affine_or_absent(weight_or_empty);  // (C) or undefined
  const auto bias = affine_or_absent(bias_or_empty);
  const auto x3 = as_ncs(x);                                    // (N,C,S)
  const auto [mean, invstd] = k.moments(x3, groups, eps);       // (N,G) float64 each
  const auto y3 = k.normalize(x3, mean, invstd, weight, bias);  // (N,C,S)
  // Saved: x and the (N,G) statistics; xhat is recomputed in backward's
  // passes over x, as BatchNormFunction does.
  ctx->save_for_backward({x3, weight});
  ctx->saved_data["mean"] = mean;
  ctx->saved_data["invstd"] = invstd;
  ctx->saved_data["kernels"] = static_cast<int64_t>(kernels);
  return like_input(y3, x);
}

// ---- backward -----------------------------------------------------------------

variable_list GroupNormFunction::backward(AutogradContext* ctx, variable_list grad_outputs) {
  TORCH_CHECK(!torch::GradMode::is_enabled(),
              "GroupNormFunction: double backward (create_graph=true) is not supported");
  const auto saved = ctx->get_saved_variables();
  const torch::Tensor& x3 = saved[0];      // (N,C,S)
  const torch::Tensor& weight = saved[1];  // (C) or undefined
  const auto& k = group_norm_kernel_set(static_cast<Kernels>(ctx->saved_data["kernels"].toInt()));
  const bool need_dx = ctx->needs_input_grad(0);
  const bool need_affine = weight.defined() && (ctx->needs_input_grad(1) || ctx->needs_input_grad(2));
  auto [dx3, dweight, dbias] =  // (N,C,S); (C) float64 each
      k.backward(as_ncs(grad_outputs[0]), x3, ctx->saved_data["mean"].toTensor(), ctx->saved_data["invstd"].toTensor(),
                 weight, need_dx, need_affine);
  const auto dx = need_dx ? like_input(dx3, grad_outputs[0]) : torch::Tensor();
  if (need_affine) {
    dweight = per_channel_copy(dweight, x3.scalar_type());
    dbias = per_channel_copy(dbias, x3.scalar_type());
  }
  return {dx, dweight, dbias, {}, {}, {}};
}

// ---- validated entry point ----------------------------------------------------

torch::Tensor group_norm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight, const torch::Tensor& bias,
                         double eps, Kernels kernels) {
  TORCH_CHECK(x.dim() >= 2, "GroupNorm: expected an input of at least 2 dimensions (N,C,*), got shape ", x.sizes());
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64,
              "GroupNorm: expected a float32 or float64 input, got ", x.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), "GroupNorm: only CPU tensors are supported, got ", x.device());
  const int64_t C = x.size(1);
  TORCH_CHECK(groups > 0 && C % groups == 0, "GroupNorm: the input's ", C, " channels do not divide into ", groups,
              " groups (input shape ", x.sizes(), ")");
  for (const auto& [t, name] : {std::pair{weight, "weight"}, std::pair{bias, "bias"}}) {
    if (!t.defined()) continue;
    TORCH_CHECK(t.dim() == 1 && t.size(0) == C, "GroupNorm: ", name, " should contain ", C,
                " elements (one per channel) but has shape ", t.sizes());
    TORCH_CHECK(t.scalar_type() == x.scalar_type(), "GroupNorm: ", name, " has dtype ", t.scalar_type(),
                " but the input has dtype ", x.scalar_type());
  }
  if (x.numel() == 0) return bn::detail::empty_normalised(x, weight, bias);
  return GroupNormFunction::apply(x, absent_as_empty(weight, x), absent_as_empty(bias, x), groups, eps, kernels);
}

}  // namespace bnlab::gn
