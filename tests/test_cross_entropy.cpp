#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "support/tensor_matchers.h"
#include "train/cross_entropy.h"

using namespace bnlab;
using bnlab::test::AllClose;

namespace {

// LibTorch's softmax cross-entropy, summed: the reference.
torch::Tensor native_sum(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(logits, labels,
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

// (loss, dlogits) of `loss_of` at a copy of logits, the loss's gradient seeded with 1 / N as in training.
std::pair<torch::Tensor, torch::Tensor> loss_and_gradient(const torch::Tensor& logits, const torch::Tensor& labels,
                                                          torch::Tensor (*loss_of)(const torch::Tensor&,
                                                                                   const torch::Tensor&)) {
  auto z = logits.detach().clone().requires_grad_(true);
  auto loss = loss_of(z, labels);
  torch::autograd::backward({loss}, {torch::full({}, 1.0 / double(labels.size(0)), loss.options())});
  return {loss.detach(), z.grad()};
}

}  // namespace

TEST_CASE("cross_entropy_sum equals LibTorch's cross_entropy summed, forward and backward", "[train][loss]") {
  const auto dtype = GENERATE(torch::kFloat32, torch::kFloat64);
  const double scale = GENERATE(1.0, 30.0);  // 30: logits far apart, where an unshifted exp would overflow float32
  CAPTURE(dtype, scale);
  torch::manual_seed(5);
  const auto logits = (torch::randn({64, 10}) * scale).to(dtype);
  const auto labels = torch::randint(0, 10, {64}, torch::kInt64);
  const auto [loss, dlogits] = loss_and_gradient(logits, labels, &train::cross_entropy_sum);
  const auto [expected_loss, expected_dlogits] = loss_and_gradient(logits, labels, &native_sum);
  // A sum of 64 terms of O(scale) taken in another order, and exp of
  // shifted logits: a few ulps of the sum (float32 ~1e-7 relative).
  const double rtol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
  CHECK_THAT(loss, AllClose(expected_loss, rtol, rtol));
  CHECK_THAT(dlogits, AllClose(expected_dlogits, rtol, rtol));
  // The oracle can fail: the loss of other labels is not this one.
  CHECK_THAT(loss, !AllClose(native_sum(logits, (labels + 1) % 10), rtol, rtol));
}

TEST_CASE("cross_entropy_sum is NaN where LibTorch's is, and checks its arguments", "[train][loss]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (double bad : {nan, inf, -inf}) {
    CAPTURE(bad);
    auto logits = torch::zeros({2, 3});
    logits[0][1] = bad;
    if (bad == -inf) logits[0].fill_(-inf);  // every logit -inf: no class has any probability
    const auto labels = torch::tensor({0, 2}, torch::kInt64);
    CHECK(std::isnan(train::cross_entropy_sum(logits, labels).item<double>()) ==
          std::isnan(native_sum(logits, labels).item<double>()));
  }
  const auto logits = torch::zeros({2, 3});
  CHECK_THROWS_WITH(train::cross_entropy_sum(logits, torch::tensor({0, 3}, torch::kInt64)),
                    Catch::Contains("label 3 at row 1 is out of range for 3 classes"));
  CHECK_THROWS_WITH(train::cross_entropy_sum(logits, torch::tensor({0, 1}, torch::kInt32)),
                    Catch::Contains("expected int64 labels (2)"));
  CHECK_THROWS_WITH(train::cross_entropy_sum(torch::zeros({2, 3, 4}), torch::tensor({0, 1}, torch::kInt64)),
                    Catch::Contains("expected logits (N, K)"));
}
