#include "models/norm.h"

#include <stdexcept>

#include "bn/batch_norm.h"

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

}  // namespace

torch::nn::AnyModule make_norm(const NormOptions& config, int64_t features, int spatial_dims, bool then_relu) {
  const NormKind kind = config.kind;
  if (then_relu && kind != NormKind::kCustom)
    throw std::invalid_argument("make_norm: only bnlab's BatchNorm (custom) computes a ReLU inside, not '" +
                                to_name(kind) + "'");
  if (kind == NormKind::kCustom) {
    bn::BatchNorm layer(bn::BatchNormOptions(features)
                            .eps(config.eps)
                            .momentum(momentum_of(config))
                            .affine(config.affine)
                            .kernels(config.kernels)
                            .sync_group(config.sync_group)
                            .relu(then_relu)
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
  throw std::invalid_argument("make_norm: no normalisation layer for kind '" + to_name(kind) + "'");
}

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
