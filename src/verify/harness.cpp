#include "verify/harness.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "gn/group_norm.h"
#include "verify/renorm_reference.h"

namespace bnlab::verify::detail {
namespace {

using torch::Tensor;

const std::vector<std::string> kQuantities = {
    "y",           "dx",         "dweight",        "dbias", "running_mean", "running_var", "num_batches_tracked",
    "renorm_mean", "renorm_std", "y_channels_last"};

std::vector<Tensor StepOutputs::*> quantity_members() {
  return {&StepOutputs::y,
          &StepOutputs::dx,
          &StepOutputs::dweight,
          &StepOutputs::dbias,
          &StepOutputs::running_mean,
          &StepOutputs::running_var,
          &StepOutputs::num_batches_tracked,
          &StepOutputs::renorm_mean,
          &StepOutputs::renorm_std,
          &StepOutputs::y_channels_last};
}

template <typename NativeOptions>
NativeOptions native_options(const EquivalenceCase& c) {
  return NativeOptions(c.shape[1])
      .momentum(c.momentum ? c10::optional<double>(*c.momentum) : c10::nullopt)
      .affine(c.affine)
      .track_running_stats(c.track_running_stats);
}

// |a - b| in float64: 0 where both hold the same non-finite value (NaN and
// NaN, or the same infinity), +inf where only one of them is finite.
Tensor difference(const Tensor& ours, const Tensor& reference) {
  const auto a = ours.to(torch::kFloat64), b = reference.to(torch::kFloat64);
  const auto same = (a.isnan() & b.isnan()) | (a == b);
  const auto finite = a.isfinite() & b.isfinite();
  const auto inf = std::numeric_limits<double>::infinity();
  return torch::where(same, torch::zeros_like(a), torch::where(finite, (a - b).abs(), torch::full_like(a, inf)));
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  return a.numel() == 0 ? 0.0 : difference(a, b).max().item<double>();
}

}  // namespace

StepOutputs Runner::step(const Tensor& x_base, bool non_contiguous, const Tensor& dy, bool train, bool channels_last) {
  auto& module = *candidate_.module;
  module.train(train);
  auto leaf = x_base.detach().clone();
  if (channels_last) leaf = leaf.contiguous(at::MemoryFormat::ChannelsLast);
  leaf.requires_grad_(true);
  auto x = non_contiguous ? leaf.slice(-1, 0, c10::nullopt, 2) : leaf;
  auto y = candidate_.forward(x);

  std::vector<Tensor> inputs = {x};
  auto params = module.named_parameters(/*recurse=*/false);
  if (params.contains("weight")) inputs.push_back(params["weight"]);
  if (params.contains("bias")) inputs.push_back(params["bias"]);
  auto grads = torch::autograd::grad({y}, inputs, {dy});

  StepOutputs out;
  out.y = y.detach();
  out.y_channels_last =
      torch::tensor(y.dim() == 4 && !y.is_contiguous() && y.is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0);
  out.dx = grads[0];
  if (grads.size() > 1) out.dweight = grads[1];
  if (grads.size() > 2) out.dbias = grads[2];
  auto buffers = module.named_buffers(/*recurse=*/false);
  if (buffers.contains("running_mean")) {
    out.running_mean = buffers["running_mean"].clone();
    out.running_var = buffers["running_var"].clone();
    out.num_batches_tracked = buffers["num_batches_tracked"].clone();
  }
  if (buffers.contains("renorm_mean")) {
    out.renorm_mean = buffers["renorm_mean"].clone();
    out.renorm_std = buffers["renorm_std"].clone();
  }
  return out;
}

void Runner::copy_state_from(torch::nn::Module& source) {
  torch::NoGradGuard no_grad;
  auto params = candidate_.module->named_parameters(false);
  for (const auto& item : source.named_parameters(false)) params[item.key()].copy_(item.value());
  auto buffers = candidate_.module->named_buffers(false);
  for (const auto& item : source.named_buffers(false)) buffers[item.key()].copy_(item.value());
}

namespace {

// native(x), or with virtual batches in training: native applied to each
// virtual batch of x in turn, the outputs concatenated (Ghost BatchNorm's
// definition; batches of at most V samples are one virtual batch).
template <typename Native>
Tensor native_forward(Native& bn, const Tensor& x, int64_t virtual_batch) {
  if (virtual_batch == 0 || !bn->is_training() || x.size(0) <= virtual_batch || x.numel() == 0) return bn(x);
  std::vector<Tensor> outputs;
  for (const auto& chunk : x.split(virtual_batch, 0)) outputs.push_back(bn(chunk));
  return torch::cat(outputs, 0);
}

template <typename Native>
Runner native_runner(Native bn, const EquivalenceCase& c, torch::Dtype dtype) {
  bn->to(dtype);
  const bool relu = c.relu, relu_input = c.relu_input, max_pool = c.max_pool;
  const int64_t virtual_batch = c.virtual_batch_size;
  return Runner({bn.ptr(), [bn, relu, relu_input, max_pool, virtual_batch](const Tensor& x) mutable {
                   auto y = native_forward(bn, relu_input ? torch::relu(x) : x, virtual_batch);
                   if (relu) y = torch::relu(y);
                   return max_pool ? torch::max_pool2d(y, {2, 2}) : y;
                 }});
}

}  // namespace

// The group family's native module.
Runner make_native_group_family(const EquivalenceCase& c, torch::Dtype dtype, std::string& name) {
  const int64_t C = c.shape[1];
  const auto plain = [](auto module, torch::Dtype type) {
    module->to(type);
    return Runner({module.ptr(), [module](const Tensor& x) mutable { return module(x); }});
  };
  switch (c.family) {
    case NormFamily::kGroup:
      name = fmt::format("torch::nn::GroupNorm({}, {})", c.groups, C);
      return plain(torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.groups, C).affine(c.affine)), dtype);
    case NormFamily::kLayer:
      name = "at::layer_norm over (C, *), per-channel affine (torch::nn::LayerNorm for (N, C))";
      return plain(gn::NativeLayerNorm(C, 1e-5, c.affine), dtype);
    case NormFamily::kInstance:
      TORCH_CHECK(c.shape.size() >= 3, "instance norm cases need (N, C, *) inputs, got ", c.describe());
      name = c.shape.size() == 4 ? "torch::nn::InstanceNorm2d" : "torch::nn::InstanceNorm1d";
      if (c.shape.size() == 4)
        return plain(torch::nn::InstanceNorm2d(torch::nn::InstanceNormOptions(C).affine(c.affine)), dtype);
      return plain(torch::nn::InstanceNorm1d(torch::nn::InstanceNormOptions(C).affine(c.affine)), dtype);
    case NormFamily::kBatch:
      break;
  }
  throw std::logic_error("make_native_group_family: a BatchNorm case");
}

