#include "bench/bn_bench.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "bn/batch_norm.h"
#include "gn/group_norm.h"
#include "models/norm.h"

namespace bnlab::bench {
namespace {

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

struct Impl {
  std::string name;
  std::shared_ptr<torch::nn::Module> module;
  Forward forward;
};

template <typename Module>
Impl impl_of(std::string name, Module module) {
  return {std::move(name), module.ptr(), [module](const torch::Tensor& x) mutable { return module(x); }};
}

// The group norms: native, then ours with each kernel set.
std::vector<Impl> group_implementations(BenchNorm norm, int64_t channels, bool spatial) {
  // The groups a model's layer of this shape gets (gn.groups = 0: auto).
  models::NormOptions layer;
  layer.kind = norm == BenchNorm::kLayer      ? models::NormKind::kLayer
               : norm == BenchNorm::kInstance ? models::NormKind::kInstance
                                              : models::NormKind::kGroup;
  const int64_t groups = models::groups_for_layer(layer, channels, !spatial);
  std::vector<Impl> impls;
  if (norm == BenchNorm::kGroup) impls.push_back(impl_of("native", torch::nn::GroupNorm(groups, channels)));
  if (norm == BenchNorm::kLayer) impls.push_back(impl_of("native", gn::NativeLayerNorm(channels)));
  if (norm == BenchNorm::kInstance)
    impls.push_back(
        impl_of("native", torch::nn::InstanceNorm2d(torch::nn::InstanceNormOptions(channels).affine(true))));
  for (auto kernels : {bn::Kernels::kReference, bn::Kernels::kFused})
    impls.push_back(
        impl_of(bn::to_string(kernels), gn::GroupNorm(gn::GroupNormOptions(groups, channels).kernels(kernels))));
  return impls;
}

std::vector<Impl> implementations(int64_t channels, bool spatial, bool relu, bool relu_before) {
  std::vector<Impl> impls;
  auto relu_if = [](bool on) { return [on](const torch::Tensor& t) { return on ? torch::relu(t) : t; }; };
  auto before = relu_if(relu_before), after = relu_if(relu);
  if (spatial) {
    torch::nn::BatchNorm2d native(channels);
    impls.push_back({"native", native.ptr(),
                     [native, before, after](const torch::Tensor& x) mutable { return after(native(before(x))); }});
  } else {
    torch::nn::BatchNorm1d native(channels);
    impls.push_back({"native", native.ptr(),
                     [native, before, after](const torch::Tensor& x) mutable { return after(native(before(x))); }});
  }
  for (auto kernels : {bn::Kernels::kReference, bn::Kernels::kFused}) {
    bn::BatchNorm ours(bn::BatchNormOptions(channels).kernels(kernels).relu(relu).relu_input(relu_before));
    impls.push_back({bn::to_string(kernels), ours.ptr(), [ours](const torch::Tensor& x) mutable { return ours(x); }});
  }
  return impls;
}

// Forward in training mode, then the gradients of x, gamma and beta.
double step_ms(Impl& impl, const torch::Tensor& x, const torch::Tensor& dy) {
  auto params = impl.module->parameters();
  return time_ms([&] {
    auto y = impl.forward(x);
    torch::autograd::grad({y}, {x, params[0], params[1]}, {dy});
  });
}

// Warms each implementation up (at least 3 steps and a tenth of the budget,
// at most 200 steps: the first steps are several times slower) and returns
// its fastest warm-up step, ms (a noisy machine only ever makes a step slower).
std::vector<double> warm_up(std::vector<Impl>& impls, const torch::Tensor& x, const torch::Tensor& dy,
                            double seconds_per_case) {
  std::vector<double> fastest_ms(impls.size(), std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < impls.size(); ++i) {
    double spent_ms = 0;
    for (int k = 0; k < 200 && (k < 3 || spent_ms < 100 * seconds_per_case); ++k) {
      const double ms = step_ms(impls[i], x, dy);
      spent_ms += ms;
      fastest_ms[i] = std::min(fastest_ms[i], ms);
    }
  }
  return fastest_ms;
}

// Steps per round for each implementation: about as long as the slowest
// takes for one step (at most 64 steps), so the fast ones are not held to the
// few rounds the reference kernels leave time for on large shapes (7 samples
// on (4096,512) otherwise); but none gets more steps than the second-most,
// or the fastest would end each round following itself, finding the caches
// as it likes them best.
std::vector<int> steps_per_round(const std::vector<double>& warm_ms) {
  const double slowest = *std::max_element(warm_ms.begin(), warm_ms.end());
  std::vector<int> steps(warm_ms.size());
  for (size_t i = 0; i < warm_ms.size(); ++i)
    steps[i] = std::clamp(static_cast<int>(slowest / std::max(warm_ms[i], 1e-6)), 1, 64);
  auto by_count = steps;
  std::sort(by_count.rbegin(), by_count.rend());
  const int cap = by_count[std::min<size_t>(1, by_count.size() - 1)];
  for (int& n : steps) n = std::min(n, cap);
  return steps;
}

// Step times by implementation name. Interleaved, so that drift in the
// machine's speed hits every implementation alike: within a round, steps
// alternate between the implementations with steps left, in an order that
// rotates each round. Each step finds the caches as the step before it left
// them (the reference kernels' float64 temporaries, or another
// implementation's x and dy), so no implementation may always follow the same one.
std::map<std::string, std::vector<double>> interleaved_samples(std::vector<Impl>& impls, const torch::Tensor& x,
                                                               const torch::Tensor& dy,
                                                               const std::vector<int>& steps, int rounds) {
  std::map<std::string, std::vector<double>> samples;
  for (int r = 0; r < rounds; ++r) {
    auto left = steps;
    for (bool stepped = true; stepped;) {
      stepped = false;
      for (size_t k = 0; k < impls.size(); ++k) {
        const size_t i = (r + k) % impls.size();
        if (left[i] == 0) continue;
        --left[i];
        samples[impls[i].name].push_back(step_ms(impls[i], x, dy));
        stepped = true;
      }
    }
  }
  return samples;
}

}  // namespace

const EnumNames<BenchNorm>& enum_names(BenchNorm) {
  static const EnumNames<BenchNorm> names = {{BenchNorm::kBatch, "batch"},
                                             {BenchNorm::kGroup, "group"},
                                             {BenchNorm::kLayer, "layer"},
                                             {BenchNorm::kInstance, "instance"}};
  return names;
}

std::string display_name(BenchNorm norm) {
  switch (norm) {
    case BenchNorm::kBatch:
      return "BatchNorm";
    case BenchNorm::kGroup:
      return "GroupNorm";
    case BenchNorm::kLayer:
      return "LayerNorm";
    case BenchNorm::kInstance:
      return "InstanceNorm";
  }
  return "?";
}

std::vector<std::vector<int64_t>> default_bn_shapes() {
  return {{32, 128}, {256, 128}, {4096, 512}, {32, 32, 26, 26}, {64, 16, 28, 28}, {256, 32, 26, 26}};
}

namespace {

// One shape in one layout: x and dy of that layout, every implementation
// timed in turns.
std::vector<BnBenchRow> bench_case(const BnBenchOptions& options, const std::vector<int64_t>& shape,
                                   bool channels_last) {
  torch::manual_seed(0);
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  auto x = torch::randn(shape).contiguous(format).requires_grad_(true);
  auto dy = torch::randn(shape).contiguous(format);
  auto impls = options.norm == BenchNorm::kBatch
                   ? implementations(shape[1], shape.size() == 4, options.relu, options.relu_before)
                   : group_implementations(options.norm, shape[1], shape.size() == 4);
  const auto warm_ms = warm_up(impls, x, dy, options.seconds_per_case);
  const double slowest = std::max(*std::max_element(warm_ms.begin(), warm_ms.end()), 1e-3);
  const int rounds = std::clamp(static_cast<int>(1e3 * options.seconds_per_case / slowest), 7, 2000);
  auto samples = interleaved_samples(impls, x, dy, steps_per_round(warm_ms), rounds);
  const double bytes = 8.0 * double(x.numel()) * double(x.element_size());
  const double native_ms = summarize(samples["native"]).median;
  std::vector<BnBenchRow> rows;
  for (auto& impl : impls) {
    BnBenchRow row{shape, channels_last ? "channels_last" : "contiguous", impl.name, summarize(samples[impl.name])};
    row.ratio_to_native = row.timing.median / native_ms;
    row.gbps = bytes / (row.timing.median * 1e-3) / 1e9;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

std::vector<BnBenchRow> bench_batch_norm(const BnBenchOptions& options) {
  std::vector<std::pair<std::vector<int64_t>, bool>> cases;  // shape, channels-last
  for (const auto& shape : options.shapes.empty() ? default_bn_shapes() : options.shapes) {
    if (options.norm == BenchNorm::kInstance && shape.size() != 4) continue;  // one value per channel: nothing to time
    cases.emplace_back(shape, false);
  }
  if (options.norm == BenchNorm::kBatch && options.channels_last)
    for (size_t i = 0, n = cases.size(); i < n; ++i)
      if (cases[i].first.size() == 4) cases.emplace_back(cases[i].first, true);
  std::vector<BnBenchRow> rows;
  for (size_t index = 0; index < cases.size(); ++index) {
    const auto& [shape, channels_last] = cases[index];
    if (options.on_case)
      options.on_case(index, cases.size(),
                      fmt::format("({}){}", fmt::join(shape, ","), channels_last ? " channels-last" : ""));
    for (auto& row : bench_case(options, shape, channels_last)) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace bnlab::bench
