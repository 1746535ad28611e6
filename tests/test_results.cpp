// Results tooling on golden fixtures: diff, report tables, plots.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "core/process.h"
#include "results/diff.h"
#include "results/plot.h"
#include "results/report.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

using namespace bnlab::results;
using namespace bnlab::runs;
using bnlab::test::run_bnlab;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;

namespace {

const std::filesystem::path kFixtures = BNLAB_TEST_FIXTURES;

std::string fixture(const std::string& name) { return (kFixtures / "diff" / name).string(); }

TableDiff diff_files(const std::string& a, const std::string& b, DiffOptions options = {}) {
  return diff_tables(read_csv(fixture(a)), read_csv(fixture(b)), options);
}

}  // namespace

TEST_CASE("diff: equal, within tolerance and beyond", "[results][diff]") {
  SECTION("identical metrics with other timings are equal (timing skipped)") {
    auto diff = diff_files("base.csv", "timing_only.csv");
    CHECK(diff.equal());
    CHECK(diff.cells_compared == 3 * 6);  // loss, accuracy, val_loss, val_accuracy, lr, steps
  }
  SECTION("timing columns count with include_timing") {
    DiffOptions options;
    options.include_timing = true;
    CHECK(diff_files("base.csv", "timing_only.csv", options).cells.size() == 6);
  }
  SECTION("exact comparison sees both small changes") {
    auto diff = diff_files("base.csv", "small_changes.csv");
    REQUIRE(diff.cells.size() == 2);
    CHECK(diff.cells[0].key == "epoch=3");  // columns in file order: loss before val_accuracy
    CHECK(diff.cells[0].column == "loss");
    CHECK_THAT(diff.cells[0].rel_diff, WithinAbs(0.00008 / 0.08008, 1e-12));
    CHECK(diff.cells[1].key == "epoch=2");
    CHECK_THAT(diff.cells[1].abs_diff, WithinAbs(1e-6, 1e-12));
  }
  SECTION("atol covers the 1e-6 change, not the 1e-3 relative one") {
    DiffOptions options;
    options.atol = 2e-6;
    auto diff = diff_files("base.csv", "small_changes.csv", options);
    REQUIRE(diff.cells.size() == 1);
    CHECK(diff.cells[0].column == "loss");
  }
  SECTION("rtol 2e-3 covers both") {
    DiffOptions options;
    options.rtol = 2e-3;
    CHECK(diff_files("base.csv", "small_changes.csv", options).equal());
  }
  SECTION("--columns and --ignore") {
    DiffOptions only;
    only.columns = {"val_accuracy"};
    CHECK(diff_files("base.csv", "small_changes.csv", only).cells.size() == 1);
    DiffOptions ignore;
    ignore.ignore = {"loss", "val_accuracy"};
    CHECK(diff_files("base.csv", "small_changes.csv", ignore).equal());
  }
  SECTION("NaN equals NaN, not a number") {
    CHECK(diff_files("diverged.csv", "diverged.csv").equal());
    auto diff = diff_files("base.csv", "diverged.csv");
    CHECK(diff.cells.size() == 3);  // loss, val_loss, val_accuracy of epoch 3
  }
}

TEST_CASE("diff: rows are matched by key, missing rows reported", "[results][diff]") {
  auto diff = diff_files("base.csv", "rows_changed.csv");
  CHECK(diff.cells.empty());  // epochs 1 and 2 match despite the order
  CHECK(diff.only_in_a == std::vector<std::string>{"epoch=3"});
  CHECK(diff.only_in_b == std::vector<std::string>{"epoch=4"});
  CHECK_FALSE(diff.equal());
}

TEST_CASE("diff: stage,epoch is the key when both have a stage column", "[results][diff]") {
  auto diff = diff_files("stages_a.csv", "stages_b.csv");
  CHECK(diff.key_columns == std::vector<std::string>{"stage", "epoch"});
  REQUIRE(diff.cells.size() == 1);
  CHECK(diff.cells[0].key == "stage=finetune,epoch=1");
}

