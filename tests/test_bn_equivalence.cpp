// bnlab's BatchNorm against torch::nn::BatchNorm1d/2d: outputs, gradients
// and running statistics over tables of cases. The comparison itself lives
// in src/bn/equivalence.cpp and is shared with `bnlab verify`; tolerances
// (and why) are in default_tolerance() there: float32 1e-5 abs+rel, float64
// 1e-10 abs+rel. A float32 quantity outside tolerance passes only when it is
// closer than float32 native to float64 native BN (native's own rounding).
#include <catch2/catch.hpp>

#include "bn/fused_kernels.h"
#include "core/cpu.h"
#include "verify/equivalence.h"

using bnlab::verify::CaseReport;
using bnlab::verify::EquivalenceCase;

namespace {

void require_equivalent(const CaseReport& report) {
  INFO(report.test_case.describe() << " vs " << report.reference);
  for (const auto& q : report.quantities) {
    INFO(q.name << ": max abs " << q.max_abs << ", max rel " << q.max_rel << " (atol "
                << q.tolerance.atol << ", rtol " << q.tolerance.rtol << ")");
    CHECK(q.pass);
  }
}

}  // namespace

TEST_CASE("BatchNorm equals native on the standard table of cases", "[bn][equivalence]") {
  // 9 shapes (N=2, odd sizes, (N,C,L), 4D, 1x1 spatial) x 2 dtypes x 3
  // momenta, with affine, track_running_stats, train/eval and contiguity
  // cycled across them; 3 consecutive steps each.
  const auto cases = bnlab::verify::for_each_kernels(bnlab::verify::standard_cases(),
                                                     {bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused});
  const auto index = GENERATE_COPY(range<size_t>(0, cases.size()));
  require_equivalent(bnlab::verify::compare_with_native(cases[index], 1000 + index));
}

TEST_CASE("BatchNorm equals native on edge inputs", "[bn][equivalence][edge]") {
  // NaN and Inf (they propagate to y, dx and the running statistics as in
  // native), magnitudes up to the float maximum (float32: where native rounds
  // worse, closer to the float64 truth passes), empty batches (empty output,
  // statistics untouched) and channels-last input (output keeps the format).
  const auto cases = bnlab::verify::for_each_kernels(bnlab::verify::edge_cases(),
                                                     {bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused});
  const auto index = GENERATE_COPY(range<size_t>(0, cases.size()));
  require_equivalent(bnlab::verify::compare_with_native(cases[index], 2000 + index));
}

TEST_CASE("BatchNorm equals native for every switch combination", "[bn][equivalence]") {
  const auto affine = GENERATE(true, false);
  const auto track = GENERATE(true, false);
  const auto training = GENERATE(true, false);
  const auto non_contiguous = GENERATE(true, false);
  // No fused ReLU, one after BN, one before it.
  const auto [relu, relu_input] = GENERATE(table<bool, bool>({{false, false}, {true, false}, {false, true}}));
  const auto shape = GENERATE(std::vector<int64_t>{6, 5}, std::vector<int64_t>{4, 3, 6},
                              std::vector<int64_t>{3, 2, 5, 4});
  const bool max_pool = GENERATE(false, true);  // then torch::max_pool2d(2) on native's side
  if (max_pool && shape.size() != 4) return;
  EquivalenceCase c;
  c.max_pool = max_pool;
  c.kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  c.shape = shape;
  c.dtype = torch::kFloat64;  // tight tolerance: any wrong term shows
  c.affine = affine;
  c.track_running_stats = track;
  c.training = training;
  c.non_contiguous = non_contiguous;
  c.relu = relu;
  c.relu_input = relu_input;
  c.steps = 2;
  require_equivalent(bnlab::verify::compare_with_native(c, 7));
}

TEST_CASE("running statistics track native over many steps for each momentum", "[bn][equivalence]") {
  EquivalenceCase c;
  c.kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  c.shape = {16, 8, 5};
  c.dtype = GENERATE(torch::kFloat32, torch::kFloat64);
  c.momentum = GENERATE(std::optional<double>(0.1), std::optional<double>(0.5), std::optional<double>());
  c.steps = 12;
  c.offset = 0.5;  // a drifting mean makes the running average visible
  auto report = bnlab::verify::compare_with_native(c, 3);
  require_equivalent(report);
  CHECK(report.find("num_batches_tracked")->max_abs == 0);  // an integer count: exact
}

