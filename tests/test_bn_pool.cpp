// BatchNorm with the 2x2 max-pool fused (BatchNormOptions::max_pool_2x2)
// against the two layers it replaces, BatchNorm then MaxPool2x2: the same
// results bit for bit, in every compiled copy of the kernels, whichever path
// computes them (the pooled kernel passes for NCHW input of the fused
// kernels, in training and in eval mode; the pool after BN's output
// everywhere else). Against native BatchNorm2d and max_pool2d the
// equivalence harness compares them too (test_bn_equivalence).
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <limits>

#include "bn/batch_norm.h"
#include "bn/fused_kernels.h"
#include "core/cpu.h"
#include "pool/max_pool.h"

using namespace bnlab;

namespace {

// Every output equal bit for bit, NaN where NaN; names the one that is not.
void check_bit_identical(const std::vector<torch::Tensor>& actual, const std::vector<torch::Tensor>& expected,
                         const std::vector<const char*>& names) {
  for (size_t i = 0; i < actual.size(); ++i) {
    CAPTURE(names[i], actual[i].sizes(), expected[i].sizes());
    REQUIRE(actual[i].sizes() == expected[i].sizes());
    CAPTURE((actual[i].to(torch::kFloat64) - expected[i].to(torch::kFloat64)).abs().nan_to_num(0).max().item<double>());
    CHECK(torch::allclose(actual[i], expected[i], /*rtol=*/0, /*atol=*/0, /*equal_nan=*/true));
  }
}

// x with what the pooled passes must handle like the separate layers:
// channel 1 constant (BN's output there is exactly beta = 0, so a ReLU after
// BN blocks every window of it: kNoWinner), a NaN in channel 2 (its
// statistics and every output NaN), -0 and +0 in channel 0 (a ReLU before BN
// blocks both).
torch::Tensor awkward_input(const std::vector<int64_t>& shape, torch::Dtype dtype) {
  auto x = torch::randn(shape, dtype);
  if (shape[1] < 3) return x;
  x.select(1, 1).fill_(0.25);
  x.select(1, 2).select(0, 0).view(-1)[0] = std::numeric_limits<double>::quiet_NaN();
  x.select(1, 0).select(0, 0).view(-1)[0] = -0.0;
  x.select(1, 0).select(0, 0).view(-1)[1] = 0.0;
  return x;
}

// Two training steps (or one, then eval) of layer on x; then pool (when
// given) after it.
template <typename Pool>
std::vector<torch::Tensor> two_steps(bn::BatchNorm layer, const torch::Tensor& x, const torch::Tensor& dy,
                                     bool training, Pool&& pool) {
  std::vector<torch::Tensor> out;
  for (int step = 0; step < 2; ++step) {
    layer->train(training || step == 0);
    auto leaf = x.clone().requires_grad_(true);
    auto y = pool(layer(leaf));
    auto grads = torch::autograd::grad({y}, {leaf, layer->weight, layer->bias}, {dy});
    out = {y.detach(), grads[0], grads[1], grads[2], layer->running_mean.clone(), layer->running_var.clone()};
  }
  return out;
}

}  // namespace

TEST_CASE("BatchNorm with max_pool_2x2 equals BatchNorm then MaxPool2x2 bit for bit", "[bn][pool]") {
  const auto isa = GENERATE(from_range(supported_isas()));  // every compiled copy this CPU runs
  const ScopedIsa copy(isa);
  const auto kernels = GENERATE(bn::Kernels::kFused, bn::Kernels::kReference);
  const auto dtype = GENERATE(torch::kFloat32, torch::kFloat64);
  // The CNN's shape, odd sizes (a row and a column outside every window),
  // rows of one window, and rows longer than a vector of windows.
  const auto shape = GENERATE(std::vector<int64_t>{8, 4, 26, 26}, std::vector<int64_t>{3, 3, 7, 9},
                              std::vector<int64_t>{4, 3, 2, 2}, std::vector<int64_t>{2, 5, 5, 35});
  const auto [relu, relu_input] = GENERATE(table<bool, bool>({{false, false}, {true, false}, {false, true}}));
  const bool training = GENERATE(true, false);       // false: a training step, then eval (gradients flowing)
  const bool channels_last = GENERATE(false, true);  // the pool after BN's output too
  CAPTURE(to_name(isa), bn::to_string(kernels), dtype, shape, relu, relu_input, training, channels_last);
  torch::manual_seed(11);
  auto x = awkward_input(shape, dtype);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  auto dy = torch::randn({shape[0], shape[1], shape[2] / 2, shape[3] / 2}, dtype);
  dy.select(1, 1).select(0, 0).view(-1)[0] =
      std::numeric_limits<double>::infinity();  // blocked by the ReLU: 0, not NaN

  auto options = bn::BatchNormOptions(shape[1]).kernels(kernels).relu(relu).relu_input(relu_input);
  bn::BatchNorm fused(bn::BatchNormOptions(options).max_pool_2x2(true)), separate(options);
  fused->to(dtype);
  separate->to(dtype);
  {
    torch::NoGradGuard no_grad;
    fused->weight.uniform_(0.5, 1.5);
    fused->bias.uniform_(-0.2, 0.2);
    fused->bias[1] = 0;  // channel 1's output is then 0 exactly: blocked windows with relu
    separate->weight.copy_(fused->weight);
    separate->bias.copy_(fused->bias);
  }
  const auto actual = two_steps(fused, x, dy, training, [](const torch::Tensor& y) { return y; });
  const auto expected = two_steps(separate, x, dy, training, pool::max_pool_2x2);
  check_bit_identical(actual, expected, {"y", "dx", "dweight", "dbias", "running_mean", "running_var"});
}

