#include <catch2/catch.hpp>

#include "data/data_dir.h"

using bnlab::data::resolve_data_dir;

TEST_CASE("data dir resolution order: --data-dir, then BNLAB_DATA_DIR, then default", "[data][dir]") {
  const std::filesystem::path fallback = "/repo/data";
  SECTION("flag wins over environment") {
    auto dir = resolve_data_dir(std::string("/flag"), std::string("/env"), fallback);
    CHECK(dir.path == "/flag");
    CHECK(dir.origin == "--data-dir");
  }
  SECTION("environment when no flag") {
    auto dir = resolve_data_dir(std::nullopt, std::string("/env"), fallback);
    CHECK(dir.path == "/env");
    CHECK(dir.origin == "BNLAB_DATA_DIR");
  }
  SECTION("empty values count as unset") {
    auto dir = resolve_data_dir(std::string(""), std::string(""), fallback);
    CHECK(dir.path == fallback);
    CHECK(dir.origin == "default");
  }
  SECTION("default is data/ under the source tree") {
    unsetenv("BNLAB_DATA_DIR");
    CHECK(resolve_data_dir(std::nullopt).path == std::filesystem::path(BNLAB_SOURCE_DIR) / "data");
  }
}
