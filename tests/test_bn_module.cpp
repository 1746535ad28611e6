// The BatchNorm module: options, state, modes and serialisation.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "bn/batch_norm.h"
#include "support/temp_dir.h"
#include "support/tensor_matchers.h"

using bnlab::bn::BatchNorm;
using bnlab::bn::BatchNormOptions;
using bnlab::test::AllClose;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> keys_of(const torch::OrderedDict<std::string, torch::Tensor>& dict) {
  return dict.keys();
}

// Random gamma/beta and a few training steps, so the state is not the default.
template <typename Module>
void train_a_little(Module& bn, std::vector<int64_t> shape) {
  torch::NoGradGuard no_grad;
  bn->train();
  for (auto& p : bn->parameters()) p.copy_(torch::randn_like(p));
  for (int i = 0; i < 3; ++i) bn(torch::randn(shape) * 2 + 1);
}

}  // namespace

TEST_CASE("options default to PyTorch's", "[bn][module]") {
  BatchNormOptions options(4);
  CHECK(options.eps() == 1e-5);
  CHECK(options.momentum().value() == 0.1);
  CHECK(options.affine());
  CHECK(options.track_running_stats());
  BatchNorm bn(options);
  CHECK(torch::equal(bn->weight, torch::ones({4})));
  CHECK(torch::equal(bn->bias, torch::zeros({4})));
  CHECK(torch::equal(bn->running_mean, torch::zeros({4})));
  CHECK(torch::equal(bn->running_var, torch::ones({4})));
  CHECK(bn->num_batches_tracked.item<int64_t>() == 0);
}

TEST_CASE("parameter and buffer names match torch::nn::BatchNorm", "[bn][module]") {
  BatchNorm ours(8);
  torch::nn::BatchNorm2d native(8);
  CHECK(keys_of(ours->named_parameters()) == keys_of(native->named_parameters()));
  CHECK(keys_of(ours->named_buffers()) == keys_of(native->named_buffers()));
  BatchNorm bare(BatchNormOptions(8).affine(false).track_running_stats(false));
  CHECK(bare->parameters().empty());
  CHECK(bare->buffers().empty());
}

TEST_CASE("bad options are rejected with the value seen", "[bn][module]") {
  REQUIRE_THROWS_WITH(BatchNorm(BatchNormOptions(0)), Contains("num_features must be positive, got 0"));
  REQUIRE_THROWS_WITH(BatchNorm(BatchNormOptions(3).eps(0)), Contains("eps must be positive, got 0"));
  REQUIRE_THROWS_WITH(BatchNorm(BatchNormOptions(3).momentum(1.5)), Contains("got 1.5"));
}

TEST_CASE("reset_running_stats and reset_parameters restore the defaults", "[bn][module]") {
  BatchNorm bn(5);
  train_a_little(bn, {8, 5});
  REQUIRE(bn->num_batches_tracked.item<int64_t>() == 3);
  bn->reset_running_stats();
  CHECK(torch::equal(bn->running_mean, torch::zeros({5})));
  CHECK(torch::equal(bn->running_var, torch::ones({5})));
  CHECK(bn->num_batches_tracked.item<int64_t>() == 0);
  CHECK_FALSE(torch::equal(bn->weight, torch::ones({5})));  // parameters untouched
  bn->reset_parameters();
  CHECK(torch::equal(bn->weight, torch::ones({5})));
  CHECK(torch::equal(bn->bias, torch::zeros({5})));
}

TEST_CASE("momentum none keeps the cumulative average of batch statistics", "[bn][module]") {
  BatchNorm bn(BatchNormOptions(2).momentum(c10::nullopt));
  bn->to(torch::kFloat64);
  std::vector<torch::Tensor> means;
  for (int step = 0; step < 5; ++step) {
    auto x = torch::randn({10, 2}, torch::kFloat64) + step;
    means.push_back(x.mean(0));
    bn(x);
  }
  // Exact arithmetic gives the plain average; float64 rounding stays ~1e-15.
  CHECK_THAT(bn->running_mean, AllClose(torch::stack(means).mean(0), 0, 1e-12));
  CHECK(bn->num_batches_tracked.item<int64_t>() == 5);
}

