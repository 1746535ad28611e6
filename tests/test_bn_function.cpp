// BatchNormFunction on its own: finite-difference gradients, the autograd
// node, and argument errors.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <functional>
#include <limits>

#include "bn/batch_norm_function.h"
#include "support/tensor_matchers.h"

using bnlab::bn::batch_norm;
using bnlab::test::AllClose;
using Catch::Matchers::Contains;

namespace {

torch::TensorOptions f64() { return torch::TensorOptions().dtype(torch::kFloat64); }

// Central-difference gradient of loss(t) w.r.t. every element of t.
torch::Tensor numerical_gradient(const std::function<double()>& loss, torch::Tensor t, double h) {
  auto grad = torch::zeros_like(t);
  auto flat = t.view(-1);
  auto grad_flat = grad.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double saved = flat[i].item<double>();
    flat[i] = saved + h;
    const double up = loss();
    flat[i] = saved - h;
    const double down = loss();
    flat[i] = saved;
    grad_flat[i] = (up - down) / (2 * h);
  }
  return grad;
}

// The fused-ReLU tests' layer: 4 channels' gamma, beta and running statistics.
struct FourChannels {
  torch::Tensor weight = 0.5 + torch::rand({4}), bias = torch::tensor({0.1f, 0.0f, -0.2f, 0.3f});
  torch::Tensor running_mean = torch::tensor({0.0f, 0.25f, 0.1f, -0.1f}), running_var = 0.5 + torch::rand({4});
};

using Layer = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& bias, const FourChannels& state)>;

// y, dx, dweight, dbias of layer on fresh leaves, for the upstream gradient
// (the running statistics cloned, so that two layers start alike).
std::vector<torch::Tensor> outputs_and_gradients(const Layer& layer, const torch::Tensor& x, const FourChannels& state,
                                                 const torch::Tensor& upstream) {
  auto x_leaf = x.clone().requires_grad_(true);
  auto w = state.weight.clone().requires_grad_(true), b = state.bias.clone().requires_grad_(true);
  FourChannels fresh = state;
  fresh.running_mean = state.running_mean.clone();
  fresh.running_var = state.running_var.clone();
  auto y = layer(x_leaf, w, b, fresh);
  auto grads = torch::autograd::grad({y}, {x_leaf, w, b}, {upstream});
  return {y.detach(), grads[0], grads[1], grads[2]};
}

// Every output and gradient equal bit for bit, NaN where NaN.
void check_bit_identical(const std::vector<torch::Tensor>& fused, const std::vector<torch::Tensor>& separate) {
  const char* names[] = {"y", "dx", "dweight", "dbias"};
  for (size_t i = 0; i < fused.size(); ++i) {
    CAPTURE(names[i], (fused[i] - separate[i]).abs().nan_to_num(0).max().item<double>());
    CHECK(torch::allclose(fused[i], separate[i], /*rtol=*/0, /*atol=*/0, /*equal_nan=*/true));
  }
}

}  // namespace

TEST_CASE("analytic gradients match finite differences in float64", "[bn][gradcheck]") {
  const auto shape = GENERATE(std::vector<int64_t>{5, 3}, std::vector<int64_t>{3, 2, 4},
                              std::vector<int64_t>{2, 3, 3, 2});
  const bool use_batch_stats = GENERATE(true, false);
  // Both kernel sets, each without a fused ReLU, with one after BN (the
  // fused kernels' whole-layer entries mask dy inside their passes) and with
  // one before it (they read x and normalise max(0, x)). With a ReLU the
  // loss has kinks where y = 0 or x = 0; a value within h of one would
  // spoil the difference quotient, which for these ~30 normal values has a
  // chance of about 1e-5.
  const auto kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  const auto relu_mode = GENERATE(table<bool, bool>({{false, false}, {true, false}, {false, true}}));
  const bool relu = std::get<0>(relu_mode), relu_input = std::get<1>(relu_mode);  // lambdas capture these
  CAPTURE(shape, use_batch_stats, bnlab::bn::to_string(kernels), relu, relu_input);
  torch::manual_seed(42);
  const int64_t C = shape[1];
  auto x = torch::randn(shape, f64()).requires_grad_(true);
  auto weight = (1 + 0.3 * torch::randn({C}, f64())).requires_grad_(true);
  auto bias = torch::randn({C}, f64()).requires_grad_(true);
  // Running statistics are constants of the function here (eval path) and
  // left undefined for the batch-statistics path, so evaluating the loss
  // many times does not move them.
  auto running_mean = use_batch_stats ? torch::Tensor() : 0.3 * torch::randn({C}, f64());
  auto running_var = use_batch_stats ? torch::Tensor() : 0.5 + torch::rand({C}, f64());
  auto upstream = torch::randn(shape, f64());  // loss = sum(y * upstream)

  auto forward = [&] {
    return batch_norm(x, weight, bias, running_mean, running_var, use_batch_stats, 0.1, 1e-5, kernels, relu, nullptr,
                      nullptr, relu_input);
  };
  auto loss_value = [&] {
    torch::NoGradGuard no_grad;
    return (forward() * upstream).sum().item<double>();
  };
  auto grads = torch::autograd::grad({forward()}, {x, weight, bias}, {upstream});

  torch::NoGradGuard no_grad;
  // h = 1e-6: truncation error O(h^2) ~ 1e-12 and round-off ~ eps*|loss|/h
  // ~ 1e-9, so analytic and numerical gradients agree to ~1e-8; 1e-6 leaves
  // margin while any missing term of the formula is O(1e-2) or larger.
  constexpr double h = 1e-6, tolerance = 1e-6;
  CHECK_THAT(grads[0], AllClose(numerical_gradient(loss_value, x.detach(), h), tolerance, tolerance));
  CHECK_THAT(grads[1], AllClose(numerical_gradient(loss_value, weight.detach(), h), tolerance, tolerance));
  CHECK_THAT(grads[2], AllClose(numerical_gradient(loss_value, bias.detach(), h), tolerance, tolerance));
}

