#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <limits>

#include "core/cpu.h"
#include "pool/max_pool.h"

using namespace bnlab;

namespace {

struct PoolResult {
  torch::Tensor y, dx;
};

template <typename Pool>
PoolResult pool_with_grad(Pool&& pool, const torch::Tensor& x, const torch::Tensor& dy) {
  auto input = x.detach().clone().requires_grad_(true);
  auto y = pool(input);
  y.backward(dy);
  return {y.detach(), input.grad()};
}

}  // namespace

// Exact equality, no tolerance: pooling only moves values, so any difference
// is a different choice of window element.
TEST_CASE("MaxPool2x2 equals torch::nn::MaxPool2d(2) in values and gradients", "[pool]") {
  const auto isa = GENERATE(from_range(supported_isas()));  // every compiled copy this CPU runs
  const ScopedIsa copy(isa);
  const auto dtype = GENERATE(torch::kFloat32, torch::kFloat64);
  // Row lengths (OW) that take every path of the kernels: 1, 4, 5, 6, 7, 10,
  // 13 (the CNN's), 15, 16, 17 and 32: a single window, part of a vector,
  // whole vectors and what is left after them (AVX2's unpool goes four
  // windows a step: 0 to 3 are left); odd H and W leave a row or column out.
  const auto shape =
      GENERATE(std::vector<int64_t>{32, 4, 26, 26}, std::vector<int64_t>{2, 3, 7, 9}, std::vector<int64_t>{1, 1, 2, 2},
               std::vector<int64_t>{3, 2, 5, 2}, std::vector<int64_t>{2, 2, 11, 11}, std::vector<int64_t>{1, 2, 3, 13},
               std::vector<int64_t>{1, 3, 4, 14}, std::vector<int64_t>{2, 1, 2, 20}, std::vector<int64_t>{1, 2, 3, 31},
               std::vector<int64_t>{1, 2, 4, 32}, std::vector<int64_t>{2, 1, 4, 35}, std::vector<int64_t>{1, 2, 2, 64});
  const auto data = GENERATE(as<std::string>{}, "gaussian", "relu-ties", "nan-and-inf");
  CAPTURE(to_name(isa), dtype, shape, data);
  torch::manual_seed(3);
  auto x = torch::randn(shape, dtype);
  if (data == "relu-ties") x = x.relu();  // many windows with several zeros: the first must win
  if (data == "nan-and-inf") {
    auto flat = x.view(-1);
    for (int64_t i = 0; i < flat.numel(); i += 7) flat[i] = std::numeric_limits<double>::quiet_NaN();
    for (int64_t i = 3; i < flat.numel(); i += 11) flat[i] = -std::numeric_limits<double>::infinity();
    for (int64_t i = 5; i < flat.numel(); i += 13) flat[i] = std::numeric_limits<double>::infinity();
  }
  const int64_t OH = shape[2] / 2, OW = shape[3] / 2;
  const auto dy = torch::randn({shape[0], shape[1], OH, OW}, dtype);

  torch::nn::MaxPool2d native(2);
  const auto expected = pool_with_grad([&](const torch::Tensor& t) { return native(t); }, x, dy);
  const auto actual = pool_with_grad([](const torch::Tensor& t) { return pool::max_pool_2x2(t); }, x, dy);
  CHECK(torch::equal(actual.y.isnan(), expected.y.isnan()));
  CHECK(torch::equal(actual.y.nan_to_num(0), expected.y.nan_to_num(0)));
  CHECK(torch::equal(actual.dx, expected.dx));
}

TEST_CASE("MaxPool2x2 takes non-contiguous input", "[pool]") {
  torch::manual_seed(4);
  const auto x = torch::randn({4, 6, 3, 8}).permute({0, 3, 2, 1});  // (4,8,3,6), channels-last strides
  torch::nn::MaxPool2d native(2);
  CHECK(torch::equal(pool::max_pool_2x2(x), native(x)));
}

TEST_CASE("MaxPool2x2 rejects what it cannot pool", "[pool]") {
  CHECK_THROWS_WITH(pool::max_pool_2x2(torch::zeros({2, 3, 4})), Catch::Contains("expected a 4D (N,C,H,W) input"));
  CHECK_THROWS_WITH(pool::max_pool_2x2(torch::zeros({2, 3, 1, 4})), Catch::Contains("at least 2x2"));
  CHECK_THROWS_WITH(pool::max_pool_2x2(torch::zeros({2, 3, 4, 4}, torch::kInt32)),
                    Catch::Contains("float32 or float64"));
}
