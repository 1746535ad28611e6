// Faults a run must survive without losing a result (docs/reliability.md):
// a full disk, a file-size limit, a read-only results folder, SIGTERM, and
// SIGKILL at random points followed by --resume. Through the real binary.
#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "core/text.h"
#include "results/diff.h"
#include "runs/csv_table.h"
#include "support/background_process.h"
#include "support/cli_runner.h"
#include "support/read_files.h"
#include "support/scratch_mount.h"
#include "support/temp_dir.h"

using bnlab::test::read_json;
using bnlab::test::read_lines;
using bnlab::test::run_bnlab;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// The smoke experiment's BatchNorm variant, checkpointing every epoch.
std::vector<std::string> smoke_run(const fs::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"run",   "smoke",     "--variant", "bn-custom", "--save-checkpoint",
                                   "--out", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

fs::path run_dir(const fs::path& out) { return out / "smoke" / "bn-custom" / "seed-0"; }

// Every line of a CSV file has the header's number of cells: no torn row.
void require_whole_rows(const fs::path& csv) {
  const auto lines = read_lines(csv);
  REQUIRE_FALSE(lines.empty());
  const auto width = bnlab::split(lines[0], ',').size();
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK(bnlab::split(line, ',').size() == width);
  }
}

// metrics.csv of two runs equal in every metric (timing columns aside).
void require_same_metrics(const fs::path& a, const fs::path& b) {
  const auto diff = bnlab::results::diff_tables(bnlab::runs::read_csv(a / "metrics.csv"),
                                                bnlab::runs::read_csv(b / "metrics.csv"), {});
  INFO(bnlab::test::read_text(b / "metrics.csv"));
  CHECK(diff.equal());
}

}  // namespace

TEST_CASE("a full disk fails the run with the OS reason - nothing is lost and --resume finishes it",
          "[faults][cli][disk]") {
  bnlab::test::TempDir reference;
  REQUIRE(run_bnlab(smoke_run(reference.path())).exit_code == 0);
  const auto checkpoint_bytes = fs::file_size(run_dir(reference.path()) / "checkpoint.pt");

  // Room for the small files and one checkpoint, not for the second one
  // written beside it before it replaces the first.
  bnlab::test::ScratchMount disk(checkpoint_bytes + 12 * 4096);
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): the RLIMIT_FSIZE test covers failed writes");
    return;
  }
  const auto failed = run_bnlab(smoke_run(disk.path()));
  INFO(failed.output);
  CHECK(failed.exit_code == 1);
  CHECK_THAT(failed.output, Contains("checkpoint.pt") && Contains("No space left on device"));
  const auto record = read_json(run_dir(disk.path()) / "run.json");
  CHECK(record["status"] == "failed");
  CHECK_THAT(record["error"].get<std::string>(), Contains("No space left on device"));
  require_whole_rows(run_dir(disk.path()) / "metrics.csv");
  for (const auto& entry : fs::directory_iterator(run_dir(disk.path())))
    CHECK_FALSE(Catch::Matchers::Contains(".tmp").match(entry.path().string()));  // no temporaries left

  SECTION("a rerun without --resume keeps the checkpoint") {
    const auto again = run_bnlab(smoke_run(disk.path()));
    CHECK(again.exit_code == 1);
    CHECK_THAT(again.output, Contains("--resume"));
  }
  SECTION("with room again, --resume ends where an uninterrupted run ends") {
    disk.resize(64 << 20);
    const auto resumed = run_bnlab(smoke_run(disk.path(), {"--resume"}));
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    require_same_metrics(run_dir(reference.path()), run_dir(disk.path()));
  }
}