TEST_CASE("the graph goes through BatchNormFunction, not native ops", "[bn][autograd]") {
  auto x = torch::randn({4, 3}).requires_grad_(true);
  auto y = batch_norm(x, torch::ones({3}), torch::zeros({3}), {}, {}, true, 0.1, 1e-5);
  REQUIRE(y.grad_fn() != nullptr);
  CHECK_THAT(y.grad_fn()->name(), Contains("BatchNormFunction"));
  // One edge per tensor argument (x, weight, bias, running_mean, running_var),
  // and x's leads straight to x's accumulator: no native node in between.
  CHECK(y.grad_fn()->next_edges().size() == 5);
  CHECK_THAT(y.grad_fn()->next_edges()[0].function->name(), Contains("AccumulateGrad"));
}

TEST_CASE("affine off: no weight or bias gradients, input gradient only", "[bn][autograd]") {
  auto x = torch::randn({6, 4, 3}, f64()).requires_grad_(true);
  auto y = batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  y.backward(torch::randn_like(y));
  REQUIRE(x.grad().defined());
  // With batch statistics and no affine, each channel's dx sums to zero.
  CHECK_THAT(x.grad().sum(std::vector<int64_t>{0, 2}), AllClose(torch::zeros({4}, f64()), 0, 1e-12));
}

TEST_CASE("double backward is refused rather than silently wrong", "[bn][autograd]") {
  auto x = torch::randn({4, 3}).requires_grad_(true);
  auto y = batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  REQUIRE_THROWS_WITH(torch::autograd::grad({y.pow(2).sum()}, {x}, {}, true, /*create_graph=*/true),
                      Contains("double backward"));
}

TEST_CASE("running statistics update with the unbiased variance", "[bn][stats]") {
  auto x = torch::tensor({{1.0, 10.0}, {3.0, 10.0}, {5.0, 16.0}}, f64());
  auto running_mean = torch::zeros({2}, f64());
  auto running_var = torch::ones({2}, f64());
  batch_norm(x, {}, {}, running_mean, running_var, true, 0.5, 1e-5);
  // channel 0: mean 3, unbiased var 4; channel 1: mean 12, unbiased var 12.
  CHECK_THAT(running_mean, AllClose(torch::tensor({1.5, 6.0}, f64()), 0, 1e-15));
  CHECK_THAT(running_var, AllClose(torch::tensor({2.5, 6.5}, f64()), 0, 1e-15));
}