TEST_CASE("eval mode uses running statistics - without them, batch statistics", "[bn][module]") {
  auto x = torch::randn({6, 3, 4}) * 3 + 2;
  SECTION("tracking: eval output is the affine map of the running stats") {
    BatchNorm bn(3);
    train_a_little(bn, {6, 3, 4});
    bn->eval();
    const auto before = bn->running_mean.clone();
    auto expected = (x - bn->running_mean.view({1, 3, 1})) /
                        (bn->running_var.view({1, 3, 1}) + 1e-5).sqrt() * bn->weight.view({1, 3, 1}) +
                    bn->bias.view({1, 3, 1});
    // float32 arithmetic on O(1) values: a few ulps.
    CHECK_THAT(bn(x).detach(), AllClose(expected.detach(), 1e-5, 1e-5));
    CHECK(torch::equal(bn->running_mean, before));  // eval never updates
  }
  SECTION("not tracking: eval normalises with the batch's statistics") {
    BatchNorm bn(BatchNormOptions(3).track_running_stats(false).affine(false));
    bn->eval();
    auto y = bn(x);
    CHECK_THAT(y.mean(std::vector<int64_t>{0, 2}), AllClose(torch::zeros({3}), 0, 1e-5));
  }
}

TEST_CASE("an input of unsupported rank is refused before any state changes, as native", "[bn][module][edge]") {
  const auto x = torch::randn({2, 3, 4, 4, 4});  // 5D
  BatchNorm ours(3);
  torch::nn::BatchNorm2d native(3);
  REQUIRE_THROWS_WITH(ours(x), Catch::Matchers::Contains("got 5D input"));
  REQUIRE_THROWS(native(x));
  CHECK(ours->num_batches_tracked.item<int64_t>() == 0);
  CHECK(native->num_batches_tracked.item<int64_t>() == 0);
  SECTION("so does one value per channel in training") {
    REQUIRE_THROWS_WITH(ours(torch::randn({1, 3})), Catch::Matchers::Contains("more than 1 value per channel"));
    CHECK(ours->num_batches_tracked.item<int64_t>() == 0);
  }
}

TEST_CASE("state saves and loads, and moves between native and ours", "[bn][module][serialize]") {
  bnlab::test::TempDir dir;
  const auto path = (dir / "bn.pt").string();
  auto x = torch::randn({4, 6, 5, 5});

  SECTION("ours -> ours") {
    BatchNorm a(6), b(6);
    train_a_little(a, {4, 6, 5, 5});
    torch::save(a, path);
    torch::load(b, path);
    a->eval();
    b->eval();
    CHECK(torch::equal(a(x), b(x)));  // same code, same state: bitwise
    CHECK(b->num_batches_tracked.item<int64_t>() == 3);
  }
  SECTION("native -> ours -> native") {
    torch::nn::BatchNorm2d native(6), native_back(6);
    BatchNorm ours(6);
    train_a_little(native, {4, 6, 5, 5});
    torch::save(native, path);
    torch::load(ours, path);
    torch::save(ours, path);
    torch::load(native_back, path);
    native->eval();
    ours->eval();
    native_back->eval();
    // Different arithmetic (ours in float64 internally): float32 ulps.
    CHECK_THAT(ours(x).detach(), AllClose(native(x).detach(), 1e-5, 1e-5));
    CHECK(torch::equal(native_back(x), native(x)));
    CHECK(torch::equal(native_back->running_var, native->running_var));
  }
}

TEST_CASE("pretty_print names the options", "[bn][module]") {
  std::ostringstream text;
  BatchNorm(BatchNormOptions(4).momentum(c10::nullopt))->pretty_print(text);
  CHECK(text.str() == "bnlab::BatchNorm(4, eps=1e-05, momentum=None, affine=true, track_running_stats=true, kernels=fused)");
}
