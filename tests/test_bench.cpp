// The training benchmark's bookkeeping (its timings are for people to read,
// not for tests to judge).
#include <catch2/catch.hpp>

#include "bench/train_bench.h"

TEST_CASE("bench train times every configuration of a case, each with its own samples", "[bench]") {
  bnlab::bench::TrainBenchOptions options;
  options.experiments = {"keras-mlp"};
  options.batch_sizes = {32};
  options.norms = {"none", "native", "custom"};
  options.threads = {1};
  options.seconds_per_case = 0.02;
  const auto rows = bnlab::bench::bench_training(options);
  REQUIRE(rows.size() == 3);
  for (size_t i = 0; i < rows.size(); ++i) {
    CAPTURE(i);
    CHECK(rows[i].experiment == "keras-mlp");
    CHECK(rows[i].batch_size == 32);
    CHECK(rows[i].norm == options.norms[i]);
    // Five turns at least, each with at least one timed step.
    CHECK(rows[i].timing.samples >= 5);
    CHECK(rows[i].timing.p25 <= rows[i].timing.median);
    CHECK(rows[i].timing.median <= rows[i].timing.p75);
  }
  CHECK(rows[0].ratio_to_none == 1.0);
  CHECK(rows[1].ratio_to_none == rows[1].timing.median / rows[0].timing.median);
}