TEST_CASE("diff: a column of words (a bench CSV's isa, commit) is compared as text", "[results][diff]") {
  DiffOptions options;
  options.key = {"shape", "impl"};
  SECTION("numbers by the tolerances, words equal when the same") {
    auto diff = diff_files("bench_a.csv", "bench_b.csv", options);
    REQUIRE(diff.cells.size() == 2 + 3);  // median_ms and ratio_to_native of 32x128 fused; isa in every row
    CHECK(diff.cells[0].column == "median_ms");
    CHECK_FALSE(diff.cells[0].text);
    CHECK(diff.cells[2].column == "isa");
    CHECK(diff.cells[2].text);
    CHECK(diff.cells[2].a == "avx512");
    CHECK(diff.cells[2].b == "avx2");
    const auto commit =
        std::find_if(diff.columns.begin(), diff.columns.end(), [](auto& c) { return c.column == "commit"; });
    REQUIRE(commit != diff.columns.end());
    CHECK(commit->text);
    CHECK(commit->compared == 3);
    CHECK(commit->differing == 0);
    std::ostringstream text;
    write_diff_text(text, diff);
    CHECK_THAT(text.str(), Contains("isa            3 of 3 differ (text)") && Contains("avx512"));
    options.ignore = {"isa"};
    options.rtol = 0.05;
    CHECK(diff_files("bench_a.csv", "bench_b.csv", options).equal());
  }
  SECTION("a word where the other table's first row has a number is an error, not text") {
    REQUIRE_THROWS_WITH(diff_files("bench_numeric_isa.csv", "bench_b.csv", options),
                        Contains("bench_b.csv") && Contains("row 1, column 'isa': 'avx2' is not a number"));
  }
}

TEST_CASE("diff: bad inputs are errors naming the problem", "[results][diff]") {
  REQUIRE_THROWS_WITH(diff_files("base.csv", "bad_cell.csv"),
                      Contains("bad_cell.csv") && Contains("row 2, column 'val_loss': 'oops' is not a number"));
  // An empty cell is a missing number, not a word (the column is not compared as text).
  REQUIRE_THROWS_WITH(diff_files("empty_cell.csv", "empty_cell.csv"),
                      Contains("row 1, column 'val_loss': '' is not a number"));
  REQUIRE_THROWS_WITH(diff_files("base.csv", "other_columns.csv"),
                      Contains("different columns") && Contains("[val_accuracy]") && Contains("[val_acc]"));
  REQUIRE_THROWS_WITH(diff_files("base.csv", "duplicate_key.csv"), Contains("duplicate key epoch=1 (rows 1 and 2)"));
  REQUIRE_THROWS_WITH(read_csv(fixture("empty.csv")), Contains("empty file"));
  REQUIRE_THROWS_WITH(diff_files("base.csv", "header_only.csv"), Contains("header_only.csv: no data rows"));
  REQUIRE_THROWS_WITH(read_csv(fixture("none.csv")), Contains("none.csv: no such file"));
  DiffOptions key;
  key.key = {"step"};
  REQUIRE_THROWS_WITH(diff_files("base.csv", "base.csv", key), Contains("no key column 'step'"));
}