TEST_CASE("a file-size limit (RLIMIT_FSIZE) fails the run the same way", "[faults][cli][disk]") {
  bnlab::test::TempDir reference, out;
  REQUIRE(run_bnlab(smoke_run(reference.path())).exit_code == 0);
  const auto checkpoint_bytes = fs::file_size(run_dir(reference.path()) / "checkpoint.pt");
  const auto limit = "--fsize=" + std::to_string(checkpoint_bytes - 1);
  std::vector<std::string> argv = {"prlimit", limit, BNLAB_EXE};
  for (const auto& word : smoke_run(out.path())) argv.push_back(word);
  const auto failed = bnlab::run_process(argv);
  INFO(failed.output);
  CHECK(failed.exit_code == 1);  // not 153 (SIGXFSZ): bnlab reports the limit as a failed write
  CHECK_THAT(failed.output, Contains("checkpoint.pt") && Contains("File too large"));
  const auto record = read_json(run_dir(out.path()) / "run.json");
  CHECK(record["status"] == "failed");
  CHECK_THAT(record["error"].get<std::string>(), Contains("File too large"));
  require_whole_rows(run_dir(out.path()) / "metrics.csv");
}

TEST_CASE("a read-only results folder is an error, never a claimed write", "[faults][cli][disk]") {
  bnlab::test::ScratchMount disk(16 << 20);
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): read-only folders untested");
    return;
  }
  REQUIRE(run_bnlab(smoke_run(disk.path())).exit_code == 0);
  disk.make_read_only();
  const auto report = run_bnlab({"report", "smoke", "--results", disk.path().string(), "--no-plots"});
  CHECK(report.exit_code == 1);
  CHECK_THAT(report.output, Contains("report.md") && Contains("Read-only file system"));
  CHECK_FALSE(Contains("wrote").match(report.output));
  const auto run = run_bnlab(smoke_run(disk.path(), {"--overwrite"}));
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Contains("Read-only file system"));
}

TEST_CASE("SIGTERM stops a run like Ctrl-C: recorded as interrupted, resumable", "[faults][cli][signal]") {
  bnlab::test::TempDir out;
  bnlab::test::BackgroundBnlab run(smoke_run(out.path(), {"--epochs", "500"}), out / "log.txt");
  REQUIRE(run.wait_for_output("Epoch 2/500", std::chrono::seconds(60)));
  run.kill(SIGTERM);
  const auto code = run.wait_for(std::chrono::seconds(30));
  INFO(run.output());
  REQUIRE(code);
  CHECK(*code == 130);  // the README's code for an interrupted run
  CHECK(read_json(run_dir(out.path()) / "run.json")["status"] == "interrupted");
  require_whole_rows(run_dir(out.path()) / "metrics.csv");
}

TEST_CASE("SIGKILL at random points, then --resume: the metrics of an uninterrupted run", "[faults][cli][signal]") {
  bnlab::test::TempDir reference, out;
  const std::vector<std::string> epochs = {"--epochs", "5"};
  REQUIRE(run_bnlab(smoke_run(reference.path(), epochs)).exit_code == 0);
  // Killed in epochs 3, 4 and 5 (each resumed run is killed again), at a
  // random delay after the previous epoch's line: within the epoch, while
  // its rows are appended, or while the previous checkpoint is written. The
  // seed keeps the points reproducible.
  std::mt19937 random(20261129);
  for (int epoch = 2; epoch <= 4; ++epoch) {
    auto args = smoke_run(out.path(), epochs);
    if (epoch > 2) args.push_back("--resume");
    bnlab::test::BackgroundBnlab run(args, out / "log.txt");
    if (!run.wait_for_output(fmt::format("Epoch {}/5", epoch), std::chrono::seconds(60))) break;  // ended already
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 60)(random)));
    run.kill(SIGKILL);
    run.wait_for(std::chrono::seconds(30));
  }
  const auto status = read_json(run_dir(out.path()) / "run.json")["status"].get<std::string>();
  if (status != "completed") {
    const auto resumed = run_bnlab(smoke_run(out.path(), {"--epochs", "5", "--resume"}));
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
  }
  require_same_metrics(run_dir(reference.path()), run_dir(out.path()));
}