TEST_CASE("weight, bias and running statistics may be strided views, as in native BN", "[bn][stats]") {
  // Every other element of a larger buffer: the kernels must neither read
  // nor update the elements in between.
  const auto kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  const bool training = GENERATE(true, false);
  CAPTURE(bnlab::bn::to_string(kernels), training);
  torch::manual_seed(5);
  const auto x = torch::randn({8, 3, 2}, f64());
  const auto dy = torch::randn({8, 3, 2}, f64());
  const auto weight0 = 0.5 + torch::rand({6}, f64()), bias0 = torch::randn({6}, f64());
  const auto running_mean0 = torch::randn({6}, f64()), running_var0 = 0.5 + torch::rand({6}, f64());

  struct Run {
    torch::Tensor y, running_mean, running_var, dweight, dbias;
  };
  auto run = [&](bool native) {
    auto weight = weight0.clone().requires_grad_(true), bias = bias0.clone().requires_grad_(true);
    auto running_mean = running_mean0.clone(), running_var = running_var0.clone();
    auto every_other = [](const torch::Tensor& t) { return t.slice(0, 0, 6, 2); };
    auto y = native ? torch::batch_norm(x, every_other(weight), every_other(bias), every_other(running_mean),
                                        every_other(running_var), training, 0.1, 1e-5, false)
                    : batch_norm(x, every_other(weight), every_other(bias), every_other(running_mean),
                                 every_other(running_var), training, 0.1, 1e-5, kernels);
    y.backward(dy);
    return Run{y.detach(), running_mean, running_var, weight.grad(), bias.grad()};
  };
  const Run ours = run(false), native = run(true);
  // float64 throughout: only summation order differs (~1e-15 relative).
  CHECK_THAT(ours.y, AllClose(native.y, 1e-12, 1e-12));
  CHECK_THAT(ours.running_mean, AllClose(native.running_mean, 1e-12, 1e-12));
  CHECK_THAT(ours.running_var, AllClose(native.running_var, 1e-12, 1e-12));
  CHECK_THAT(ours.dweight, AllClose(native.dweight, 1e-12, 1e-12));
  CHECK_THAT(ours.dbias, AllClose(native.dbias, 1e-12, 1e-12));
}

TEST_CASE("argument errors read like PyTorch's, with the values seen", "[bn][errors]") {
  auto w = torch::ones({3});
  SECTION("rank 1 and rank 5") {
    REQUIRE_THROWS_WITH(batch_norm(torch::randn({3}), w, w, {}, {}, true, 0.1, 1e-5),
                        Contains("expected 2D (N,C), 3D (N,C,L) or 4D (N,C,H,W) input (got 1D input"));
    REQUIRE_THROWS_WITH(batch_norm(torch::randn({2, 3, 2, 2, 2}), w, w, {}, {}, true, 0.1, 1e-5),
                        Contains("got 5D input of shape [2, 3, 2, 2, 2]"));
  }
  SECTION("channel count mismatch") {
    REQUIRE_THROWS_WITH(batch_norm(torch::randn({2, 4, 5}), w, w, {}, {}, true, 0.1, 1e-5),
                        Contains("weight should contain 4 elements") && Contains("[3]") &&
                            Contains("input shape [2, 4, 5]"));
  }
  SECTION("one value per channel in training") {
    REQUIRE_THROWS_WITH(batch_norm(torch::randn({1, 3}), w, w, {}, {}, true, 0.1, 1e-5),
                        Contains("Expected more than 1 value per channel when training, got input size [1, 3]"));
    REQUIRE_THROWS_WITH(batch_norm(torch::randn({1, 3, 1, 1}), w, w, {}, {}, true, 0.1, 1e-5),
                        Contains("got input size [1, 3, 1, 1]"));
  }
  SECTION("one value per channel is fine with running statistics") {
    auto y = batch_norm(torch::randn({1, 3}), w, w, torch::zeros({3}), torch::ones({3}), false, 0.1, 1e-5);
    CHECK(y.sizes() == torch::IntArrayRef{1, 3});
  }
  SECTION("dtype mismatch and integer input") {
    REQUIRE_THROWS_WITH(batch_norm(torch::randn({2, 3}, f64()), w, w, {}, {}, true, 0.1, 1e-5),
                        Contains("weight has dtype Float but the input has dtype Double"));
    REQUIRE_THROWS_WITH(batch_norm(torch::ones({2, 3}, torch::kInt64), {}, {}, {}, {}, true, 0.1, 1e-5),
                        Contains("expected a float32 or float64 input, got Long"));
  }
}

