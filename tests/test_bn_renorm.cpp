// Batch Renormalization (BatchNormOptions::renorm): the schedule of its
// bounds, equal to BatchNorm when rmax = 1 and dmax = 0, equal to the
// tensor-op reference (verify::renorm_cases, which the harness is seen to
// fail for BatchNorm and for unclipped renorm), finite differences, and the
// refusals.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "bn/batch_norm.h"
#include "bn/batch_norm_function.h"
#include "support/tensor_matchers.h"
#include "verify/equivalence.h"

using bnlab::bn::BatchNorm;
using bnlab::bn::BatchNormOptions;
using bnlab::bn::Kernels;
using bnlab::bn::RenormAverages;
using bnlab::bn::RenormOptions;
using bnlab::test::AllClose;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
namespace verify = bnlab::verify;

TEST_CASE("renorm's bounds follow the paper's schedule", "[bn][renorm]") {
  // Ioffe 2017: rmax = 1, dmax = 0 for 5000 steps, then relaxed to rmax = 3
  // by step 40k and dmax = 5 by step 25k. Linear in between; exact values,
  // so the only slack is double rounding.
  const auto paper = RenormOptions().rmax(3).dmax(5).warmup_steps(5000).rmax_steps(40000).dmax_steps(25000);
  const auto at = [&](int64_t step) { return bnlab::bn::renorm_bounds(paper, step); };
  for (const int64_t step : {0, 4999, 5000}) {
    CAPTURE(step);
    CHECK(at(step).rmax == 1);
    CHECK(at(step).rmin == 1);
    CHECK(at(step).dmax == 0);
  }
  CHECK_THAT(at(22500).rmax, WithinAbs(2.0, 1e-12));  // half-way from 5000 to 40000
  CHECK_THAT(at(22500).rmin, WithinAbs(0.5, 1e-12));  // 1 / rmax, following it
  CHECK_THAT(at(15000).dmax, WithinAbs(2.5, 1e-12));  // half-way from 5000 to 25000
  CHECK_THAT(at(25000).dmax, WithinAbs(5.0, 1e-12));
  CHECK_THAT(at(90000).rmax, WithinAbs(3.0, 1e-12));  // and stays
  CHECK_THAT(at(90000).rmin, WithinAbs(1.0 / 3, 1e-12));
  // An explicit rmin is relaxed from 1 on rmax's schedule.
  CHECK_THAT(bnlab::bn::renorm_bounds(RenormOptions(paper).rmin(0.5), 22500).rmin, WithinAbs(0.75, 1e-12));
  // No schedule: the bounds from the first step.
  const auto constant = bnlab::bn::renorm_bounds(RenormOptions().rmax(2).dmax(1), 0);
  CHECK(constant.rmax == 2);
  CHECK(constant.rmin == 0.5);
  CHECK(constant.dmax == 1);
}

TEST_CASE("renorm with rmax = 1 and dmax = 0 is bnlab's BatchNorm", "[bn][renorm]") {
  const auto kernels = GENERATE(Kernels::kFused, Kernels::kReference);
  const auto shape = GENERATE(std::vector<int64_t>{16, 6}, std::vector<int64_t>{4, 3, 5, 5});
  CAPTURE(to_string(kernels), shape);
  BatchNorm plain(BatchNormOptions(shape[1]).kernels(kernels));
  BatchNorm renorm(BatchNormOptions(shape[1]).kernels(kernels).renorm(RenormOptions().rmax(1).dmax(0)));
  plain->to(torch::kFloat64);
  renorm->to(torch::kFloat64);
  // float64, the same kernels; renorm takes the statistics and the
  // normalisation in two calls where BatchNorm takes one, so sums may be
  // ordered differently: ~1e-15 relative, far inside 1e-12.
  constexpr double kTol = 1e-12;
  for (int step = 0; step < 5; ++step) {
    CAPTURE(step);
    const auto x = torch::randn(shape, torch::kFloat64) * 2 + 0.5;
    const auto dy = torch::randn(shape, torch::kFloat64);
    auto xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
    auto ya = plain->forward(xa), yb = renorm->forward(xb);
    ya.backward(dy);
    yb.backward(dy);
    CHECK_THAT(yb, AllClose(ya, kTol, kTol));
    CHECK_THAT(xb.grad(), AllClose(xa.grad(), kTol, kTol));
    CHECK_THAT(renorm->weight.grad(), AllClose(plain->weight.grad(), kTol, kTol));
    CHECK_THAT(renorm->bias.grad(), AllClose(plain->bias.grad(), kTol, kTol));
    CHECK_THAT(renorm->running_mean, AllClose(plain->running_mean, kTol, kTol));
    CHECK_THAT(renorm->running_var, AllClose(plain->running_var, kTol, kTol));
  }
}

