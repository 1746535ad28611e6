#include "verify/equivalence.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "bn/batch_norm.h"
#include "gn/group_norm.h"
#include "verify/harness.h"

namespace bnlab::verify {

using namespace detail;

Tolerance default_tolerance(torch::Dtype dtype) {
  // float32: values are O(1) after normalisation and both sides reduce over
  // at most a few thousand values per channel in different orders, so
  // differences of a few dozen ulps (eps = 1.2e-7) are expected; 1e-5 is
  // ~80 ulps relative, plus the same absolute slack for entries near zero.
  // float64: the same argument with eps = 2.2e-16 leaves ample room at 1e-10.
  return dtype == torch::kFloat64 ? Tolerance{1e-10, 1e-10} : Tolerance{1e-5, 1e-5};
}

bool CaseReport::pass() const {
  for (const auto& q : quantities)
    if (!q.pass) return false;
  return true;
}

const QuantityError* CaseReport::find(const std::string& name) const {
  for (const auto& q : quantities)
    if (q.name == name) return &q;
  return nullptr;
}

std::string CaseReport::failure_summary() const {
  std::string text;
  for (const auto& q : quantities)
    if (!q.pass)
      text +=
          fmt::format("{} {}: max abs {:.3g}, max rel {:.3g} (atol {:.1g}, rtol {:.1g}) vs {}{}\n",
                      test_case.describe(), q.name, q.max_abs, q.max_rel, q.tolerance.atol, q.tolerance.rtol, reference,
                      q.ours_vs_float64 ? fmt::format("; distance to float64 truth: ours {:.3g}, native {:.3g}",
                                                      *q.ours_vs_float64, *q.native_vs_float64)
                                        : "");
  return text;
}

Candidate bnlab_batch_norm(const EquivalenceCase& c, std::shared_ptr<const parallel::Group> sync_group) {
  bn::BatchNorm layer(bn::BatchNormOptions(c.shape[1])
                          .momentum(c.momentum ? c10::optional<double>(*c.momentum) : c10::nullopt)
                          .affine(c.affine)
                          .track_running_stats(c.track_running_stats)
                          .kernels(c.kernels)
                          .sync_group(std::move(sync_group))
                          .relu(c.relu)
                          .relu_input(c.relu_input)
                          .max_pool_2x2(c.max_pool)
                          .virtual_batch_size(c.virtual_batch_size)
                          .renorm(c.renorm ? c10::optional<bn::RenormOptions>(*c.renorm) : c10::nullopt));
  layer->to(c.dtype);
  return {layer.ptr(), [layer](const torch::Tensor& x) mutable { return layer(x); }};
}

Candidate bnlab_norm(const EquivalenceCase& c) {
  if (c.family == NormFamily::kBatch) return bnlab_batch_norm(c);
  const int64_t C = c.shape[1];
  const int64_t groups = c.family == NormFamily::kGroup ? c.groups : c.family == NormFamily::kLayer ? 1 : C;
  gn::GroupNorm layer(gn::GroupNormOptions(groups, C).affine(c.affine).kernels(c.kernels));
  layer->to(c.dtype);
  return {layer.ptr(), [layer](const torch::Tensor& x) mutable { return layer(x); }};
}

CaseReport compare_with_native(const EquivalenceCase& c, uint64_t seed, const CandidateFactory& candidate) {
  TORCH_CHECK(c.shape.size() >= 2 && c.shape.size() <= 4, "equivalence case: bad shape");
  std::optional<ScopedIsa> copy;  // the fused kernels' copy the case names, for the whole comparison
  if (c.isa) copy.emplace(*c.isa);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);

  CaseReport report{c, "", {}};
  Runner native = make_native(c, c.dtype, report.reference);
  randomize_state(native.module(), gen);
  Runner ours(candidate ? candidate(c) : bnlab_norm(c));
  ours.copy_state_from(native.module());
  std::optional<Runner> truth;  // float32 cases: native BN in float64, same inputs and state
  if (c.dtype == torch::kFloat32) {
    std::string ignored;
    truth.emplace(make_native(c, torch::kFloat64, ignored));
    truth->copy_state_from(native.module());
  }

  report.quantities = fresh_quantities(c);

  const int total_steps = c.steps + (c.training ? 0 : 1);  // eval: train `steps`, then one eval step
  for (int step = 0; step < total_steps; ++step) {
    const bool train = c.training || step < c.steps;
    auto x_base = make_input_base(c, gen);
    auto dy = torch::randn(c.output_shape(), gen, torch::TensorOptions().dtype(c.dtype));
    StepOutputs from_native = native.step(x_base, c.non_contiguous, dy, train, c.channels_last);
    StepOutputs from_ours = ours.step(x_base, c.non_contiguous, dy, train, c.channels_last);
    if (c.family == NormFamily::kLayer || c.family == NormFamily::kInstance) {
      // Native layer_norm and InstanceNorm return channels-last input
      // contiguous, GroupNorm keeps it: ours, one GroupNorm, keeps it for
      // every group count. The values are compared, the layout not.
      from_native.y_channels_last = from_ours.y_channels_last = torch::Tensor();
    }
    fold_steps(report.quantities, from_ours, from_native);
    if (!truth) continue;
    const StepOutputs exact =
        truth->step(x_base.to(torch::kFloat64), c.non_contiguous, dy.to(torch::kFloat64), train, c.channels_last);
    fold_truth(report.quantities, from_ours, from_native, exact);
  }

  for (auto& q : report.quantities)
    q.pass = q.within_tolerance || (q.ours_vs_float64 && q.native_vs_float64 && q.as_close_to_truth);
  return report;
}

}  // namespace bnlab::verify
