// The one durable writer (core/durable_file.h): whole files replaced
// atomically, appends whole or not at all, failures named with the OS reason.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "core/durable_file.h"
#include "support/read_files.h"
#include "support/scratch_mount.h"
#include "support/temp_dir.h"

using bnlab::AppendFile;
using bnlab::AtomicFile;
using bnlab::write_file_atomically;
using bnlab::WriteError;
using bnlab::test::read_text;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

size_t entries_in(const fs::path& dir) {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++count;
  return count;
}

}  // namespace

TEST_CASE("write_file_atomically creates and replaces a file, leaving nothing else", "[files][durable]") {
  bnlab::test::TempDir dir;
  const auto file = dir / "run.json";
  write_file_atomically(file, "first\n");
  CHECK(read_text(file) == "first\n");
  write_file_atomically(file, "second, longer\n");
  CHECK(read_text(file) == "second, longer\n");
  CHECK(entries_in(dir.path()) == 1);  // no temporary left behind

  SECTION("an AtomicFile dropped before commit() changes nothing") {
    {
      AtomicFile partial(file);
      partial.write("half a fi");
    }
    CHECK(read_text(file) == "second, longer\n");
    CHECK(entries_in(dir.path()) == 1);
  }
  SECTION("a folder that does not exist is named with the OS reason") {
    REQUIRE_THROWS_AS(write_file_atomically(dir / "missing" / "x.csv", "a"), WriteError);
    REQUIRE_THROWS_WITH(write_file_atomically(dir / "missing" / "x.csv", "a"),
                        Contains("missing/x.csv") && Contains("No such file or directory"));
  }
}

TEST_CASE("a write that does not fit keeps the old file and says why", "[files][durable][faults]") {
  const std::string old_text(4000, 'o'), new_text(200000, 'n');
  SECTION("RLIMIT_FSIZE") {
    bnlab::test::TempDir dir;
    const auto file = dir / "checkpoint.pt";
    write_file_atomically(file, old_text);
    {
      bnlab::test::FileSizeLimit limit(100000);
      REQUIRE_THROWS_WITH(write_file_atomically(file, new_text),
                          Contains("checkpoint.pt") && Contains("File too large"));
    }
    CHECK(read_text(file) == old_text);
    CHECK(entries_in(dir.path()) == 1);
  }
  SECTION("a full disk (tmpfs)") {
    bnlab::test::ScratchMount disk(64 * 1024);
    if (!disk.mounted()) {
      WARN("cannot mount a tmpfs here (not root?): the RLIMIT_FSIZE section covers the failing write");
      return;
    }
    const auto file = disk.path() / "checkpoint.pt";
    write_file_atomically(file, old_text);
    REQUIRE_THROWS_WITH(write_file_atomically(file, new_text),
                        Contains("checkpoint.pt") && Contains("No space left on device"));
    CHECK(read_text(file) == old_text);
    CHECK(entries_in(disk.path()) == 1);
  }
}

TEST_CASE("AppendFile appends whole records or none", "[files][durable][faults]") {
  bnlab::test::TempDir dir;
  const auto file = dir / "metrics.csv";
  write_file_atomically(file, "epoch,loss\n");
  AppendFile csv(file);
  csv.append("1,0.5\n");
  csv.sync();
  CHECK(read_text(file) == "epoch,loss\n1,0.5\n");

  SECTION("a record cut short by RLIMIT_FSIZE is taken back") {
    const std::string row = "2," + std::string(100, '9') + "\n";
    {
      // Room for part of the row: the write is partial, then fails.
      bnlab::test::FileSizeLimit limit(fs::file_size(file) + 10);
      REQUIRE_THROWS_WITH(csv.append(row), Contains("metrics.csv") && Contains("File too large"));
    }
    CHECK(read_text(file) == "epoch,loss\n1,0.5\n");  // no torn row
    csv.append("2,0.25\n");                           // and the file goes on from there
    CHECK(read_text(file) == "epoch,loss\n1,0.5\n2,0.25\n");
  }
  SECTION("a file that is gone cannot be opened for appending") {
    REQUIRE_THROWS_WITH(AppendFile(dir / "nope.csv"), Contains("nope.csv") && Contains("No such file or directory"));
  }
}

TEST_CASE("the oracle of these tests fails a torn or lost file", "[files][durable]") {
  // A plain ofstream under the same limit leaves a truncated file: the checks
  // above would see it (read_text differs), so they can fail.
  bnlab::test::TempDir dir;
  const auto file = dir / "x";
  {
    bnlab::test::FileSizeLimit limit(1000);
    std::ofstream out(file);
    out << std::string(5000, 'x');
  }
  CHECK(read_text(file).size() < 5000);
}
