#include "models/fold.h"

#include <fmt/format.h>

#include <map>

#include "bn/batch_norm.h"
#include "models/model.h"
#include "models/norm.h"
#include "pool/max_pool.h"

namespace bnlab::models {
namespace {

using torch::Tensor;

struct Affine {
  Tensor scale, shift;  // (C) float64: BN(x) = scale * x + shift in eval mode
};

Affine eval_affine(const BatchNormLayer& bn, double eps) {
  if (!bn.running_mean.defined())
    throw FoldError(
        fmt::format("{}: BatchNorm without running statistics normalises with each batch's own "
                    "statistics in eval mode too; there is no fixed affine map to fold",
                    bn.name));
  const auto var = bn.running_var.to(torch::kFloat64), mean = bn.running_mean.to(torch::kFloat64);
  auto scale = (var + eps).rsqrt();
  if (bn.weight.defined()) scale = scale * bn.weight.to(torch::kFloat64);
  auto shift = -mean * scale;
  if (bn.bias.defined()) shift = shift + bn.bias.to(torch::kFloat64);
  return {scale, shift};
}

// The weight and bias of a Linear or Conv2d child, or undefined tensors.
std::pair<Tensor, Tensor> linear_parameters(torch::nn::Module& module) {
  if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(&module)) return {linear->weight, linear->bias};
  if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(&module)) {
    const auto& padding = c10::get<torch::ExpandingArray<2>>(conv->options.padding());
    if ((*padding)[0] != 0 || (*padding)[1] != 0) return {};  // padding would see t where zeros were
    return {conv->weight, conv->bias};
  }
  return {};
}

// Output side: W' = s W per output channel (row), b' = s b + t.
void fold_into_outputs(Tensor& weight, Tensor& bias, const Affine& a) {
  std::vector<int64_t> per_row(weight.dim(), 1);
  per_row[0] = -1;
  const auto w = weight.to(torch::kFloat64), b = bias.to(torch::kFloat64);
  weight.copy_(w * a.scale.view(per_row));
  bias.copy_(a.scale * b + a.shift);
}

// Input side: W' = W s per input channel, b' = b + W t; `positions` inputs
// per channel (a Linear after flatten: C*H*W inputs from C channels).
void fold_into_inputs(Tensor& weight, Tensor& bias, const Affine& a, int64_t positions) {
  const auto w = weight.to(torch::kFloat64), b = bias.to(torch::kFloat64);
  if (weight.dim() == 4) {  // conv (O, C, kh, kw): every output sums t_c over its window
    weight.copy_(w * a.scale.view({1, -1, 1, 1}));
    bias.copy_(b + (w * a.shift.view({1, -1, 1, 1})).sum({1, 2, 3}));
    return;
  }
  const auto scale = a.scale.repeat_interleave(positions), shift = a.shift.repeat_interleave(positions);  // (in)
  weight.copy_(w * scale.view({1, -1}));
  bias.copy_(b + w.matmul(shift));
}

using Children = torch::OrderedDict<std::string, std::shared_ptr<torch::nn::Module>>;

// A max-pool commutes with BN's affine map when every scale is positive.
void check_pool_commutes(const std::string& name, const std::string& pool, const Affine& a) {
  const double smallest = a.scale.min().item<double>();
  if (!(smallest > 0))
    throw FoldError(
        fmt::format("{}: followed by the max-pool {}, and its scale gamma / sqrt(var + eps) is {} for "
                    "some channel; a max-pool commutes with the affine map only when every scale is "
                    "positive, so {} does not fold into the layer after it",
                    name, pool, smallest, name));
}

// BN at children[at] into the first Linear or Conv after it, through
// dropout, flatten and (every scale > 0) max-pool, its own (pools: BN with
// max_pool_2x2) or a layer's; returns the step's line.
std::string fold_forward(const Children& children, Children& target, size_t at, const Affine& a, bool pools) {
  const std::string& name = children[at].key();
  if (pools) check_pool_commutes(name, "inside it", a);
  bool flattened = false;
  for (size_t j = at + 1; j < children.size(); ++j) {
    const std::string& next = children[j].key();
    torch::nn::Module& module = *children[j].value();
    if (dynamic_cast<torch::nn::DropoutImpl*>(&module)) continue;  // identity in eval
    if (dynamic_cast<torch::nn::FlattenImpl*>(&module)) {
      flattened = true;
      continue;
    }
    if (dynamic_cast<pool::MaxPool2x2Impl*>(&module)) {
      check_pool_commutes(name, next, a);
      continue;
    }
    auto [weight, bias] = linear_parameters(*target[next]);
    if (!weight.defined())
      throw FoldError(
          fmt::format("{}: the layer before it is not a Linear or Conv, and {} ({}) after it is not "
                      "linear; no exact fold",
                      name, next, module.name()));
    const int64_t channels = a.scale.numel();
    const int64_t positions = flattened ? weight.size(1) / channels : 1;
    fold_into_inputs(weight, bias, a, positions);
    return fmt::format("{} into {} (the layer after it{})", name, next, flattened ? ", through flatten" : "");
  }
  throw FoldError(fmt::format("{}: no layer before or after it to fold into", name));
}

}  // namespace

FoldResult fold_batch_norms(torch::nn::Sequential& model, const ModelOptions& options) {
  ModelOptions plain = options;
  plain.norm.kind = NormKind::kNone;
  FoldResult result{build_model(plain), {}};
  result.model->eval();
  torch::NoGradGuard no_grad;
  // The Linear and Conv parameters, by name (the norm layers have no counterpart).
  const auto source = model->named_parameters();
  for (auto& item : result.model->named_parameters()) item.value().copy_(source[item.key()]);
  if (options.norm.kind == NormKind::kNone) return result;
  if (!is_batch_norm_kind(options.norm.kind))
    throw FoldError(
        fmt::format("model.norm = \"{}\": its statistics are each sample's own, computed at inference "
                    "too; only BatchNorm folds",
                    to_name(options.norm.kind)));
  const auto children = model->named_children();
  auto target = result.model->named_children();
  std::map<std::string, BatchNormLayer> layers;
  for (auto& layer : batch_norm_layers(*model)) layers.emplace(layer.name, layer);
  for (size_t i = 0; i < children.size(); ++i) {
    const auto found = layers.find(children[i].key());
    if (found == layers.end()) continue;
    const std::string& name = found->first;
    const Affine a = eval_affine(found->second, options.norm.eps);
    // A ReLU fused before BN sits between it and the layer before.
    const auto* custom = dynamic_cast<const bn::BatchNormImpl*>(found->second.module.get());
    const bool relu_before = custom && custom->options.relu_input();
    if (i > 0 && !relu_before) {  // directly after a Linear or Conv: into its outputs
      auto [weight, bias] = linear_parameters(*target[children[i - 1].key()]);
      if (weight.defined()) {
        fold_into_outputs(weight, bias, a);
        result.steps.push_back(fmt::format("{} into {} (the layer before it)", name, children[i - 1].key()));
        continue;
      }
    }
    result.steps.push_back(fold_forward(children, target, i, a, custom && custom->options.max_pool_2x2()));
  }
  return result;
}

}  // namespace bnlab::models
