#include "verify/harness.h"

#include <algorithm>
#include <limits>

namespace bnlab::verify::detail {
namespace {

using torch::Tensor;

const std::vector<std::string> kQuantities = {
    "y", "dx", "dweight", "dbias", "running_mean", "running_var", "num_batches_tracked"};

std::vector<Tensor StepOutputs::*> quantity_members() {
  return {&StepOutputs::y,
          &StepOutputs::dx,
          &StepOutputs::dweight,
          &StepOutputs::dbias,
          &StepOutputs::running_mean,
          &StepOutputs::running_var,
          &StepOutputs::num_batches_tracked};
}

template <typename NativeOptions>
NativeOptions native_options(const EquivalenceCase& c) {
  return NativeOptions(c.shape[1])
      .momentum(c.momentum ? c10::optional<double>(*c.momentum) : c10::nullopt)
      .affine(c.affine)
      .track_running_stats(c.track_running_stats);
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

StepOutputs Runner::step(const Tensor& x_base, bool non_contiguous, const Tensor& dy, bool train) {
  auto& module = *candidate_.module;
  module.train(train);
  auto leaf = x_base.detach().clone().requires_grad_(true);
  auto x = non_contiguous ? leaf.slice(-1, 0, c10::nullopt, 2) : leaf;
  auto y = candidate_.forward(x);

  std::vector<Tensor> inputs = {x};
  auto params = module.named_parameters(/*recurse=*/false);
  if (params.contains("weight")) inputs.push_back(params["weight"]);
  if (params.contains("bias")) inputs.push_back(params["bias"]);
  auto grads = torch::autograd::grad({y}, inputs, {dy});

  StepOutputs out;
  out.y = y.detach();
  out.dx = grads[0];
  if (grads.size() > 1) out.dweight = grads[1];
  if (grads.size() > 2) out.dbias = grads[2];
  auto buffers = module.named_buffers(/*recurse=*/false);
  if (buffers.contains("running_mean")) {
    out.running_mean = buffers["running_mean"].clone();
    out.running_var = buffers["running_var"].clone();
    out.num_batches_tracked = buffers["num_batches_tracked"].clone();
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

Runner make_native(const EquivalenceCase& c, torch::Dtype dtype, std::string& name) {
  const bool relu = c.relu;
  auto then_relu = [relu](const Tensor& y) { return relu ? torch::relu(y) : y; };
  if (c.shape.size() == 4) {
    name = relu ? "torch::nn::BatchNorm2d + torch::relu" : "torch::nn::BatchNorm2d";
    torch::nn::BatchNorm2d bn(native_options<torch::nn::BatchNormOptions>(c));
    bn->to(dtype);
    return Runner({bn.ptr(), [bn, then_relu](const Tensor& x) mutable { return then_relu(bn(x)); }});
  }
  name = relu ? "torch::nn::BatchNorm1d + torch::relu" : "torch::nn::BatchNorm1d";
  torch::nn::BatchNorm1d bn(native_options<torch::nn::BatchNormOptions>(c));
  bn->to(dtype);
  return Runner({bn.ptr(), [bn, then_relu](const Tensor& x) mutable { return then_relu(bn(x)); }});
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
    if (item.key() == "running_mean") t.copy_(0.2 * torch::randn(t.sizes(), gen, t.options()));
    if (item.key() == "running_var") t.copy_(0.5 + torch::rand(t.sizes(), gen, t.options()));
  }
}

Tensor make_input_base(const EquivalenceCase& c, at::Generator& gen) {
  auto shape = c.shape;
  if (c.non_contiguous) shape.back() *= 2;
  return c.offset + c.spread * torch::randn(shape, gen, torch::TensorOptions().dtype(c.dtype));
}

std::vector<QuantityError> fresh_quantities(const EquivalenceCase& c) {
  std::vector<QuantityError> quantities;
  for (const auto& name : kQuantities) {
    QuantityError q;
    q.name = name;
    q.tolerance = default_tolerance(c.dtype);
    quantities.push_back(q);
  }
  return quantities;
}

void accumulate(QuantityError& into, const Tensor& ours, const Tensor& reference) {
  if (!ours.defined() && !reference.defined()) return;
  if (ours.defined() != reference.defined()) {
    into.within_tolerance = false;
    into.max_abs = into.max_rel = std::numeric_limits<double>::infinity();
    return;
  }
  ++into.compared_steps;
  auto a = ours.to(torch::kFloat64), b = reference.to(torch::kFloat64);
  auto diff = (a - b).abs();
  into.max_abs = std::max(into.max_abs, diff.max().item<double>());
  into.max_rel = std::max(into.max_rel, (diff / b.abs().clamp_min(1e-30)).max().item<double>());
  const auto bound = into.tolerance.atol + into.tolerance.rtol * b.abs();
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
  }
}

}  // namespace bnlab::verify::detail
