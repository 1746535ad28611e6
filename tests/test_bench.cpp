// The training benchmark's bookkeeping (its timings are for people to read,
// not for tests to judge).
#include <catch2/catch.hpp>
#include <sstream>

#include "bench/report.h"
#include "bench/timing.h"
#include "bench/train_bench.h"
#include "core/build_info.h"
#include "experiments/catalog.h"
#include "experiments/model_options.h"
#include "models/model.h"
#include "runs/csv_table.h"
#include "support/temp_dir.h"

TEST_CASE("timings: median, quartiles and the mean a few slow samples lift above the median", "[bench]") {
  // Exact: these values and their sum are integers in a double.
  const auto t = bnlab::bench::summarize({3, 1, 1, 1, 1, 1, 1, 1, 10});
  CHECK(t.samples == 9);
  CHECK(t.median == 1);
  CHECK(t.p25 == 1);
  CHECK(t.p75 == 1);
  CHECK(t.mean == 20.0 / 9);
  CHECK(bnlab::bench::summarize({}).mean == 0);
}

TEST_CASE("bench train times every configuration of a case, each with its own samples", "[bench]") {
  bnlab::bench::TrainBenchOptions options;
  options.experiments = {"keras-mlp"};
  options.batch_sizes = {32};
  options.norms = {"none", "native", "custom"};
  options.threads = {1};
  options.seconds_per_case = 0.02;
  const auto result = bnlab::bench::bench_training(options);
  const auto& rows = result.rows;
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
    CHECK(rows[i].timing.mean > 0);
  }
  CHECK(rows[0].ratio_to_none == 1.0);
  CHECK(rows[1].ratio_to_none == rows[1].timing.median / rows[0].timing.median);
  // One floor for the case, timed with the steps; every row measured against it.
  REQUIRE(result.floors.size() == 1);
  const auto& floor = result.floors[0].floor;
  CHECK(floor.gemm_ms > 0);
  CHECK(floor.optimizer_gbps > 0);
  for (const auto& row : rows) CHECK(row.x_floor == row.timing.median / floor.total_ms());

  // Its CSV: a row per configuration with its case's floor, and what ran it
  // (the CPU, the kernel copy, the commit), so that tables can be told apart.
  bnlab::test::TempDir dir;
  bnlab::bench::write_train_csv(dir / "train.csv", result);
  const auto table = bnlab::runs::read_csv(dir / "train.csv");
  REQUIRE(table.rows.size() == 3);
  for (const char* column : {"model", "norm", "median_ms", "mean_ms", "x_floor", "floor_ms", "cpu", "isa", "commit"})
    CHECK(table.has_column(column));
  CHECK(table.rows[2][table.column_index("norm")] == "custom");
  CHECK(table.rows[0][table.column_index("commit")] == bnlab::build_commit());
  std::ostringstream header;
  bnlab::bench::print_train_header(header);
  CHECK_THAT(header.str(), Catch::Matchers::Contains(std::string("(commit ") + bnlab::build_commit() + ")"));
}

TEST_CASE("the floor's GEMM step has the model's Linear and Conv2d layers, and Adam moves 7 floats a parameter",
          "[bench]") {
  const auto traffic = bnlab::bench::optimizer_traffic(bnlab::experiments::TrainConfig{}, 1000);
  CHECK(traffic.moved_bytes == 7 * 1000 * 4);        // Adam (the default): p, g, m, v read; p, m, v written
  CHECK(traffic.working_set_bytes == 4 * 1000 * 4);  // p, g, m, v
  bnlab::experiments::TrainConfig sgd;
  sgd.optimizer = bnlab::experiments::OptimizerKind::kSgd;
  CHECK(bnlab::bench::optimizer_traffic(sgd, 1000).moved_bytes == 3 * 1000 * 4);
  sgd.momentum = 0.9;
  CHECK(bnlab::bench::optimizer_traffic(sgd, 1000).moved_bytes == 5 * 1000 * 4);

  // keras-cnn: a convolution, a dense layer and the logits; keras-mlp: two dense layers and the logits (shapes
  // are found by a forward pass: a wrong one would throw here).
  for (const auto& [experiment, layers] :
       std::vector<std::pair<std::string, size_t>>{{"keras-cnn", 3}, {"keras-mlp", 3}}) {
    const auto loaded = bnlab::experiments::load_experiment(experiment);
    const auto config = loaded.config_for(loaded.variants.front(), {});
    auto model = bnlab::models::build_model(bnlab::experiments::model_options(config));
    bnlab::bench::GemmStep gemms(model, {1, 28, 28}, 8);
    CAPTURE(experiment);
    CHECK(gemms.layers() == layers);
    gemms.run();
  }
}

TEST_CASE("bench bn times a ReLU followed by BatchNorm, and its table says so", "[bench][relu]") {
  // Only the form is checked here (speed is measured by running the
  // benchmark): one small shape, every implementation, and the header and
  // CSV telling this table from BatchNorm alone and from BatchNorm then ReLU.
  bnlab::bench::BnBenchOptions options;
  options.shapes = {{16, 4, 6, 6}};
  options.channels_last = false;
  options.seconds_per_case = 0.01;
  options.relu_before = true;
  bnlab::bench::BnBenchResult result{bnlab::bench::bench_batch_norm(options), false, 1.0,
                                     bnlab::bench::BenchNorm::kBatch, true};
  REQUIRE(result.rows.size() == 3);
  CHECK(result.rows[0].impl == "native");
  CHECK(result.rows[2].impl == "fused");
  CHECK(result.rows[2].ratio_to_native > 0);
  std::ostringstream header;
  bnlab::bench::print_bn_header(header, result);
  CHECK_THAT(header.str(), Catch::Matchers::StartsWith("ReLU followed by BatchNorm forward+backward"));
  bnlab::test::TempDir dir;
  bnlab::bench::write_bn_csv(dir / "bn.csv", result);
  const auto table = bnlab::runs::read_csv(dir / "bn.csv");
  REQUIRE(table.rows.size() == 3);
  for (double relu_before : table.numbers("relu_before")) CHECK(relu_before == 1);
  for (double relu : table.numbers("relu")) CHECK(relu == 0);
}
