#include <catch2/catch.hpp>

#include <fstream>

#include "support/temp_dir.h"
#include "train/csv_writer.h"
#include "train/run_directory.h"

using namespace bnlab::train;
using Catch::Matchers::Contains;

namespace {

void write_status(const RunDirectory& dir, const std::string& status) {
  dir.write_record({{"status", status}});
}

}  // namespace

TEST_CASE("a run folder is locked while a run writes to it", "[train][rundir]") {
  bnlab::test::TempDir root;
  RunDirectory first(root / "run", RunDirectory::Mode::kNew);
  REQUIRE_THROWS_WITH(RunDirectory(root / "run", RunDirectory::Mode::kNew), Contains("another bnlab run (pid"));
}

TEST_CASE("finished runs need --overwrite; unfinished ones are replaced", "[train][rundir]") {
  bnlab::test::TempDir root;
  const auto path = root / "run";
  const std::string status = GENERATE("completed", "diverged", "interrupted", "failed", "running");
  { write_status(RunDirectory(path, RunDirectory::Mode::kNew), status); }
  std::ofstream(path / "metrics.csv") << "epoch\n1\n";
  const bool finished = status == "completed" || status == "diverged";
  CHECK(finished_run_status(path).has_value() == finished);
  if (finished) {
    REQUIRE_THROWS_WITH(RunDirectory(path, RunDirectory::Mode::kNew), Contains("already holds a " + status + " run"));
    REQUIRE_THROWS_WITH(RunDirectory(path, RunDirectory::Mode::kResume), Contains("nothing to resume"));
    CHECK(std::filesystem::exists(path / "metrics.csv"));  // nothing lost
    RunDirectory replaced(path, RunDirectory::Mode::kOverwrite);
    CHECK_THAT(replaced.replaced_note(), Contains("replacing the " + status + " run"));
  } else {
    {
      RunDirectory resumed(path, RunDirectory::Mode::kResume);  // keeps everything
      CHECK(std::filesystem::exists(path / "metrics.csv"));
    }
    RunDirectory replaced(path, RunDirectory::Mode::kNew);
    CHECK_THAT(replaced.replaced_note(), Contains("replacing the " + status + " run"));
  }
  CHECK_FALSE(std::filesystem::exists(path / "metrics.csv"));
}

TEST_CASE("a corrupt run.json is an error naming the file", "[train][rundir]") {
  bnlab::test::TempDir root;
  std::filesystem::create_directories(root / "run");
  std::ofstream(root / "run" / "run.json") << "{ not json";
  REQUIRE_THROWS_WITH(RunDirectory(root / "run", RunDirectory::Mode::kNew), Contains("run.json: not valid JSON"));
}

TEST_CASE("CSV rows are complete on disk after each write", "[train][csv]") {
  bnlab::test::TempDir root;
  CsvWriter csv(root / "m.csv", {"epoch", "loss"});
  csv.write_row({1, 0.25});
  std::ifstream in(root / "m.csv");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  CHECK(all == "epoch,loss\n1,0.25\n");
  REQUIRE_THROWS(csv.write_row({1}));
  CHECK(format_number(0.1) == "0.1");
  CHECK(format_number(3) == "3");
  CHECK(format_number(std::nan("")) == "nan");
  CHECK(format_number(1.0 / 3) == "0.3333333333333333");
}