Runner make_native(const EquivalenceCase& c, torch::Dtype dtype, std::string& name) {
  if (c.family != NormFamily::kBatch) return make_native_group_family(c, dtype, name);
  if (c.renorm && !c.renorm_is_identity()) {
    name = fmt::format("{}renorm reference (tensor ops + autograd, r and d detached){}{}",
                       c.relu_input ? "torch::relu + " : "", c.relu ? " + torch::relu" : "",
                       c.max_pool ? " + torch::max_pool2d(2)" : "");
    const c10::optional<double> momentum = c.momentum ? c10::optional<double>(*c.momentum) : c10::nullopt;
    return native_runner(RenormReference(RenormReferenceOptions{c.shape[1], 1e-5, momentum, c.affine, *c.renorm}), c,
                         dtype);
  }
  const char* ghost = c.virtual_batch_size ? " per virtual batch" : "";
  const std::string relu =
      fmt::format("{}{}", c.relu ? " + torch::relu" : "", c.max_pool ? " + torch::max_pool2d(2)" : "");
  const char* relu_input = c.relu_input ? "torch::relu + " : "";
  if (c.shape.size() == 4) {
    name = fmt::format("{}torch::nn::BatchNorm2d{}{}", relu_input, ghost, relu);
    return native_runner(torch::nn::BatchNorm2d(native_options<torch::nn::BatchNormOptions>(c)), c, dtype);
  }
  name = fmt::format("{}torch::nn::BatchNorm1d{}{}", relu_input, ghost, relu);
  return native_runner(torch::nn::BatchNorm1d(native_options<torch::nn::BatchNormOptions>(c)), c, dtype);
}

void randomize_state(torch::nn::Module& module, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(false)) {
    auto& t = item.value();
    t.copy_(item.key() == "weight" ? 1 + 0.5 * torch::randn(t.sizes(), gen, t.options())
                                   : 0.5 * torch::randn(t.sizes(), gen, t.options()));
  }
  for (auto& item : module.named_buffers(false)) {
    auto& t = item.value();
    if (item.key() == "running_mean" || item.key() == "renorm_mean")
      t.copy_(0.2 * torch::randn(t.sizes(), gen, t.options()));
    if (item.key() == "running_var" || item.key() == "renorm_std")
      t.copy_(0.5 + torch::rand(t.sizes(), gen, t.options()));
  }
}

