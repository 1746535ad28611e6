#include "gn/group_norm.h"

#include "gn/group_norm_function.h"

namespace bnlab::gn {

GroupNormOptions layer_norm_options(int64_t num_channels) { return GroupNormOptions(1, num_channels); }
GroupNormOptions instance_norm_options(int64_t num_channels) { return GroupNormOptions(num_channels, num_channels); }

GroupNormImpl::GroupNormImpl(const GroupNormOptions& options_) : options(options_) {
  TORCH_CHECK(options.num_channels() > 0, "GroupNorm: num_channels must be positive, got ", options.num_channels());
  TORCH_CHECK(options.num_groups() > 0 && options.num_channels() % options.num_groups() == 0,
              "GroupNorm: num_channels (", options.num_channels(), ") must be divisible by num_groups (",
              options.num_groups(), ")");
  TORCH_CHECK(options.eps() > 0, "GroupNorm: eps must be positive, got ", options.eps());
  reset();
}

void GroupNormImpl::reset() {
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({options.num_channels()}));
    bias = register_parameter("bias", torch::empty({options.num_channels()}));
  }
  reset_parameters();
}

void GroupNormImpl::reset_parameters() {
  if (!options.affine()) return;
  torch::NoGradGuard no_grad;
  weight.fill_(1);
  bias.zero_();
}

void GroupNormImpl::pretty_print(std::ostream& stream) const {
  stream << "bnlab::GroupNorm(" << options.num_groups() << ", " << options.num_channels() << ", eps=" << options.eps()
         << ", affine=" << std::boolalpha << options.affine() << ", kernels=" << to_string(options.kernels()) << ")";
}

torch::Tensor GroupNormImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 2 && input.size(1) == options.num_channels(), "GroupNorm: expected an input (N, ",
              options.num_channels(), ", *), got shape ", input.sizes());
  return group_norm(input, options.num_groups(), weight, bias, options.eps(), options.kernels());
}

NativeLayerNormImpl::NativeLayerNormImpl(int64_t num_channels_, double eps_, bool affine_)
    : num_channels(num_channels_), eps(eps_), affine(affine_) {
  reset();
}

void NativeLayerNormImpl::reset() {
  if (!affine) return;
  weight = register_parameter("weight", torch::ones({num_channels}));
  bias = register_parameter("bias", torch::zeros({num_channels}));
}

void NativeLayerNormImpl::pretty_print(std::ostream& stream) const {
  stream << "at::layer_norm(C=" << num_channels << " and all of a sample's positions, eps=" << eps
         << ", per-channel affine=" << std::boolalpha << affine << ")";
}

torch::Tensor NativeLayerNormImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 2 && input.size(1) == num_channels, "LayerNorm: expected an input (N, ", num_channels,
              ", *), got shape ", input.sizes());
  const auto features = input.sizes().slice(1);  // (C, *)
  std::vector<int64_t> per_channel(features.size(), 1);
  per_channel[0] = num_channels;
  const auto spread = [&](const torch::Tensor& t) { return t.defined() ? t.view(per_channel).expand(features) : t; };
  return torch::layer_norm(input, features, spread(weight), spread(bias), eps);
}

}  // namespace bnlab::gn