TEST_CASE("large offset, small spread: at least as accurate as native", "[bn][equivalence][numerics]") {
  // mean 1e4, std 1e-2 in float32: E[x^2]-E[x]^2 would lose every digit, and
  // native BN itself is off by ~0.1 in y (it folds the mean into a float32
  // shift). The truth is native BN in float64 on the same inputs.
  auto shape = GENERATE(std::vector<int64_t>{64, 8}, std::vector<int64_t>{16, 8, 10, 10},
                        std::vector<int64_t>{32, 4, 9});
  auto c = bnlab::verify::large_offset_case(shape);
  c.kernels = GENERATE(bnlab::bn::Kernels::kReference, bnlab::bn::Kernels::kFused);
  c.relu = GENERATE(false, true);
  auto report = bnlab::verify::compare_with_native(c, 11);
  require_equivalent(report);
  for (const char* name : {"y", "dx", "dweight", "dbias"}) {
    const auto* q = report.find(name);
    CAPTURE(name, *q->ours_vs_float64, *q->native_vs_float64);
    CHECK(*q->ours_vs_float64 <= *q->native_vs_float64);
  }
  // y is O(1); ours is within a few float32 roundings of the truth (the
  // fused kernels compute in float32 after exact centring).
  CHECK(*report.find("y")->ours_vs_float64 < 1e-5);
}

TEST_CASE("layers of 8 MB and more (streaming stores) equal native too", "[bn][equivalence]") {
  // The fused kernels write dx of such layers (and y, where 4x the layer
  // exceeds the L3) through non-temporal stores (fused_kernels.cpp); the
  // other cases are all far smaller. test_bn_streaming.cpp runs both kinds
  // of stores whatever the caches.
  EquivalenceCase c;
  c.kernels = bnlab::bn::Kernels::kFused;
  // Odd sizes: rows start unaligned.
  c.shape = GENERATE(std::vector<int64_t>{2053, 1024}, std::vector<int64_t>{65, 32, 31, 33});
  c.dtype = torch::kFloat32;
  std::tie(c.relu, c.relu_input) = GENERATE(table<bool, bool>({{false, false}, {true, false}, {false, true}}));
  // dweight and dbias sum 66k values per channel of (65,32,31,33). Ours sums
  // them in float32 runs of ~32 values folded into double, native in double:
  // ours is off by ~eps * sqrt(66k / 32) * (a run's size ~6) ~ 1e-4 absolute
  // on sums whose terms add up to ~4e4 in magnitude (seen: 1.4e-4 where the
  // channel's sum cancelled down to 6.3, with the ReLU before BN). 5e-4
  // leaves margin and still flags a wrong term, which is O(1) or more.
  c.sum_tolerance = bnlab::verify::Tolerance{5e-4, 1e-5};
  c.steps = 1;
  require_equivalent(bnlab::verify::compare_with_native(c, 11));
}

TEST_CASE("the whole-layer kernels block channels by the cache budget", "[bn]") {
  using bnlab::bn::fused::channels_per_block;
  // N, C, S, bytes a value, tensors read twice, budget -> channels per block.
  const auto [N, C, S, bytes, reread, budget, block] =
      GENERATE(table<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>({
          {32, 32, 676, 4, 1, 512 << 10, 6},     // 86.5 KB a channel: 6 of them in 512 KB
          {32, 32, 676, 4, 2, 512 << 10, 3},     // dy and x: half as many
          {32, 32, 676, 4, 2, 256 << 10, 1},     // 173 KB a channel: one
          {256, 32, 676, 4, 1, 512 << 10, 32},   // 692 KB a channel, over budget: no blocks
          {2, 32, 676, 4, 2, 512 << 10, 32},     // the whole layer fits: no blocks
          {4096, 512, 1, 4, 2, 512 << 10, 512},  // (N, C) rows hold every channel: no blocks
          {8, 67, 1024, 8, 1, 512 << 10, 8},     // double
          {0, 5, 9, 4, 2, 512 << 10, 5},         // empty batch
      }));
  CAPTURE(N, C, S, bytes, reread, budget);
  CHECK(channels_per_block(N, C, S, bytes, reread, budget) == block);
}

TEST_CASE("layers processed in channel blocks equal native too", "[bn][equivalence]") {
  // (8,67,32,32): 32 KB a channel, 2.1 MB in all, so blocked forward and
  // backward for every L2 of 256 KB to 8 MB (budget a quarter of it), in
  // blocks that do not divide 67 channels; with each fused ReLU. Seen to
  // fail (18 of 36 checks) with the last channel of each range skipped.
  EquivalenceCase c;
  c.kernels = bnlab::bn::Kernels::kFused;
  c.shape = {8, 67, 32, 32};
  c.dtype = torch::kFloat32;
  const int64_t budget = bnlab::l2_cache_bytes() / 4;
  REQUIRE(bnlab::bn::fused::channels_per_block(8, 67, 1024, 4, 1, budget) < 67);
  REQUIRE(bnlab::bn::fused::channels_per_block(8, 67, 1024, 4, 2, budget) < 67);
  std::tie(c.relu, c.relu_input) = GENERATE(table<bool, bool>({{false, false}, {true, false}, {false, true}}));
  c.isa = GENERATE(from_range(bnlab::supported_isas()));  // every compiled copy this CPU runs
  c.steps = 2;
  require_equivalent(bnlab::verify::compare_with_native(c, 13));
}
