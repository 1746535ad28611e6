#include "support/metrics_match.h"

#include <catch2/catch.hpp>

#include "runs/csv_table.h"

namespace bnlab::test {

void check_same_training(const std::filesystem::path& a_file, const std::filesystem::path& b_file) {
  const auto a = runs::read_csv(a_file);
  const auto b = runs::read_csv(b_file);
  CHECK(a.numbers("steps") == b.numbers("steps"));
  REQUIRE(a.rows.size() == b.rows.size());
  for (const char* column : {"loss", "val_loss"})
    for (size_t row = 0; row < a.rows.size(); ++row)
      CHECK_THAT(b.numbers(column)[row], Catch::Matchers::WithinRel(a.numbers(column)[row], 1e-5));
  for (const char* column : {"accuracy", "val_accuracy"})
    for (size_t row = 0; row < a.rows.size(); ++row)
      CHECK_THAT(b.numbers(column)[row], Catch::Matchers::WithinAbs(a.numbers(column)[row], 0.005 + 1e-12));
}

}  // namespace bnlab::test
