#include "bench/bn_bench.h"

#include <torch/torch.h>

#include <functional>
#include <map>

#include "bn/batch_norm.h"

namespace bnlab::bench {
namespace {

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

struct Impl {
  std::string name;
  std::shared_ptr<torch::nn::Module> module;
  Forward forward;
};

std::vector<Impl> implementations(int64_t channels, bool spatial, bool relu) {
  std::vector<Impl> impls;
  auto then_relu = [relu](const torch::Tensor& y) { return relu ? torch::relu(y) : y; };
  if (spatial) {
    torch::nn::BatchNorm2d native(channels);
    impls.push_back(
        {"native", native.ptr(), [native, then_relu](const torch::Tensor& x) mutable { return then_relu(native(x)); }});
  } else {
    torch::nn::BatchNorm1d native(channels);
    impls.push_back(
        {"native", native.ptr(), [native, then_relu](const torch::Tensor& x) mutable { return then_relu(native(x)); }});
  }
  for (auto kernels : {bn::Kernels::kReference, bn::Kernels::kFused}) {
    bn::BatchNorm ours(bn::BatchNormOptions(channels).kernels(kernels).relu(relu));
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

}  // namespace

std::vector<std::vector<int64_t>> default_bn_shapes() {
  return {{32, 128}, {256, 128}, {4096, 512}, {32, 32, 26, 26}, {64, 16, 28, 28}, {256, 32, 26, 26}};
}

std::vector<BnBenchRow> bench_batch_norm(const BnBenchOptions& options) {
  const auto shapes = options.shapes.empty() ? default_bn_shapes() : options.shapes;
  std::vector<BnBenchRow> rows;
  for (const auto& shape : shapes) {
    torch::manual_seed(0);
    auto x = torch::randn(shape).requires_grad_(true);
    auto dy = torch::randn(shape);
    auto impls = implementations(shape[1], shape.size() == 4, options.relu);
    // Warm up, and size the repetitions to the time budget.
    double slowest = 0;
    for (auto& impl : impls)
      for (int i = 0; i < 3; ++i) slowest = std::max(slowest, step_ms(impl, x, dy));
    const int reps = std::clamp(static_cast<int>(1e3 * options.seconds_per_case / std::max(slowest, 1e-3)), 7, 2000);
    // Interleaved, so that drift in the machine's speed hits every
    // implementation alike, and in rotating order: each step finds the
    // caches as the step before it left them (the reference kernels' float64
    // temporaries, or another implementation's x and dy), so no
    // implementation may always follow the same one.
    std::map<std::string, std::vector<double>> samples;
    for (int r = 0; r < reps; ++r)
      for (size_t i = 0; i < impls.size(); ++i) {
        auto& impl = impls[(r + i) % impls.size()];
        samples[impl.name].push_back(step_ms(impl, x, dy));
      }
    const double bytes = 8.0 * double(x.numel()) * double(x.element_size());
    const double native_ms = summarize(samples["native"]).median;
    for (auto& impl : impls) {
      BnBenchRow row{shape, impl.name, summarize(samples[impl.name])};
      row.ratio_to_native = row.timing.median / native_ms;
      row.gbps = bytes / (row.timing.median * 1e-3) / 1e9;
      rows.push_back(row);
    }
  }
  return rows;
}

double copy_bandwidth_gbps() {
  auto source = torch::rand({64 << 20});  // 256 MiB: far beyond the caches
  auto target = torch::empty_like(source);
  std::vector<double> ms;
  for (int i = 0; i < 7; ++i) ms.push_back(time_ms([&] { target.copy_(source); }));
  const double bytes = 2.0 * double(source.numel()) * double(source.element_size());
  return bytes / (summarize(ms).median * 1e-3) / 1e9;
}

}  // namespace bnlab::bench