TEST_CASE("diff command exit codes: 0 equal, 1 different, 2 error", "[results][diff][cli]") {
  const auto [a, b, extra, code, message] = GENERATE(table<std::string, std::string, std::string, int, std::string>({
      {"base.csv", "timing_only.csv", "", 0, "equal within tolerance"},
      {"base.csv", "small_changes.csv", "", 1, "2 differ"},
      {"base.csv", "small_changes.csv", "--rtol=0.002", 0, "equal within tolerance"},
      {"base.csv", "rows_changed.csv", "", 1, "row epoch=3 only in A"},
      {"base.csv", "bad_cell.csv", "", 2, "is not a number"},
      {"base.csv", "other_columns.csv", "", 2, "different columns"},
      {"base.csv", "duplicate_key.csv", "", 2, "duplicate key"},
      {"base.csv", "empty.csv", "", 2, "empty file"},
      {"base.csv", "missing.csv", "", 2, "no such file"},
      {"base.csv", "small_changes.csv", "--format=csv", 1, "run,key,column,a,b,abs_diff,rel_diff"},
      {"bench_a.csv", "bench_b.csv", "--key=shape,impl", 1, "isa            3 of 3 differ (text)"},
      {"bench_a.csv", "bench_b.csv", "", 2, "no key column 'epoch'"},
      {"base.csv", "base.csv", "--format=xml", 2, "--format: expected text or csv"},
  }));
  std::vector<std::string> args = {"diff", fixture(a), fixture(b)};
  if (!extra.empty()) args.push_back(extra);
  auto result = run_bnlab(args);
  CAPTURE(args, result.output);
  CHECK(result.exit_code == code);
  CHECK_THAT(result.output, Contains(message));
}

TEST_CASE("diff of experiment folders matches runs by variant and seed", "[results][diff]") {
  const auto a = resolve_results_path(kFixtures / "runs" / "fixture-exp");
  const auto b = resolve_results_path(kFixtures / "runs" / "fixture-exp-b");
  REQUIRE(a.kind == ResultsPathKind::kExperimentDir);
  const auto diff = diff_experiments(a.runs, b.runs, {});
  CHECK(diff.runs.size() == 3);
  CHECK(diff.only_in_a == std::vector<std::string>{"plain/seed-1"});
  CHECK(diff.only_in_b == std::vector<std::string>{"bn/seed-2"});
  size_t different = 0;
  for (const auto& run : diff.runs) different += !run.equal();
  CHECK(different == 1);
  auto cli = run_bnlab({"diff", a.path.string(), b.path.string()});
  CHECK(cli.exit_code == 1);
  CHECK_THAT(cli.output, Contains("3 runs compared, 2 equal, 1 different; 1 only in A, 1 only in B"));
}

TEST_CASE("report table from fixture runs", "[results][report]") {
  ReportOptions options;
  options.threshold = 0.94;
  options.plots = false;
  const auto report = build_report(kFixtures / "runs" / "fixture-exp", options);
  REQUIRE(report.variants.size() == 2);
  const auto& bn = report.variants[0].variant == "bn" ? report.variants[0] : report.variants[1];
  const auto& plain = report.variants[0].variant == "plain" ? report.variants[0] : report.variants[1];
  // plain: finals 0.95 and 0.93; bn: 0.97 and 0.99. Sample std of two values d apart is d/sqrt(2).
  CHECK_THAT(plain.final_val_accuracy.mean, WithinAbs(0.94, 1e-12));
  CHECK_THAT(plain.final_val_accuracy.std, WithinAbs(0.02 / std::sqrt(2.0), 1e-12));
  CHECK_THAT(bn.best_val_accuracy.mean, WithinAbs(0.98, 1e-12));
  CHECK_THAT(plain.final_loss.mean, WithinAbs(0.3, 1e-12));
  CHECK(plain.reached_threshold == 1);  // seed 1 peaks at 0.93
  CHECK_THAT(bn.epochs_to_threshold.mean, WithinAbs(1.0, 1e-12));
  CHECK_THAT(plain.ms_per_step, WithinAbs(0.65, 1e-12));  // median of 0.5 0.6 0.7 0.8
  CHECK(plain.statuses.at("completed") == 1);
  CHECK(plain.statuses.at("diverged") == 1);

  const auto markdown = render_markdown(report);
  CHECK_THAT(markdown, Contains("| plain | 2 | 0.9400 ± 0.0141 | 0.9400 ± 0.0141 | 0.3000 ± 0.1414 | 2 (1/2 runs) | 0.650 | 1 completed, 1 diverged |"));
  CHECK_THAT(markdown, Contains("| bn | 2 | 0.9800 ± 0.0141 |"));
}