TEST_CASE("BN with relu equals BN then torch::relu bit for bit, NaN and zero included", "[bn][relu]") {
  // Same kernels on both sides compute the same pre-activation z, so nothing
  // may differ, not even in the last bit; the ReLU's edge cases included:
  // channel 1 is constant, so z is exactly beta = 0 in training (and in eval,
  // where its running mean is that constant): blocked, as torch::relu's
  // backward blocks where the output is <= 0. Channel 2 holds a NaN: its z
  // (all of it, in training) is NaN, which passes forward and backward. An
  // infinite upstream gradient where the ReLU blocks must become 0, not NaN.
  const auto kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  const bool use_batch_stats = GENERATE(true, false);
  const auto shape = GENERATE(std::vector<int64_t>{16, 4}, std::vector<int64_t>{6, 4, 3, 5});
  CAPTURE(bnlab::bn::to_string(kernels), use_batch_stats, shape);
  torch::manual_seed(3);
  auto x = torch::randn(shape);
  x.select(1, 1).fill_(0.25);
  x.select(1, 2).select(0, 1).view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  const FourChannels state;
  auto upstream = torch::randn(shape);
  upstream.select(1, 1).select(0, 0).view(-1)[0] = std::numeric_limits<float>::infinity();

  auto layer = [&](bool fused_relu) -> Layer {
    return [=](const torch::Tensor& input, const torch::Tensor& w, const torch::Tensor& b, const FourChannels& s) {
      const auto y =
          batch_norm(input, w, b, s.running_mean, s.running_var, use_batch_stats, 0.1, 1e-5, kernels, fused_relu);
      return fused_relu ? y : torch::relu(y);
    };
  };
  const auto fused = outputs_and_gradients(layer(true), x, state, upstream);
  check_bit_identical(fused, outputs_and_gradients(layer(false), x, state, upstream));
  CHECK(fused[0].select(1, 1).eq(0).all().item<bool>());  // the zero channel stayed blocked
  CHECK(fused[0].select(1, 2).isnan().any().item<bool>());  // the NaN went through
}

TEST_CASE("BN with relu_input equals torch::relu then BN bit for bit, NaN and zero included", "[bn][relu]") {
  // Same kernels on both sides normalise the same values max(0, x), so
  // nothing may differ, not even in the last bit; the ReLU's edge cases
  // included: channel 1 is negative throughout, so BN sees a constant 0
  // (variance 0) and x's gradient there is 0 however large BN's; channel 0
  // holds -0 and +0 (blocked, as torch::relu's backward blocks where its
  // output is <= 0); channel 2 holds a NaN, which passes forward and
  // backward and makes its channel's statistics NaN; channel 3 an infinite
  // upstream gradient. The fused kernels take the whole-layer path in
  // training and the pieces (max(0, x) computed first) in eval.
  const auto kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  const bool use_batch_stats = GENERATE(true, false);
  const auto shape = GENERATE(std::vector<int64_t>{16, 4}, std::vector<int64_t>{6, 4, 3, 5});
  const bool channels_last = GENERATE(false, true);
  if (channels_last && shape.size() != 4) return;
  CAPTURE(bnlab::bn::to_string(kernels), use_batch_stats, shape, channels_last);
  torch::manual_seed(4);
  auto x = torch::randn(shape);
  x.select(1, 1).fill_(-0.5);
  x.select(1, 0).select(0, 0).view(-1)[0] = -0.0f;
  x.select(1, 0).select(0, 1).view(-1)[0] = 0.0f;
  x.select(1, 2).select(0, 1).view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const FourChannels state;
  auto upstream = torch::randn(shape);
  upstream.select(1, 3).select(0, 0).view(-1)[0] = std::numeric_limits<float>::infinity();

  auto layer = [&](bool fused_relu) -> Layer {
    return [=](const torch::Tensor& input, const torch::Tensor& w, const torch::Tensor& b, const FourChannels& s) {
      return batch_norm(fused_relu ? input : torch::relu(input), w, b, s.running_mean, s.running_var, use_batch_stats,
                        0.1, 1e-5, kernels, false, nullptr, nullptr, fused_relu);
    };
  };
  const auto fused = outputs_and_gradients(layer(true), x, state, upstream);
  check_bit_identical(fused, outputs_and_gradients(layer(false), x, state, upstream));
  CHECK(fused[1].select(1, 1).eq(0).all().item<bool>());  // blocked throughout: no gradient reaches x
  CHECK(fused[1].select(1, 0).select(0, 0).view(-1)[0].item<float>() == 0);  // -0 blocked
  CHECK(fused[1].select(1, 0).select(0, 1).view(-1)[0].item<float>() == 0);  // +0 blocked
  CHECK(fused[0].select(1, 2).isnan().any().item<bool>());                   // the NaN went through
}

TEST_CASE("relu_input: an oracle that leaves the ReLU out is told apart", "[bn][relu]") {
  // The bit-for-bit test above would pass trivially if relu_input were
  // ignored on both sides; here BN of x (no ReLU) must differ from it.
  torch::manual_seed(6);
  const auto x = torch::randn({32, 3, 4, 4});
  const auto with = batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5, bnlab::bn::Kernels::kFused, false, nullptr, nullptr,
                               /*relu_input=*/true);
  const auto without = batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  CHECK_FALSE(torch::allclose(with, without, 1e-3, 1e-3));
  CHECK(torch::allclose(with, batch_norm(torch::relu(x), {}, {}, {}, {}, true, 0.1, 1e-5), 0, 1e-6));
}
