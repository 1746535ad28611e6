// Ghost BatchNorm (BatchNormOptions::virtual_batch_size): equal to native
// BatchNorm1d/2d applied to each virtual batch in turn, for outputs,
// gradients and running statistics; evaluation without virtual batches.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "bn/batch_norm.h"
#include "support/tensor_matchers.h"
#include "verify/equivalence.h"

using bnlab::bn::BatchNorm;
using bnlab::bn::BatchNormOptions;
using bnlab::bn::Kernels;
using bnlab::test::AllClose;
using Catch::Matchers::Contains;

namespace {

struct GhostCase {
  std::vector<int64_t> shape;  // (N, C) or (N, C, H, W)
  int64_t virtual_batch;
  bool channels_last;
};

// What a training step produces: y, the gradients and the state after it.
struct GhostStep {
  torch::Tensor y, dx, dweight, dbias, running_mean, running_var;
  int64_t batches_tracked;
};

// One forward (`forward(input)`) and backward of `module` on x with
// upstream gradient dy, and the module's state after it.
template <typename Module, typename Forward>
GhostStep record_step(Module& module, const torch::Tensor& x, const torch::Tensor& dy, Forward forward) {
  auto input = x.detach().clone(x.suggest_memory_format()).requires_grad_();
  module->weight.mutable_grad() = torch::Tensor();
  module->bias.mutable_grad() = torch::Tensor();
  auto y = forward(input);
  y.backward(dy);
  return {y.detach(),
          input.grad(),
          module->weight.grad(),
          module->bias.grad(),
          module->running_mean.clone(),
          module->running_var.clone(),
          module->num_batches_tracked.template item<int64_t>()};
}

template <typename Module>
GhostStep ghost_step(Module& module, const torch::Tensor& x, const torch::Tensor& dy) {
  return record_step(module, x, dy, [&](const torch::Tensor& input) { return module->forward(input); });
}

// The reference: native BatchNorm applied to one virtual batch after the
// other, its outputs concatenated (what Ghost BatchNorm means).
template <typename Native>
GhostStep native_in_turn(Native& native, const torch::Tensor& x, const torch::Tensor& dy, int64_t virtual_batch) {
  return record_step(native, x, dy, [&](const torch::Tensor& input) {
    std::vector<torch::Tensor> outputs;
    for (const auto& chunk : input.split(virtual_batch, 0)) outputs.push_back(native->forward(chunk));
    return torch::cat(outputs, 0);
  });
}

// float64 throughout: the same arithmetic per virtual batch, so only
// summation order differs (~1e-15 relative); 1e-10 leaves room for the
// fused kernels' one-pass moments without hiding a wrong term (O(1) errors).
constexpr double kGhostTol = 1e-10;

void require_same_step(const GhostStep& ours, const GhostStep& native) {
  CHECK_THAT(ours.y, AllClose(native.y, kGhostTol, kGhostTol));
  CHECK_THAT(ours.dx, AllClose(native.dx, kGhostTol, kGhostTol));
  CHECK_THAT(ours.dweight, AllClose(native.dweight, kGhostTol, kGhostTol));
  CHECK_THAT(ours.dbias, AllClose(native.dbias, kGhostTol, kGhostTol));
  CHECK_THAT(ours.running_mean, AllClose(native.running_mean, kGhostTol, kGhostTol));
  CHECK_THAT(ours.running_var, AllClose(native.running_var, kGhostTol, kGhostTol));
  CHECK(ours.batches_tracked == native.batches_tracked);
}

template <typename Native>
void check_ghost_against(const GhostCase& c, Kernels kernels) {
  const int64_t C = c.shape[1];
  BatchNorm ours(BatchNormOptions(C).kernels(kernels).virtual_batch_size(c.virtual_batch));
  Native native(C);
  ours->to(torch::kFloat64);
  native->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    ours->weight.copy_(torch::rand({C}, torch::kFloat64) + 0.5);
    ours->bias.copy_(torch::randn({C}, torch::kFloat64));
    native->weight.copy_(ours->weight);
    native->bias.copy_(ours->bias);
  }
  auto format = c.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  // Three steps: the running statistics compound over virtual batches.
  for (int i = 0; i < 3; ++i) {
    auto x = (torch::randn(c.shape, torch::kFloat64) * 3 + 1).contiguous(format);
    auto dy = torch::randn(c.shape, torch::kFloat64).contiguous(format);
    CAPTURE(i);
    const GhostStep a = ghost_step(ours, x, dy);
    const GhostStep b = native_in_turn(native, x, dy, c.virtual_batch);
    require_same_step(a, b);
    CHECK(a.y.is_contiguous(format));
  }
  // Evaluation: the running statistics, no virtual batches.
  ours->eval();
  native->eval();
  auto x = torch::randn(c.shape, torch::kFloat64).contiguous(format);
  torch::NoGradGuard no_grad;
  CHECK_THAT(ours->forward(x), AllClose(native->forward(x), kGhostTol, kGhostTol));
}

}  // namespace

