#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/blas.h"
#include "core/cpu.h"
#include "core/denormals.h"
#include "core/threads.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;

TEST_CASE("threads: auto takes half the cores, shared among local ranks, at least one", "[threads]") {
  const auto [cores, ranks, expected] =
      GENERATE(table<int, int, int>({{2, 1, 1}, {2, 2, 1}, {1, 1, 1}, {8, 1, 4}, {8, 2, 2}, {16, 4, 2}, {64, 3, 10}}));
  CAPTURE(cores, ranks);
  CHECK(bnlab::auto_thread_count(cores, ranks) == expected);
}

TEST_CASE("threads: the option takes a positive count or auto", "[threads][cli]") {
  CHECK(bnlab::parse_thread_count("3") == 3);
  CHECK(bnlab::parse_thread_count("auto") >= 1);
  CHECK_THROWS_WITH(bnlab::parse_thread_count("0"), Contains("got 0"));
  CHECK_THROWS_WITH(bnlab::parse_thread_count("many"), Contains("many"));
  const auto result = bnlab::test::run_bnlab({"--threads", "auto", "version"});
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("auto here: "));
  CHECK(bnlab::test::run_bnlab({"version", "--threads", "-1"}).exit_code == 2);
}

TEST_CASE("BLAS: OpenBLAS runs kernels for this CPU's instruction sets, not its Prescott fallback", "[threads]") {
  using CoreName = char* (*)();
  const auto corename = reinterpret_cast<CoreName>(bnlab::blas_function("openblas_get_corename"));
  if (!corename) return;  // not OpenBLAS: nothing to choose
  // Before: Prescott on CPUs newer than OpenBLAS's table (seen: Intel Xeon
  // family 6 model 207 with Debian's 0.3.21), else OpenBLAS's own choice.
  const std::string before = corename();
  bnlab::choose_blas_kernels();
  const std::string after = corename();
  CAPTURE(before, after, bnlab::cpu_description());
  if (bnlab::cpu_supports(bnlab::Isa::kAvx2)) CHECK(after != "Prescott");
  if (before != "Prescott") CHECK(after == before);  // OpenBLAS's own choice stands
  // The GEMMs still compute: (64,48) x (48,32) against a float64 product.
  // Both sides sum 48 products of values in [0, 1), float32 rounding ~1e-6
  // relative per term: 1e-4 absolute on sums of ~12 is ample.
  auto a = torch::rand({64, 48}), b = torch::rand({48, 32});
  const auto expected = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
  CHECK(torch::allclose(torch::mm(a, b).to(torch::kFloat64), expected, 0, 1e-4));

  SECTION("bnlab names its choice, and OPENBLAS_CORETYPE set by the user stands") {
    // As a user starts it: without the OPENBLAS_CORETYPE this process set
    // above (children inherit it, and then OpenBLAS loads those kernels itself).
    if (after != before) unsetenv("OPENBLAS_CORETYPE");
    const auto version = bnlab::test::run_bnlab({"version"});
    if (after != before) setenv("OPENBLAS_CORETYPE", after.c_str(), 1);
    CHECK(version.exit_code == 0);
    if (bnlab::cpu_supports(bnlab::Isa::kAvx2)) CHECK_THAT(version.output, !Contains(" Prescott MAX_THREADS"));
    if (before == "Prescott" && bnlab::cpu_supports(bnlab::Isa::kAvx2))
      CHECK_THAT(version.output, Contains("chosen by bnlab: OpenBLAS fell back to Prescott"));
    const auto forced = bnlab::test::run_bnlab({"version"}, {"OPENBLAS_CORETYPE=Prescott"});
    CHECK_THAT(forced.output, Contains(" Prescott MAX_THREADS") && !Contains("chosen by bnlab"));
  }
}

TEST_CASE("denormals: flushed to zero or kept, as asked", "[threads]") {
  volatile float smallest_normal = 1.17549435e-38f;  // volatile: computed at run time, in the mode set
  REQUIRE(bnlab::set_denormals(bnlab::Denormals::kFlush));
  CHECK(bnlab::current_denormals() == bnlab::Denormals::kFlush);
  CHECK(smallest_normal * 0.5f == 0.0f);                   // the denormal result flushed
  REQUIRE(bnlab::set_denormals(bnlab::Denormals::kKeep));  // this test process's own default again
  CHECK(bnlab::current_denormals() == bnlab::Denormals::kKeep);
  CHECK(smallest_normal * 0.5f == 5.87747175e-39f);  // exact: halving a power of two

  SECTION("bnlab flushes unless told --denormals keep, and refuses other values") {
    CHECK_THAT(bnlab::test::run_bnlab({"version"}).output, Contains("denormals: flush"));
    CHECK_THAT(bnlab::test::run_bnlab({"--denormals", "keep", "version"}).output, Contains("denormals: keep"));
    const auto bad = bnlab::test::run_bnlab({"version", "--denormals", "some"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.output, Contains("--denormals must be flush or keep, got \"some\""));
  }
}

TEST_CASE("caches: Linux's cacheinfo gives the data or unified cache of a level, or -1", "[threads]") {
  const bnlab::test::TempDir cache;
  // An AMD EPYC family 25 model 1 VM's cpu0, whose L3 glibc's sysconf gave
  // as the socket's 256 MiB.
  const auto describe = [&](const std::string& index, const std::string& level, const std::string& type,
                            const std::string& size) {
    std::filesystem::create_directories(cache / index);
    for (const auto& [name, text] : {std::pair{"level", level}, {"type", type}, {"size", size}})
      std::ofstream(cache / index / name) << text << "\n";
  };
  describe("index0", "1", "Data", "32K");
  describe("index1", "1", "Instruction", "64K");
  describe("index2", "2", "Unified", "512K");
  describe("index3", "3", "Unified", "32768K");
  describe("index4", "4", "Instruction", "16K");  // no data passes through it
  describe("power", "3", "Unified", "1K");        // not an indexN directory: not a cache
  CHECK(bnlab::linux_cache_bytes(cache.path(), 1) == 32L << 10);
  CHECK(bnlab::linux_cache_bytes(cache.path(), 2) == 512L << 10);
  CHECK(bnlab::linux_cache_bytes(cache.path(), 3) == 32L << 20);
  CHECK(bnlab::linux_cache_bytes(cache.path(), 4) == -1);
  CHECK(bnlab::linux_cache_bytes(cache / "missing", 2) == -1);
  describe("index2", "2", "Unified", "lots");
  CHECK(bnlab::linux_cache_bytes(cache.path(), 2) == -1);
}
