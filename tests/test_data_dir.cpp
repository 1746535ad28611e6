#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>

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
    // scripts/test.sh may export BNLAB_DATA_DIR for the whole suite: unset it
    // for this check only, and put it back whatever the check does.
    const char* before = std::getenv("BNLAB_DATA_DIR");
    const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
    unsetenv("BNLAB_DATA_DIR");
    const auto dir = resolve_data_dir(std::nullopt);
    if (saved) setenv("BNLAB_DATA_DIR", saved->c_str(), 1);
    CHECK(dir.path == std::filesystem::path(BNLAB_SOURCE_DIR) / "data");
    CHECK((std::getenv("BNLAB_DATA_DIR") != nullptr) == saved.has_value());
  }
}