TEST_CASE("Ghost BatchNorm equals native BatchNorm applied to each virtual batch in turn", "[bn][ghost]") {
  const auto kernels = GENERATE(Kernels::kFused, Kernels::kReference);
  const auto c = GENERATE(values<GhostCase>({
      {{64, 5}, 16, false},       // divides
      {{70, 5}, 16, false},       // remainder of 6
      {{33, 3}, 32, false},       // remainder of 1 sample, one value per feature: refused
      {{12, 4, 5, 5}, 4, false},  // divides
      {{13, 4, 5, 5}, 4, false},  // remainder of 1 sample, 25 values per channel
      {{12, 4, 5, 5}, 5, true},   // channels-last, remainder 2
      {{8, 3, 3, 3}, 1, false},   // one sample per virtual batch (instance-like)
  }));
  CAPTURE(c.shape, c.virtual_batch, c.channels_last, to_string(kernels));
  if (c.shape.size() == 2 && c.shape[0] % c.virtual_batch == 1) {
    BatchNorm bn(BatchNormOptions(c.shape[1]).virtual_batch_size(c.virtual_batch));
    REQUIRE_THROWS_WITH(bn->forward(torch::randn(c.shape)),
                        Contains("the last virtual batch of a batch of 33 (virtual_batch_size = 32)") &&
                            Contains("one value per channel"));
    CHECK(bn->num_batches_tracked.item<int64_t>() == 0);  // refused before any state changed
    return;
  }
  if (c.shape.size() == 2)
    check_ghost_against<torch::nn::BatchNorm1d>(c, kernels);
  else
    check_ghost_against<torch::nn::BatchNorm2d>(c, kernels);
}

TEST_CASE("the ghost reference is not plain BatchNorm: the oracle sees virtual batches", "[bn][ghost]") {
  // Were virtual batches ignored, ours would equal native on the whole batch;
  // the reference above must tell the two apart.
  torch::nn::BatchNorm1d whole(4), in_turn(4);
  whole->to(torch::kFloat64);
  in_turn->to(torch::kFloat64);
  auto x = torch::randn({32, 4}, torch::kFloat64) * 3 + 1;
  auto dy = torch::randn({32, 4}, torch::kFloat64);
  const GhostStep a = ghost_step(whole, x, dy);
  const GhostStep b = native_in_turn(in_turn, x, dy, 8);
  CHECK_THAT(a.y, !AllClose(b.y, kGhostTol, kGhostTol));
  CHECK_THAT(a.dx, !AllClose(b.dx, kGhostTol, kGhostTol));
  CHECK_THAT(a.running_mean, !AllClose(b.running_mean, kGhostTol, kGhostTol));
  CHECK(a.batches_tracked != b.batches_tracked);
}

TEST_CASE("Ghost BatchNorm: batches no larger than a virtual batch are plain BatchNorm", "[bn][ghost]") {
  BatchNorm ghost(BatchNormOptions(3).virtual_batch_size(16));
  BatchNorm plain(3);
  for (const int64_t n : {16, 5, 0}) {
    auto x = torch::randn({n, 3});
    CHECK(torch::equal(ghost->forward(x), plain->forward(x)));
  }
  CHECK(torch::equal(ghost->running_mean, plain->running_mean));
  CHECK(ghost->num_batches_tracked.item<int64_t>() == plain->num_batches_tracked.item<int64_t>());
}

TEST_CASE("Ghost BatchNorm options are checked with the values seen", "[bn][ghost]") {
  REQUIRE_THROWS_WITH(BatchNorm(BatchNormOptions(3).virtual_batch_size(-2)),
                      Contains("virtual_batch_size must be 0 (off) or positive, got -2"));
  std::ostringstream printed;
  printed << *BatchNorm(BatchNormOptions(3).virtual_batch_size(32));
  CHECK_THAT(printed.str(), Contains("virtual_batch_size=32"));
}

TEST_CASE("bnlab verify's ghost cases pass, and its harness fails BatchNorm that ignores virtual batches",
          "[bn][ghost][verify]") {
  namespace verify = bnlab::verify;
  uint64_t seed = 11;
  for (const auto& c : verify::for_each_kernels(verify::ghost_cases(), {Kernels::kReference, Kernels::kFused})) {
    const auto report = verify::compare_with_native(c, seed++);
    INFO(c.describe() << " vs " << report.reference << "\n" << report.failure_summary());
    CHECK(report.pass());
  }
  // The oracle seen to fail: plain BatchNorm (virtual batches ignored) on a
  // training case whose batch has several virtual batches.
  auto c = verify::ghost_cases(torch::kFloat64).front();
  REQUIRE((c.training && c.shape[0] > c.virtual_batch_size));
  const auto plain = [](const verify::EquivalenceCase& tc) {
    auto without = tc;
    without.virtual_batch_size = 0;
    return verify::bnlab_batch_norm(without);
  };
  const auto report = verify::compare_with_native(c, 3, plain);
  CHECK_FALSE(report.pass());
  CHECK_FALSE(report.find("y")->pass);
  CHECK_FALSE(report.find("running_mean")->pass);
}
