// GroupNorm, LayerNorm and InstanceNorm (src/gn): equal to LibTorch's modules
// on every shape the models use (verify::group_family_cases), an oracle
// seen to fail the wrong grouping, the group counts models pick, and the
// refusals.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "bench/bn_bench.h"
#include "gn/group_norm.h"
#include "models/norm.h"
#include "support/tensor_matchers.h"
#include "verify/equivalence.h"

using bnlab::bn::Kernels;
using bnlab::gn::GroupNorm;
using bnlab::gn::GroupNormOptions;
using bnlab::test::AllClose;
using Catch::Matchers::Contains;
namespace verify = bnlab::verify;

TEST_CASE("bnlab's GroupNorm, LayerNorm and InstanceNorm equal LibTorch's on the models' shapes", "[gn][verify]") {
  const auto family = GENERATE(verify::NormFamily::kGroup, verify::NormFamily::kLayer, verify::NormFamily::kInstance);
  uint64_t seed = 31;
  for (const auto& c :
       verify::for_each_kernels(verify::group_family_cases(family), {Kernels::kReference, Kernels::kFused})) {
    const auto report = verify::compare_with_native(c, seed++);
    INFO(c.describe() << " vs " << report.reference << "\n" << report.failure_summary());
    CHECK(report.pass());
  }
}

TEST_CASE("the group-norm oracle fails the wrong grouping", "[gn][verify]") {
  // Ours with another group count than the reference: LayerNorm where
  // GroupNorm is expected, GroupNorm(G) where InstanceNorm is, and G / 2
  // groups against G. Each must fail y and dx; float64 cases.
  const auto regroup = [](verify::NormFamily family, int64_t groups) {
    return [family, groups](const verify::EquivalenceCase& c) {
      auto changed = c;
      changed.family = family;
      changed.groups = groups;
      return verify::bnlab_norm(changed);
    };
  };
  const auto group = verify::group_family_cases(verify::NormFamily::kGroup, torch::kFloat64).front();
  const auto instance = verify::group_family_cases(verify::NormFamily::kInstance, torch::kFloat64).front();
  REQUIRE(group.groups > 2);
  for (const auto& [c, wrong] : {std::pair{group, regroup(verify::NormFamily::kLayer, 0)},
                                 std::pair{group, regroup(verify::NormFamily::kGroup, group.groups / 2)},
                                 std::pair{instance, regroup(verify::NormFamily::kGroup, 2)}}) {
    const auto report = verify::compare_with_native(c, 4, wrong);
    CAPTURE(c.describe());
    CHECK_FALSE(report.find("y")->pass);
    CHECK_FALSE(report.find("dx")->pass);
  }
}

TEST_CASE("GroupNorm: state names as torch::nn::GroupNorm, the same in train and eval", "[gn]") {
  GroupNorm ours(GroupNormOptions(4, 8).kernels(Kernels::kFused));
  torch::nn::GroupNorm native(4, 8);
  CHECK(ours->named_parameters().keys() == native->named_parameters().keys());
  CHECK(ours->named_buffers().size() == 0);  // no running statistics
  const auto x = torch::randn({3, 8, 5, 5});
  const auto y_train = ours->forward(x);
  ours->eval();
  // Identical computation in both modes: bit for bit.
  CHECK(torch::equal(ours->forward(x), y_train));
  // Channels-last in, channels-last out (as native GroupNorm).
  CHECK(ours->forward(x.contiguous(at::MemoryFormat::ChannelsLast)).is_contiguous(at::MemoryFormat::ChannelsLast));
  std::ostringstream printed;
  printed << *ours;
  CHECK_THAT(printed.str(), Contains("bnlab::GroupNorm(4, 8, eps=1e-05, affine=true, kernels=fused)"));
}

TEST_CASE("GroupNorm refuses bad arguments with the values seen", "[gn]") {
  REQUIRE_THROWS_WITH(GroupNorm(GroupNormOptions(3, 8)),
                      Contains("num_channels (8) must be divisible by num_groups (3)"));
  GroupNorm layer(GroupNormOptions(2, 4));
  REQUIRE_THROWS_WITH(layer->forward(torch::randn({2, 6})), Contains("expected an input (N, 4, *), got shape [2, 6]"));
  REQUIRE_THROWS_WITH(layer->forward(torch::randn({2, 4}, torch::kFloat64)), Contains("weight has dtype Float"));
  REQUIRE_THROWS_WITH(layer->forward(torch::zeros({2, 4}, torch::kInt32)), Contains("float32 or float64 input"));
  // An empty batch: an empty output, like native.
  CHECK(layer->forward(torch::randn({0, 4, 3})).sizes() == std::vector<int64_t>{0, 4, 3});
}

TEST_CASE("the group counts models pick per layer", "[gn][models]") {
  using bnlab::models::groups_for_layer;
  using bnlab::models::NormKind;
  using bnlab::models::NormOptions;
  const auto options = [](NormKind kind, int64_t groups) {
    NormOptions o;
    o.kind = kind;
    o.groups = groups;
    return o;
  };
  // auto: the largest divisor <= 32 leaving 8 values per group.
  const auto [channels, dense, expected] = GENERATE(table<int64_t, bool, int64_t>({{128, true, 16},
                                                                                   {64, true, 8},
                                                                                   {100, true, 10},
                                                                                   {32, true, 4},
                                                                                   {16, true, 2},
                                                                                   {6, true, 1},
                                                                                   {32, false, 32},
                                                                                   {64, false, 32},
                                                                                   {12, false, 12}}));
  CAPTURE(channels, dense);
  CHECK(groups_for_layer(options(NormKind::kGroup, 0), channels, dense) == expected);
  CHECK(groups_for_layer(options(NormKind::kNativeGroup, 0), channels, dense) == expected);
  CHECK(groups_for_layer(options(NormKind::kLayer, 0), channels, dense) == 1);
  // Explicit counts: used when they divide, one group per channel below them.
  CHECK(groups_for_layer(options(NormKind::kGroup, 4), 64, true) == 4);
  CHECK(groups_for_layer(options(NormKind::kGroup, 32), 16, false) == 16);
  REQUIRE_THROWS_WITH(groups_for_layer(options(NormKind::kGroup, 3), 64, true),
                      Contains("gn.groups = 3 does not divide a layer's 64 channels"));
  REQUIRE_THROWS_WITH(groups_for_layer(options(NormKind::kGroup, 32), 16, true),
                      Contains("16 groups leave one value per group (y would be beta); choose fewer groups"));
  REQUIRE_THROWS_WITH(groups_for_layer(options(NormKind::kInstance, 0), 64, true),
                      Contains("instance norm on a Dense layer of 64 channels"));
}

TEST_CASE("bench bn times the group norms against LibTorch's", "[gn][bench]") {
  bnlab::bench::BnBenchOptions options;
  options.norm = bnlab::bench::BenchNorm::kInstance;
  options.shapes = {{8, 16}, {4, 8, 6, 6}};  // instance: the 2D shape has nothing to time
  options.seconds_per_case = 0.01;
  const auto rows = bnlab::bench::bench_batch_norm(options);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].impl == "native");
  CHECK(rows[0].ratio_to_native == 1.0);
  CHECK(rows[2].impl == "fused");
  CHECK(rows[2].shape == std::vector<int64_t>{4, 8, 6, 6});
}