TEST_CASE("bnlab verify's renorm cases pass against the tensor-op reference", "[bn][renorm][verify]") {
  uint64_t seed = 21;
  for (const auto& c : verify::for_each_kernels(verify::renorm_cases(), {Kernels::kReference, Kernels::kFused})) {
    const auto report = verify::compare_with_native(c, seed++);
    INFO(c.describe() << " vs " << report.reference << "\n" << report.failure_summary());
    CHECK(report.pass());
  }
}

TEST_CASE("the renorm oracle fails BatchNorm, and renorm that does not clip", "[bn][renorm][verify]") {
  // The first row clips some channels (rmax 1.1, dmax 0.1), the second none
  // (rmax 3, dmax 5): plain BatchNorm must fail both (r != 1, d != 0), and
  // renorm with bounds that never bind must fail the first (clipping is
  // exercised). Float64 training cases.
  auto cases = verify::renorm_cases(torch::kFloat64);
  const auto tight = cases[0], loose = cases[1];
  REQUIRE((tight.training && tight.renorm->rmax() == 1.1 && loose.renorm->rmax() == 3));
  const auto with = [](std::optional<RenormOptions> renorm) {
    return [renorm](const verify::EquivalenceCase& c) {
      auto changed = c;
      changed.renorm = renorm;
      return verify::bnlab_batch_norm(changed);
    };
  };
  for (const auto& c : {tight, loose}) {
    CAPTURE(c.describe());
    const auto report = verify::compare_with_native(c, 5, with(std::nullopt));
    CHECK_FALSE(report.find("y")->pass);
    CHECK_FALSE(report.find("dweight")->pass);
  }
  const auto unclipped = verify::compare_with_native(tight, 5, with(RenormOptions().rmax(100).dmax(100)));
  CHECK_FALSE(unclipped.find("y")->pass);
}

namespace {

// sum(y * dy) for the renormalising Function on x, gamma, beta, from fresh
// copies of the running statistics (the forward updates them).
double renorm_loss(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                   const torch::Tensor& dy, const bnlab::bn::RenormInput& renorm, Kernels kernels) {
  auto running_mean = torch::zeros({x.size(1)}, torch::kFloat64);
  auto running_var = torch::ones({x.size(1)}, torch::kFloat64);
  const auto y = bnlab::bn::batch_norm(x, weight, bias, running_mean, running_var, true, 0.1, 1e-5, kernels, false,
                                       nullptr, &renorm);
  return (y * dy).sum().item<double>();
}

}  // namespace

