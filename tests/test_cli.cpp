// The bnlab binary: dispatch, usage errors and exit codes (0 ok, 1 failure, 2 usage).
#include <torch/version.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "core/build_info.h"
#include "core/cpu.h"
#include "runs/csv_table.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"
#include "verify/equivalence.h"

using bnlab::test::run_bnlab;
using Catch::Matchers::Contains;
using Words = std::vector<std::string>;

TEST_CASE("bad usage exits 2 with a message and usage", "[cli]") {
  const auto [args, message] = GENERATE(table<Words, std::string>({
      {Words{}, "Usage: bnlab"},
      {Words{"frobnicate"}, "unknown command 'frobnicate'"},
      {Words{"verify", "--bogus"}, "bogus"},
      {Words{"verify", "--cases", "many"}, "many"},
      {Words{"verify", "--dtype", "float16"}, "--dtype: expected float32, float64 or both, got 'float16'"},
      {Words{"verify", "--norm", "bogus"}, "--norm: expected batch, ghost, renorm"},
      {Words{"verify", "--threads", "0"}, "--threads must be \"auto\" or 1..1024, got 0"},
      {Words{"data"}, "missing action"},
      {Words{"data", "scrub"}, "unknown action 'scrub'"},
      {Words{"data", "verify", "cifar"}, "unknown data set 'cifar'"},
      {Words{"version", "extra"}, "unexpected argument 'extra'"},
      {Words{"bench"}, "missing benchmark: bn or train"},
      {Words{"bench", "disk"}, "unknown benchmark 'disk'"},
      {Words{"bench", "train", "--relu"}, "--relu applies to bench bn only"},
      {Words{"bench", "train", "--relu-before"}, "--relu-before applies to bench bn only"},
      {Words{"bench", "bn", "--relu", "--relu-before"}, "--relu and --relu-before: choose one"},
      {Words{"bench", "bn", "--norm", "group", "--relu-before"}, "--relu-before applies to --norm batch only"},
  }));
  CAPTURE(args);
  auto result = run_bnlab(args);
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains(message));
}

TEST_CASE("help exits 0 and lists commands and options", "[cli]") {
  auto top = run_bnlab({"--help"});
  CHECK(top.exit_code == 0);
  CHECK_THAT(top.output, Contains("verify") && Contains("data") && Contains("version"));
  auto verify = run_bnlab({"verify", "--help"});
  CHECK(verify.exit_code == 0);
  CHECK_THAT(verify.output, Contains("--cases") && Contains("--threads"));
}

TEST_CASE("version reports LibTorch, BLAS, threads and huge pages", "[cli]") {
  auto result = run_bnlab({"--threads", "2", "version"});
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Contains(std::string("LibTorch ") + TORCH_VERSION) && Contains("BLAS:") &&
                                Contains("threads: 2") && Contains("transparent huge pages: "));
}

