#include "models/norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "bn/batch_norm.h"
#include "gn/group_norm.h"

namespace bnlab::models {
namespace {

// bnlab's options use std::optional; LibTorch 1.13's take c10::optional.
c10::optional<double> momentum_of(const NormOptions& config) {
  return config.momentum ? c10::optional<double>(*config.momentum) : c10::nullopt;
}

template <typename Module>
void init_affine(Module& bn, const NormOptions& config) {
  if (!config.affine) return;
  torch::NoGradGuard no_grad;
  bn->weight.fill_(config.gamma_init);
  bn->bias.fill_(config.beta_init);
}

template <typename Options>
Options native_options(int64_t features, const NormOptions& config) {
  return Options(features).eps(config.eps).momentum(momentum_of(config)).affine(config.affine);
}

// GroupNorm, LayerNorm and InstanceNorm, bnlab's or native.
torch::nn::AnyModule make_group_kind_norm(const NormOptions& config, int64_t features, int spatial_dims) {
  const int64_t groups = groups_for_layer(config, features, spatial_dims == 0);
  const NormKind kind = config.kind;
  if (kind == NormKind::kGroup || kind == NormKind::kLayer || kind == NormKind::kInstance) {
    gn::GroupNorm layer(
        gn::GroupNormOptions(groups, features).eps(config.eps).affine(config.affine).kernels(config.kernels));
    init_affine(layer, config);
    return torch::nn::AnyModule(layer);
  }
  if (kind == NormKind::kNativeGroup) {
    torch::nn::GroupNorm layer(torch::nn::GroupNormOptions(groups, features).eps(config.eps).affine(config.affine));
    init_affine(layer, config);
    return torch::nn::AnyModule(layer);
  }
  if (kind == NormKind::kNativeLayer) {
    gn::NativeLayerNorm layer(features, config.eps, config.affine);
    init_affine(layer, config);
    return torch::nn::AnyModule(layer);
  }
  torch::nn::InstanceNorm2d layer(
      torch::nn::InstanceNormOptions(features).eps(config.eps).affine(config.affine).track_running_stats(false));
  init_affine(layer, config);
  return torch::nn::AnyModule(layer);
}

}  // namespace

torch::nn::AnyModule make_norm(const NormOptions& config, int64_t features, int spatial_dims, FusedRelu fused_relu,
                               bool max_pool) {
  const NormKind kind = config.kind;
  if ((fused_relu != FusedRelu::kNone || max_pool) && kind != NormKind::kCustom)
    throw std::invalid_argument("make_norm: only bnlab's BatchNorm (custom) computes a ReLU or max-pool inside, not '" +
                                to_name(kind) + "'");
  if (max_pool && spatial_dims != 2)
    throw std::invalid_argument("make_norm: a max-pool inside the norm needs a conv layer's (N,C,H,W) output");
  if (kind == NormKind::kCustom) {
    bn::BatchNorm layer(bn::BatchNormOptions(features)
                            .eps(config.eps)
                            .momentum(momentum_of(config))
                            .affine(config.affine)
                            .kernels(config.kernels)
                            .sync_group(config.sync_group)
                            .relu(fused_relu == FusedRelu::kAfterNorm)
                            .relu_input(fused_relu == FusedRelu::kBeforeNorm)
                            .max_pool_2x2(max_pool)
                            .virtual_batch_size(config.virtual_batch_size)
                            .renorm(config.renorm ? c10::optional<bn::RenormOptions>(*config.renorm) : c10::nullopt));
    init_affine(layer, config);
    return torch::nn::AnyModule(layer);
  }
  if (kind == NormKind::kNative && spatial_dims == 2) {
    torch::nn::BatchNorm2d layer(native_options<torch::nn::BatchNormOptions>(features, config));
    init_affine(layer, config);
    return torch::nn::AnyModule(layer);
  }
  if (kind == NormKind::kNative) {
    torch::nn::BatchNorm1d layer(native_options<torch::nn::BatchNormOptions>(features, config));
    init_affine(layer, config);
    return torch::nn::AnyModule(layer);
  }
  if (!is_batch_norm_kind(kind) && kind != NormKind::kNone) return make_group_kind_norm(config, features, spatial_dims);
  throw std::invalid_argument("make_norm: no normalisation layer for kind '" + to_name(kind) + "'");
}

int64_t groups_for_layer(const NormOptions& config, int64_t channels, bool dense) {
  const auto kind = config.kind;
  const int64_t values_per_channel = dense ? 1 : 9;  // conv layers: 3x3 or more here
  auto values_per_group = [&](int64_t groups) { return channels / groups * values_per_channel; };
  auto at_least_two_values = [&](int64_t groups) { return values_per_group(groups) >= 2; };
  int64_t groups = 0;
  if (kind == NormKind::kLayer || kind == NormKind::kNativeLayer) {
    groups = 1;
  } else if (kind == NormKind::kInstance || kind == NormKind::kNativeInstance) {
    groups = channels;
  } else if (config.groups == 0) {  // auto: the largest divisor <= 32 with 8 values per group
    // Two values per group would normalise each to +-1: nothing left of
    // them (a Dense layer's groups of 2 features train to chance).
    for (int64_t g = std::min<int64_t>(32, channels); g >= 1 && groups == 0; --g)
      if (channels % g == 0 && values_per_group(g) >= std::min<int64_t>(8, channels * values_per_channel)) groups = g;
  } else {
    groups = std::min(config.groups, channels);
    if (channels % groups != 0)
      throw std::invalid_argument(
          fmt::format("gn.groups = {} does not divide a layer's {} channels ({} norm); choose "
                      "a divisor of every layer's channels, or 0 (auto)",
                      config.groups, channels, to_name(kind)));
  }
  if (groups == 0 || !at_least_two_values(groups))
    throw std::invalid_argument(
        fmt::format("{} norm on a {} layer of {} channels: {} groups leave one value per group (y would be beta){}",
                    to_name(kind), dense ? "Dense" : "conv", channels, groups == 0 ? channels : groups,
                    kind == NormKind::kGroup || kind == NormKind::kNativeGroup ? "; choose fewer groups" : ""));
  return groups;
}

bool normalises_dense_layers(NormKind kind) { return kind != NormKind::kInstance && kind != NormKind::kNativeInstance; }

bool is_batch_norm(const torch::nn::Module& module) {
  return dynamic_cast<const bn::BatchNormImpl*>(&module) ||
         dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&module) ||
         dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&module);
}

namespace {

template <typename Impl>
BatchNormLayer view_of(const std::string& name, const std::shared_ptr<torch::nn::Module>& module, Impl* bn) {
  return {name,
          module,
          bn->weight,
          bn->bias,
          bn->running_mean,
          bn->running_var,
          [bn] { return bn->options.momentum(); },
          [bn](c10::optional<double> m) { bn->options.momentum(m); },
          [bn] { bn->reset_running_stats(); }};
}

}  // namespace

std::vector<BatchNormLayer> batch_norm_layers(torch::nn::Module& model) {
  std::vector<BatchNormLayer> layers;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto& module = item.value();
    if (auto* ours = dynamic_cast<bn::BatchNormImpl*>(module.get()))
      layers.push_back(view_of(item.key(), module, ours));
    else if (auto* native1 = dynamic_cast<torch::nn::BatchNorm1dImpl*>(module.get()))
      layers.push_back(view_of(item.key(), module, native1));
    else if (auto* native2 = dynamic_cast<torch::nn::BatchNorm2dImpl*>(module.get()))
      layers.push_back(view_of(item.key(), module, native2));
  }
  return layers;
}

}  // namespace bnlab::models