TEST_CASE("the pooled kernels equal the whole-layer kernels then MaxPool2x2, blocked windows included", "[bn][pool]") {
  // The kernel entries themselves, so that the test above cannot pass by
  // never taking them; and the same oracle seen to fail: with the ReLU's
  // marks (kNoWinner) dropped from the winners, dx differs, so the data
  // exercises windows the ReLU blocked.
  const auto isa = GENERATE(from_range(supported_isas()));
  const ScopedIsa copy(isa);
  const auto dtype = GENERATE(torch::kFloat32, torch::kFloat64);
  CAPTURE(to_name(isa), dtype);
  torch::manual_seed(12);
  const auto x = awkward_input({6, 4, 9, 10}, dtype);
  const auto gamma = torch::rand({4}, dtype) + 0.5, beta = torch::zeros({4}, dtype);
  const auto dy = torch::randn({6, 4, 4, 5}, dtype);

  const auto pooled = bn::fused::forward_batch_stats_pooled(x, gamma, beta, 1e-5, /*relu=*/true, false);
  const auto whole = bn::fused::forward_batch_stats(x, gamma, beta, 1e-5, /*relu=*/true, false);
  const auto [y, winner] = pool::max_pool_2x2_forward(whole.y);
  check_bit_identical({pooled.y, pooled.mean, pooled.var}, {y, whole.mean, whole.var}, {"y", "mean", "var"});
  REQUIRE(pooled.winner.eq(pool::kNoWinner).any().item<bool>());

  auto invstd = (whole.var + 1e-5).rsqrt();
  // Eval mode's entry, with these statistics: normalize_forward, the ReLU,
  // then the pool; the ReLU's marks where it blocked whole windows.
  const auto [fixed_y, fixed_winner] =
      bn::fused::forward_fixed_stats_pooled(x, whole.mean, invstd, gamma, beta, /*relu=*/true, false);
  const auto [eval_y, eval_winner] =
      pool::max_pool_2x2_forward(torch::relu(bn::fused::normalize_forward(x, whole.mean, invstd, gamma, beta)));
  const auto marked = eval_winner.masked_fill(eval_y.eq(0), pool::kNoWinner);
  check_bit_identical({fixed_y, fixed_winner}, {eval_y, marked}, {"eval y", "eval winner"});

  const auto actual =
      bn::fused::backward_with_batch_stats_pooled(dy, pooled.winner, x, pooled.mean, invstd, gamma, false, true);
  const auto dense_dy = pool::max_pool_2x2_backward(dy, winner, x.sizes());
  const auto expected =
      bn::fused::backward_with_batch_stats(dense_dy, x, whole.mean, invstd, gamma, whole.relu_mask, false, true);
  check_bit_identical({std::get<0>(actual), std::get<1>(actual), std::get<2>(actual)},
                      {std::get<0>(expected), std::get<1>(expected), std::get<2>(expected)},
                      {"dx", "sum_dy", "sum_dy_xhat"});

  const auto unmarked = pooled.winner.masked_fill(pooled.winner.eq(pool::kNoWinner), 0);
  const auto wrong =
      bn::fused::backward_with_batch_stats_pooled(dy, unmarked, x, pooled.mean, invstd, gamma, false, true);
  CHECK_FALSE(torch::allclose(std::get<0>(wrong), std::get<0>(expected), 0, 0, true));
}

TEST_CASE("max_pool_2x2 refuses what it cannot pool before any state changes", "[bn][pool][errors]") {
  bn::BatchNorm layer(bn::BatchNormOptions(3).max_pool_2x2(true));
  CHECK_THROWS_WITH(layer(torch::randn({4, 3})), Catch::Contains("expected a 4D (N,C,H,W) input"));
  CHECK_THROWS_WITH(layer(torch::randn({4, 3, 1, 6})), Catch::Contains("at least 2x2, got shape [4, 3, 1, 6]"));
  CHECK(layer->num_batches_tracked.item<int64_t>() == 0);
  CHECK(layer(torch::randn({0, 3, 4, 4})).sizes() == std::vector<int64_t>{0, 3, 2, 2});  // empty: empty pooled
}

TEST_CASE("max_pool_2x2 with no gradient wanted for x: dgamma and dbeta as BatchNorm then MaxPool2x2", "[bn][pool]") {
  // backward then skips the pooled kernels (they return dx) and expands the
  // pooled gradient first, with the ReLU's marks in the winner bytes.
  const bool relu = GENERATE(false, true);
  CAPTURE(relu);
  torch::manual_seed(13);
  const auto x = awkward_input({8, 4, 6, 6}, torch::kFloat32);  // requires no gradient
  const auto dy = torch::randn({8, 4, 3, 3});
  auto options = bn::BatchNormOptions(4).relu(relu);
  bn::BatchNorm fused(bn::BatchNormOptions(options).max_pool_2x2(true)), separate(options);
  auto parameter_grads = [&](bn::BatchNorm layer, bool pool_after) {
    auto y = layer(x);
    if (pool_after) y = pool::max_pool_2x2(y);
    return torch::autograd::grad({y}, {layer->weight, layer->bias}, {dy});
  };
  const auto actual = parameter_grads(fused, false), expected = parameter_grads(separate, true);
  check_bit_identical({actual[0], actual[1]}, {expected[0], expected[1]}, {"dweight", "dbias"});
}