TEST_CASE("bench bn writes its table as a CSV bnlab can read", "[cli][bench]") {
  // --quick: a short timing budget; only the table's form is checked here
  // (speed is measured by running the benchmark, not by tests).
  bnlab::test::TempDir dir;
  const auto csv = dir.path() / "bn.csv";
  auto result = run_bnlab({"bench", "bn", "--quick", "--relu", "--out", csv.string()});
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("BatchNorm followed by ReLU") && Contains("(4096,512)") && Contains("GB/s"));
  const auto table = bnlab::runs::read_csv(csv);
  // The six default shapes, then the three 4D ones channels-last, x native, reference, fused.
  CHECK(table.rows.size() == (6 + 3) * 3);
  for (const char* column : {"norm", "shape", "layout", "impl", "relu", "median_ms", "ratio_to_native", "gbps",
                             "copy_gbps", "cpu", "isa", "commit"})
    CHECK(table.has_column(column));
  const auto layout = table.column_index("layout");
  CHECK(table.rows[0][layout] == "contiguous");
  CHECK(table.rows.back()[layout] == "channels_last");
  CHECK(table.rows.back()[table.column_index("shape")] == "256x32x26x26");
  CHECK_THAT(result.output, Contains("CPU: " + bnlab::cpu_description()));
  CHECK(table.rows[0][table.column_index("isa")] == bnlab::to_name(bnlab::active_isa()));
  // The code that was timed, so that tables of different commits are told apart.
  CHECK(table.rows[0][table.column_index("commit")] == bnlab::build_commit());
  CHECK_THAT(result.output, Contains(std::string("(commit ") + bnlab::build_commit() + ")"));
  CHECK(table.rows[0][table.column_index("shape")] == "32x128");
  for (double relu : table.numbers("relu")) CHECK(relu == 1);
  for (double ratio : table.numbers("ratio_to_native")) CHECK(ratio > 0);

  // Checked before any timing: an existing table is not replaced unasked,
  // and a path that cannot be written is named.
  auto again = run_bnlab({"bench", "bn", "--quick", "--out", csv.string()});
  CHECK(again.exit_code == 2);
  CHECK_THAT(again.output, Contains("the file exists; pass --overwrite to replace it"));
  CHECK(bnlab::runs::read_csv(csv).rows.size() == (6 + 3) * 3);
  const auto nowhere = (dir.path() / "missing" / "bn.csv").string();
  auto missing = run_bnlab({"bench", "train", "--quick", "--out", nowhere});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Contains("no directory") && Contains("missing"));
  auto directory = run_bnlab({"bench", "bn", "--quick", "--overwrite", "--out", dir.path().string()});
  CHECK(directory.exit_code == 2);
  CHECK_THAT(directory.output, Contains("is a directory"));
}

TEST_CASE("data verify on an empty data dir fails and says how to fetch", "[cli][data]") {
  bnlab::test::TempDir dir;
  SECTION("via --data-dir") {
    auto result = run_bnlab({"data", "verify", "mnist", "--data-dir", dir.path().string()});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains("missing") && Contains("bnlab data fetch mnist") &&
                                  Contains("(from --data-dir)"));
  }
  SECTION("via BNLAB_DATA_DIR") {
    auto result = run_bnlab({"data", "verify"}, {"BNLAB_DATA_DIR=" + dir.path().string()});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains("(from BNLAB_DATA_DIR)") && Contains("fashion-mnist"));
  }
}

TEST_CASE("verify passes on a small table and prints one row per case", "[cli][bn]") {
  // 3 random cases and the float64 edge cases, each with the reference
  // kernels and every fused copy this CPU runs.
  auto result = run_bnlab({"verify", "--cases", "3", "--seed", "5", "--dtype", "float64", "--norm", "batch"});
  CHECK(result.exit_code == 0);
  const auto edge = bnlab::verify::edge_cases();
  const auto float64_edge =
      std::count_if(edge.begin(), edge.end(), [](const auto& c) { return c.dtype == torch::kFloat64; });
  const size_t cases = (1 + bnlab::supported_isas().size()) * (3 + size_t(float64_edge));
  CHECK_THAT(result.output,
             Contains(std::to_string(cases) + " cases, " + std::to_string(cases) + " passed, 0 failed") &&
                 Contains("nan+inf") && Contains("channels-last") && Contains("(0,3,5,5)"));
}

TEST_CASE("verify --norm ghost checks Ghost BatchNorm against native BatchNorm per virtual batch", "[cli][bn][ghost]") {
  auto result = run_bnlab({"verify", "--norm", "ghost", "--dtype", "float64"});
  CHECK(result.exit_code == 0);
  const auto cases = std::to_string((1 + bnlab::supported_isas().size()) *  // reference + each fused copy
                                    bnlab::verify::ghost_cases(torch::kFloat64).size());
  CHECK_THAT(result.output, Contains(cases + " cases, " + cases + " passed, 0 failed") && Contains("ghost=16") &&
                                Contains("each virtual batch") && !Contains("nan+inf"));
}