namespace {

// Per channel, by channel index mod 4 (F = the float maximum, z ~ N(0,1)):
// 0.5 F + 0.4 F tanh(z) (all near F, one sign), 0.9 F tanh(z) (both signs:
// x - mean overflows float), 1e30 z, and 1e-30 z (the variance underflows
// float). The same values in float64 cases.
Tensor extreme_values(const std::vector<int64_t>& shape, at::Generator& gen, torch::Dtype dtype) {
  const double F = std::numeric_limits<float>::max();
  auto z = torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat64));
  std::vector<int64_t> per_channel(shape.size(), 1);
  per_channel[1] = shape[1];
  auto t = torch::tanh(z);
  auto pick = torch::arange(shape[1]).remainder(4).view(per_channel);
  auto values = torch::where(pick == 0, 0.5 * F + 0.4 * F * t,
                             torch::where(pick == 1, 0.9 * F * t, torch::where(pick == 2, 1e30 * z, 1e-30 * z)));
  return values.to(dtype);
}

void set_first_value(Tensor& x, int64_t channel, double value) {
  if (x.numel() == 0 || channel >= x.size(1)) return;
  std::vector<at::indexing::TensorIndex> where = {0, channel};
  for (int64_t d = 2; d < x.dim(); ++d) where.emplace_back(0);
  x.index_put_(where, value);
}

}  // namespace

Tensor make_input_base(const EquivalenceCase& c, at::Generator& gen) {
  auto shape = c.shape;
  if (c.non_contiguous) shape.back() *= 2;
  if (c.input == InputKind::kExtreme) return extreme_values(shape, gen, c.dtype);
  auto x = c.offset + c.spread * torch::randn(shape, gen, torch::TensorOptions().dtype(c.dtype));
  if (c.input == InputKind::kNonFinite) {
    set_first_value(x, 0, std::numeric_limits<double>::quiet_NaN());
    set_first_value(x, 1, std::numeric_limits<double>::infinity());
  }
  return x;
}

std::vector<QuantityError> fresh_quantities(const EquivalenceCase& c) {
  std::vector<QuantityError> quantities;
  for (const auto& name : kQuantities) {
    QuantityError q;
    q.name = name;
    const bool sum = name == "dweight" || name == "dbias";
    q.tolerance = sum && c.sum_tolerance ? *c.sum_tolerance : default_tolerance(c.dtype);
    quantities.push_back(q);
  }
  return quantities;
}

void accumulate(QuantityError& into, const Tensor& ours, const Tensor& reference) {
  if (!ours.defined() && !reference.defined()) return;
  if (ours.defined() != reference.defined() || ours.sizes() != reference.sizes()) {
    into.within_tolerance = false;
    into.max_abs = into.max_rel = std::numeric_limits<double>::infinity();
    return;
  }
  ++into.compared_steps;
  if (ours.numel() == 0) return;  // an empty batch: the shapes are the comparison
  const auto diff = difference(ours, reference);
  const auto magnitude = reference.to(torch::kFloat64).abs().nan_to_num(0, 0, 0);
  into.max_abs = std::max(into.max_abs, diff.max().item<double>());
  into.max_rel = std::max(into.max_rel, (diff / magnitude.clamp_min(1e-30)).max().item<double>());
  const auto bound = into.tolerance.atol + into.tolerance.rtol * magnitude;
  into.within_tolerance = into.within_tolerance && (diff <= bound).all().item<bool>();
}

void fold_steps(std::vector<QuantityError>& into, const StepOutputs& ours, const StepOutputs& reference) {
  const auto members = quantity_members();
  for (size_t q = 0; q < members.size(); ++q) accumulate(into[q], ours.*members[q], reference.*members[q]);
}

void fold_truth(std::vector<QuantityError>& into, const StepOutputs& ours, const StepOutputs& native,
                const StepOutputs& truth) {
  const auto members = quantity_members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Tensor &a = ours.*members[i], &b = native.*members[i], &t = truth.*members[i];
    if (!a.defined() || !b.defined() || !t.defined()) continue;
    auto& q = into[i];
    q.ours_vs_float64 = std::max(q.ours_vs_float64.value_or(0), max_abs_difference(a, t));
    q.native_vs_float64 = std::max(q.native_vs_float64.value_or(0), max_abs_difference(b, t));
    if (a.numel() == 0) continue;
    const auto slack = q.tolerance.atol + q.tolerance.rtol * t.abs().nan_to_num(0, 0, 0);
    q.as_close_to_truth = q.as_close_to_truth && (difference(a, t) <= difference(b, t) + slack).all().item<bool>();
  }
}

}  // namespace bnlab::verify::detail