TEST_CASE("renorm's analytic gradients match finite differences where r and d are clipped", "[bn][renorm]") {
  // r and d are constants of backward by definition; the loss as a function
  // of x equals that only where they sit at their bounds, which holds in a
  // neighbourhood when every channel clips: inputs of std ~3 and mean ~2
  // against running statistics (0, 1) give r ~ 3 > rmax = 1.2 and d ~ 2 > dmax = 0.5.
  const auto kernels = GENERATE(Kernels::kFused, Kernels::kReference);
  CAPTURE(to_string(kernels));
  const auto x = (torch::randn({12, 3, 2, 2}, torch::kFloat64) * 3 + 2).requires_grad_();
  const auto weight = (torch::rand({3}, torch::kFloat64) + 0.5).requires_grad_();
  const auto bias = torch::randn({3}, torch::kFloat64).requires_grad_();
  const auto dy = torch::randn(x.sizes(), torch::kFloat64);
  bnlab::bn::RenormInput renorm;
  renorm.bounds = {1.2, 0.8, 0.5};
  auto running_mean = torch::zeros({3}, torch::kFloat64), running_var = torch::ones({3}, torch::kFloat64);
  bnlab::bn::batch_norm(x, weight, bias, running_mean, running_var, true, 0.1, 1e-5, kernels, false, nullptr, &renorm)
      .backward(dy);
  // Central differences with h = 1e-6 in float64: truncation O(h^2) on a
  // smooth function plus rounding ~1e-16 / h; 1e-6 absolute is ample and
  // still catches a missing term (O(1e-2) or more here).
  constexpr double h = 1e-6, kTol = 1e-6;
  for (auto* tensor : {&x, &weight, &bias}) {
    const auto flat_grad = tensor->grad().view(-1);
    for (int64_t i = 0; i < tensor->numel(); i += std::max<int64_t>(1, tensor->numel() / 7)) {
      auto plus = tensor->detach().clone(), minus = tensor->detach().clone();
      plus.view(-1)[i] += h;
      minus.view(-1)[i] -= h;
      const auto at = [&](const torch::Tensor& changed) {
        return renorm_loss(tensor == &x ? changed : x.detach(), tensor == &weight ? changed : weight.detach(),
                           tensor == &bias ? changed : bias.detach(), dy, renorm, kernels);
      };
      const double numeric = (at(plus) - at(minus)) / (2 * h);
      CAPTURE(i, tensor->numel());
      CHECK_THAT(flat_grad[i].item<double>(), WithinAbs(numeric, kTol));
    }
  }
}

TEST_CASE("renorm with separate averages keeps Keras' renorm_mean and renorm_std", "[bn][renorm]") {
  BatchNorm bn(BatchNormOptions(2).renorm(RenormOptions().averages(RenormAverages::kSeparate).momentum(0.5)));
  const auto buffers = bn->named_buffers();
  REQUIRE(buffers.contains("renorm_mean"));
  REQUIRE(buffers.contains("renorm_std"));
  CHECK(torch::equal(bn->renorm_std, torch::ones({2})));
  const auto x = torch::tensor({{1.0f, 2.0f}, {3.0f, 6.0f}});  // means 2, 4; biased variances 1, 4
  bn->forward(x);
  // a = 0.5 * a + 0.5 * batch value; sigma_B = sqrt(var + 1e-5): float32
  // arithmetic on O(1) values, 1e-6 covers its rounding.
  CHECK_THAT(bn->renorm_mean, AllClose(torch::tensor({1.0f, 2.0f}), 1e-6, 1e-6));
  CHECK_THAT(
      bn->renorm_std,
      AllClose(torch::tensor({0.5f + 0.5f * std::sqrt(1 + 1e-5f), 0.5f + std::sqrt(4 + 1e-5f) / 2}), 1e-6, 1e-6));
  // Inference averages (the default) add no buffers: state loads into native BatchNorm.
  CHECK_FALSE(BatchNorm(BatchNormOptions(2).renorm(RenormOptions()))->named_buffers().contains("renorm_mean"));
}

TEST_CASE("renorm options are checked with the values seen", "[bn][renorm]") {
  const auto refused = [](BatchNormOptions options, const std::string& message) {
    CAPTURE(message);
    REQUIRE_THROWS_WITH(BatchNorm(options), Contains(message));
  };
  refused(BatchNormOptions(3).renorm(RenormOptions().rmax(0.5)), "renorm rmax must be at least 1, got 0.5");
  refused(BatchNormOptions(3).renorm(RenormOptions().rmin(1.5)), "renorm rmin must be in (0, 1], got 1.5");
  refused(BatchNormOptions(3).renorm(RenormOptions().dmax(-1)), "renorm dmax must be at least 0, got -1");
  refused(BatchNormOptions(3).renorm(RenormOptions().momentum(0)), "renorm momentum must be in (0, 1], got 0");
  refused(BatchNormOptions(3).renorm(RenormOptions().warmup_steps(-1)), "schedule steps must be at least 0");
  refused(BatchNormOptions(3).track_running_stats(false).renorm(RenormOptions()), "renorm needs track_running_stats");
  refused(BatchNormOptions(3).virtual_batch_size(8).renorm(RenormOptions()), "renorm with virtual batches");
  std::ostringstream printed;
  printed << *BatchNorm(BatchNormOptions(3).renorm(RenormOptions().rmax(2)));
  CHECK_THAT(printed.str(), Contains("renorm(rmax=2, rmin=0.5, dmax=5, averages=inference)"));
}
