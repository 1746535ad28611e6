#include <ATen/CPUGeneratorImpl.h>

#include "verify/equivalence.h"
#include "verify/harness.h"

// Sync BatchNorm on the ranks of a job against one-process BatchNorm on the
// whole batch.
namespace bnlab::verify {

using namespace detail;
using torch::Tensor;

namespace {

// Over ranks: the largest error of each quantity, and whether every rank was
// within tolerance.
void reduce_over_ranks(std::vector<QuantityError>& quantities, const parallel::Group& group) {
  std::vector<double> local;
  for (const auto& q : quantities)
    local.insert(local.end(), {q.max_abs, q.max_rel, q.within_tolerance ? 0.0 : 1.0, double(q.compared_steps)});
  const auto all = group.all_gather(torch::tensor(local, torch::kFloat64)).amax(0);  // (4 * quantities)
  for (size_t i = 0; i < quantities.size(); ++i) {
    auto& q = quantities[i];
    q.max_abs = all[4 * i].item<double>();
    q.max_rel = all[4 * i + 1].item<double>();
    q.within_tolerance = all[4 * i + 2].item<double>() == 0;
    q.compared_steps = int(all[4 * i + 3].item<double>());
    q.pass = q.within_tolerance;
  }
}

// A (N, *) tensor's rows of this rank's shard.
Tensor shard_rows(const Tensor& t, const parallel::Shard& shard) { return t.slice(0, shard.begin, shard.end); }

}  // namespace

CaseReport compare_sync_with_single(const EquivalenceCase& c, uint64_t seed,
                                    const std::shared_ptr<const parallel::Group>& group_ptr) {
  const parallel::Group& group = *group_ptr;
  TORCH_CHECK(c.shape.size() >= 2 && c.shape.size() <= 4, "sync equivalence case: bad shape");
  std::optional<ScopedIsa> copy;  // the fused kernels' copy the case names
  if (c.isa) copy.emplace(*c.isa);
  TORCH_CHECK(c.shape[0] >= group.size(), "sync equivalence case: batch ", c.shape[0], " is smaller than the ",
              group.size(), " ranks");
  // Every rank draws the same whole batch from the same seed, runs the
  // one-process BatchNorm on all of it, and sync BatchNorm on its rows.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  CaseReport report{c, "bnlab BatchNorm, one process, whole batch", {}};
  Runner single(bnlab_batch_norm(c));
  randomize_state(single.module(), gen);
  Runner synced(bnlab_batch_norm(c, group_ptr));
  synced.copy_state_from(single.module());
  report.quantities = fresh_quantities(c);
  const auto shard = parallel::shard_of(c.shape[0], group.rank(), group.size());
  const int total_steps = c.steps + (c.training ? 0 : 1);
  for (int step = 0; step < total_steps; ++step) {
    const bool train = c.training || step < c.steps;
    auto x_base = make_input_base(c, gen);
    auto dy = torch::randn(c.shape, gen, torch::TensorOptions().dtype(c.dtype));
    StepOutputs whole = single.step(x_base, c.non_contiguous, dy, train);
    StepOutputs mine = synced.step(shard_rows(x_base, shard), c.non_contiguous, shard_rows(dy, shard), train);
    whole.y = shard_rows(whole.y, shard);
    whole.dx = shard_rows(whole.dx, shard);
    // Parameter gradients are per-rank sums; training adds them over ranks.
    for (Tensor* grad : {&mine.dweight, &mine.dbias})
      if (grad->defined()) group.all_reduce_sum(*grad);
    fold_steps(report.quantities, mine, whole);
  }
  reduce_over_ranks(report.quantities, group);
  return report;
}

}  // namespace bnlab::verify