TEST_CASE("plots are valid non-empty SVG and PNG files", "[results][plot]") {
  // CI installs gnuplot (scripts/setup.sh); without it this fails with the install command.
  REQUIRE(bnlab::program_on_path("gnuplot"));
  bnlab::test::TempDir dir;
  const auto runs = resolve_results_path(kFixtures / "runs" / "fixture-exp").runs;
  const auto figure = training_curves(runs, {"loss", "val_accuracy"}, "epoch", "fixture");
  CHECK(figure.panels.size() == 2);
  // Without an experiment file, variants come in name order: bn, plain.
  CHECK(figure.panels[1].series[1].label == "plain (2 seeds)");
  CHECK(figure.panels[1].series[1].curve.max == std::vector<double>{0.92, 0.95});  // band over seeds

  render_figure(figure, dir / "c.svg");
  render_figure(figure, dir / "c.png");
  std::ifstream svg(dir / "c.svg");
  std::string text((std::istreambuf_iterator<char>(svg)), {});
  CHECK_THAT(text, Contains("<svg") && Contains("</svg>") && Contains("validation accuracy"));
  std::ifstream png(dir / "c.png", std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  CHECK(std::string(magic, 8) == "\x89PNG\r\n\x1a\n");
  CHECK(std::filesystem::file_size(dir / "c.png") > 1000);
  REQUIRE_THROWS_WITH(render_figure(figure, dir / "c.jpg"), Contains("plots are written as .svg or .png"));
}

TEST_CASE("report command writes report.md and curves", "[results][report][cli]") {
  bnlab::test::TempDir root;
  std::filesystem::copy(kFixtures / "runs" / "fixture-exp", root / "fixture-exp", std::filesystem::copy_options::recursive);
  auto result = run_bnlab({"report", "fixture-exp", "--results", root.path().string(), "--threshold", "0.94"});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("final val_accuracy") && Contains("0.9400 ± 0.0141"));
  for (const char* file : {"report.md", "curves.svg", "curves.png"})
    CHECK(std::filesystem::file_size(root / "fixture-exp" / file) > 0);
  auto missing = run_bnlab({"report", "nothing-here", "--results", root.path().string()});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("no results for 'nothing-here'"));
}

TEST_CASE("plot and report on runs that all failed: a clear error, a report without curves, nothing partial",
          "[results][report][cli][faults]") {
  bnlab::test::TempDir root, no_data, scratch;
  // Runs that fail before their first epoch: the data set is not there.
  const auto runs = run_bnlab(
      {"run", "smoke", "--out", root.path().string(), "--set", "dataset=mnist", "--data-dir", no_data.path().string()});
  REQUIRE(runs.exit_code == 1);
  const std::vector<std::string> tmpdir = {"TMPDIR=" + scratch.path().string()};
  const auto plot = run_bnlab({"plot", (root / "smoke").string()}, tmpdir);
  CHECK(plot.exit_code == 1);
  CHECK_THAT(plot.output, Contains("nothing to plot") && Contains("run.json says why"));
  CHECK_FALSE(std::filesystem::exists(root / "smoke" / "curves.svg"));

  const auto report = run_bnlab({"report", "smoke", "--results", root.path().string()}, tmpdir);
  INFO(report.output);
  CHECK(report.exit_code == 0);
  CHECK_THAT(report.output, Contains("1 failed") && Contains("curves skipped"));
  CHECK(std::filesystem::exists(root / "smoke" / "report.md"));
  CHECK_FALSE(std::filesystem::exists(root / "smoke" / "curves.svg"));
  CHECK(std::filesystem::is_empty(scratch.path()));  // gnuplot's scratch folders are gone
}