TEST_CASE("BNLAB_ISA forces one compiled copy of the kernels, and verify checks it", "[cli][bn]") {
  SECTION("the copy BNLAB_ISA names is the one verify runs (both dtypes, the large-offset cases)") {
    auto result = run_bnlab({"verify", "--cases", "6", "--seed", "9", "--norm", "batch"}, {"BNLAB_ISA=portable"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("fused kernel copies: portable (") && Contains("fused/portable") &&
                                  !Contains("fused/avx2") && Contains(" 0 failed"));
    auto version = run_bnlab({"version"}, {"BNLAB_ISA=portable"});
    CHECK_THAT(version.output, Contains("kernel copy: portable"));
  }
  SECTION("a name that is no copy stops every command with exit 2") {
    auto unknown = run_bnlab({"version"}, {"BNLAB_ISA=sse4"});
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.output, Contains("BNLAB_ISA=sse4: expected one of portable, avx2, avx512"));
  }
  SECTION("a copy this CPU cannot run is refused, not run into an illegal instruction") {
    for (const auto isa : bnlab::all_values<bnlab::Isa>()) {
      if (bnlab::cpu_supports(isa)) continue;
      const auto name = bnlab::to_name(isa);
      auto refused = run_bnlab({"verify", "--cases", "1"}, {"BNLAB_ISA=" + name});
      CHECK(refused.exit_code == 2);
      CHECK_THAT(refused.output, Contains("BNLAB_ISA=" + name + ": this CPU lacks its instructions"));
      auto option = run_bnlab({"verify", "--isa", name});
      CHECK(option.exit_code == 2);
    }
  }
  SECTION("--isa names a copy; a bad name is a usage error") {
    auto least = run_bnlab({"verify", "--isa", bnlab::to_name(bnlab::supported_isas().back()), "--cases", "2", "--norm",
                            "batch", "--dtype", "float64"});
    CHECK(least.exit_code == 0);
    auto bad = run_bnlab({"verify", "--isa", "mmx"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.output, Contains("--isa: expected portable, avx2, avx512, all or auto, got 'mmx'"));
  }
}

TEST_CASE("BNLAB_L2_CACHE and BNLAB_L3_CACHE run the choices other caches make", "[cli][bn]") {
  SECTION("the sizes set are named beside the ones the OS reports, in bnlab version's CPU line") {
    auto version = run_bnlab({"version"}, {"BNLAB_L2_CACHE=512K", "BNLAB_L3_CACHE=32M"});
    CHECK(version.exit_code == 0);
    CHECK_THAT(version.output,
               Contains("L2 512 KiB set by BNLAB_L2_CACHE (") && Contains("L3 32 MiB set by BNLAB_L3_CACHE ("));
    CHECK_THAT(run_bnlab({"version"}, {"BNLAB_L2_CACHE=5000"}).output, Contains("L2 5000 bytes set by"));
  }
  SECTION("caches smaller than any CPU's block channels and stream y in verify's small cases, which still pass") {
    // Without the variables these cases run neither path: with the last
    // channel block skipped, or a streamed row's last 4 bytes left unwritten,
    // verify failed only with them.
    auto result = run_bnlab({"verify", "--cases", "20", "--seed", "4", "--norm", "batch", "--isa", "all"},
                            {"BNLAB_L2_CACHE=4K", "BNLAB_L3_CACHE=64K"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("L2 4 KiB set by BNLAB_L2_CACHE") && Contains(" 0 failed"));
  }
  SECTION("a size that is no size stops every command with exit 2, naming the variable and the value") {
    const auto setting = GENERATE(as<std::string>{}, "BNLAB_L2_CACHE=lots", "BNLAB_L3_CACHE=32MB", "BNLAB_L2_CACHE=1K",
                                  "BNLAB_L3_CACHE=65G", "BNLAB_L2_CACHE=-512K", "BNLAB_L2_CACHE=99999999999999999999");
    auto refused = run_bnlab({"version"}, {setting});
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.output, Contains(setting + ": expected a cache size from 4K to 64G"));
  }
}
