#include <catch2/catch.hpp>

#include "core/threads.h"
#include "support/cli_runner.h"

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
