#include "models/model.h"

#include <fmt/format.h>

#include "models/norm.h"
#include "pool/max_pool.h"

namespace bnlab::models {
namespace {

constexpr int64_t kImageSide = 28;

torch::nn::AnyModule make_activation(Activation activation) {
  switch (activation) {
    case Activation::kRelu:
      return torch::nn::AnyModule(torch::nn::ReLU());
    case Activation::kSigmoid:
      return torch::nn::AnyModule(torch::nn::Sigmoid());
    case Activation::kTanh:
      return torch::nn::AnyModule(torch::nn::Tanh());
  }
  throw std::invalid_argument("unknown activation");
}

}  // namespace

bool fuses_relu(const ModelOptions& options) {
  const bool dropout_between = options.placement == Placement::kAfter && options.dropout > 0 &&
                               options.dropout_placement == DropoutPlacement::kBeforeNorm;  // ReLU-Dropout-BN
  return options.fuse_relu && options.norm.kind == NormKind::kCustom && options.activation == Activation::kRelu &&
         !dropout_between;
}

bool fuses_pool(const ModelOptions& options) {
  const bool norm_last = options.placement == Placement::kAfter || fuses_relu(options);
  return options.fuse_pool && options.arch == Arch::kCnn && options.norm.kind == NormKind::kCustom && norm_last;
}

namespace {

// Appends the activation with its normalisation layer before or after it,
// as the config's placement says ("before": Linear-BN-ReLU, "after":
// Linear-ReLU-BN), and dropout at the end of the block or, with
// dropout_placement "before-norm", right before the BatchNorm layer. Conv
// blocks pool before their dropout, so pooling goes here too: inside the
// norm layer when it sits right before the pool (fuses_pool).
void add_block(torch::nn::Sequential& net, const ModelOptions& options, int index, int64_t features, int spatial_dims) {
  const bool with_norm =
      options.norm.kind != NormKind::kNone && (spatial_dims > 0 || normalises_dense_layers(options.norm.kind));
  const bool with_dropout = options.dropout > 0;
  const bool dropout_first = with_dropout && with_norm && options.dropout_placement == DropoutPlacement::kBeforeNorm;
  const bool relu_in_norm = with_norm && fuses_relu(options);
  const bool pool_in_norm = with_norm && spatial_dims == 2 && fuses_pool(options);
  const FusedRelu fused_relu = !relu_in_norm                            ? FusedRelu::kNone
                               : options.placement == Placement::kAfter ? FusedRelu::kBeforeNorm
                                                                        : FusedRelu::kAfterNorm;
  auto add_norm = [&] {
    if (!with_norm) return;
    if (dropout_first) net->push_back(fmt::format("dropout{}", index), torch::nn::Dropout(options.dropout));
    net->push_back(fmt::format("norm{}", index),
                   make_norm(options.norm, features, spatial_dims, fused_relu, pool_in_norm));
  };
  if (options.placement == Placement::kBefore) add_norm();
  if (!relu_in_norm) net->push_back(fmt::format("act{}", index), make_activation(options.activation));
  if (options.placement == Placement::kAfter) add_norm();
  if (spatial_dims == 2 && !pool_in_norm) net->push_back(fmt::format("pool{}", index), pool::MaxPool2x2());
  if (with_dropout && !dropout_first)
    net->push_back(fmt::format("dropout{}", index), torch::nn::Dropout(options.dropout));
}

// Keras' default for Dense and Conv2D: glorot_uniform kernels, zero biases.
void glorot_init(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& child : module.modules(/*include_self=*/false)) {
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(child.get())) {
      torch::nn::init::xavier_uniform_(linear->weight);
      torch::nn::init::zeros_(linear->bias);
    } else if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(child.get())) {
      torch::nn::init::xavier_uniform_(conv->weight);
      torch::nn::init::zeros_(conv->bias);
    }
  }
}

}  // namespace

torch::nn::Sequential build_model(const ModelOptions& options) {
  torch::nn::Sequential net;
  int index = 0;
  int64_t features = kImageSide * kImageSide;

  if (options.arch == Arch::kCnn) {
    int64_t channels = 1, side = kImageSide;
    for (int64_t out_channels : options.conv_channels) {
      ++index;
      net->push_back(fmt::format("conv{}", index),
                     torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out_channels, 3)));
      add_block(net, options, index, out_channels, 2);
      channels = out_channels;
      side = (side - 2) / 2;
    }
    features = channels * side * side;
  }
  net->push_back("flatten", torch::nn::Flatten());
  for (int64_t width : options.hidden) {
    ++index;
    net->push_back(fmt::format("dense{}", index), torch::nn::Linear(features, width));
    add_block(net, options, index, width, 0);
    features = width;
  }
  net->push_back("logits", torch::nn::Linear(features, options.num_classes));

  if (options.init == Init::kGlorot) glorot_init(*net);
  return net;
}

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t total = 0;
  for (const auto& p : model.parameters())
    if (p.requires_grad()) total += p.numel();
  return total;
}

std::vector<std::string> model_summary(torch::nn::Sequential& model) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();  // one sample: BatchNorm must use its running statistics
  auto x = torch::zeros({1, 1, kImageSide, kImageSide});
  const auto children = model->named_children();
  std::vector<std::string> lines;
  size_t index = 0;
  for (auto& layer : *model) {  // AnyModules, in the order of named_children()
    x = layer.forward(x);
    const auto& child = children[index++];
    int64_t params = 0;
    for (const auto& p : child.value()->parameters()) params += p.numel();
    lines.push_back(fmt::format("{:<10} {:<24} {:<16} {:>8}", child.key(), child.value()->name(),
                                fmt::format("({})", fmt::join(x.sizes().slice(1), ", ")), params));
  }
  model->train(was_training);
  return lines;
}

std::vector<torch::Tensor> select_trainable(torch::nn::Module& model, ParamGroup group) {
  std::vector<torch::Tensor> trainable;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const bool in_bn = is_batch_norm(*item.value());
    const bool train = group == ParamGroup::kAll || (group == ParamGroup::kBn) == in_bn;
    for (auto& p : item.value()->parameters(/*recurse=*/false)) {
      p.set_requires_grad(train);
      if (train) trainable.push_back(p);
    }
  }
  return trainable;
}

std::vector<std::string> transfer_weights(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto source_params = from.named_parameters();
  auto source_buffers = from.named_buffers();
  std::vector<std::string> fresh;
  auto copy_matching = [&](const torch::OrderedDict<std::string, torch::Tensor>& source,
                           torch::OrderedDict<std::string, torch::Tensor> target) {
    for (auto& item : target) {
      const torch::Tensor* found = source.find(item.key());
      if (found && found->sizes() == item.value().sizes())
        item.value().copy_(*found);
      else
        fresh.push_back(item.key());
    }
  };
  copy_matching(source_params, to.named_parameters());
  copy_matching(source_buffers, to.named_buffers());
  return fresh;
}

}  // namespace bnlab::models
