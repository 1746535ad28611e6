#include <catch2/catch.hpp>
#include <fstream>

#include "core/cpu.h"
#include "experiments/config_keys.h"
#include "runs/config_json.h"
#include "runs/csv_writer.h"
#include "runs/record.h"
#include "runs/run_folder.h"
#include "support/temp_dir.h"

using namespace bnlab::runs;
using Catch::Matchers::Contains;

namespace {

void write_status(const RunDirectory& dir, const std::string& status) {
  RunRecord record;
  record.status = parse_run_status(status);
  write_run_record(dir.path(), record);
}

}  // namespace

TEST_CASE("a run folder is locked while a run writes to it", "[train][rundir]") {
  bnlab::test::TempDir root;
  RunDirectory first(root / "run", RunDirectory::Mode::kNew);
  REQUIRE_THROWS_WITH(RunDirectory(root / "run", RunDirectory::Mode::kNew), Contains("another bnlab run (pid"));
}

TEST_CASE("finished runs need --overwrite - unfinished ones are replaced", "[train][rundir]") {
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
    // It says what it found: a record left at "running" is a crashed run.
    CHECK_THAT(replaced.replaced_note(),
               Contains(status == "running" ? "replacing a crashed run" : "replacing the " + status + " run"));
  }
  CHECK_FALSE(std::filesystem::exists(path / "metrics.csv"));
}

TEST_CASE("an unfinished run with a checkpoint is resumed or, with --overwrite, discarded", "[train][rundir]") {
  bnlab::test::TempDir root;
  const auto path = root / "run";
  const std::string status = GENERATE("interrupted", "failed", "running");
  { write_status(RunDirectory(path, RunDirectory::Mode::kNew), status); }
  std::ofstream(RunFiles(path).checkpoint()) << "a checkpoint";
  REQUIRE_THROWS_WITH(RunDirectory(path, RunDirectory::Mode::kNew),
                      Contains("with a checkpoint; continue it with --resume, or pass --overwrite to discard it"));
  CHECK(std::filesystem::exists(RunFiles(path).checkpoint()));  // nothing lost
  { RunDirectory resumed(path, RunDirectory::Mode::kResume); }
  CHECK(std::filesystem::exists(RunFiles(path).checkpoint()));
  RunDirectory replaced(path, RunDirectory::Mode::kOverwrite);
  CHECK_FALSE(std::filesystem::exists(RunFiles(path).checkpoint()));
}

TEST_CASE("a corrupt run.json is an error naming the file - --overwrite replaces it", "[train][rundir]") {
  bnlab::test::TempDir root;
  std::filesystem::create_directories(root / "run");
  const std::string text = GENERATE("{ not json", R"({"status": "exploded"})");
  std::ofstream(root / "run" / "run.json") << text;
  REQUIRE_THROWS_WITH(RunDirectory(root / "run", RunDirectory::Mode::kNew),
                      Contains("run.json: not") && Contains("pass --overwrite"));
  RunDirectory replaced(root / "run", RunDirectory::Mode::kOverwrite);
  CHECK_THAT(replaced.replaced_note(), Contains("unreadable"));
  CHECK_FALSE(std::filesystem::exists(root / "run" / "run.json"));
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

TEST_CASE("a text cell a comma-splitting reader would misread is refused", "[train][csv]") {
  bnlab::test::TempDir root;
  CsvWriter csv(root / "m.csv", {"stage", "loss"});
  csv.write_row({"adapt"}, {0.5});
  for (const char* text : {"a,b", "say \"x\"", "two\nlines"})
    CHECK_THROWS_WITH(csv.write_row({text}, {0.5}), Contains("holds a comma, quote or line break"));
  CHECK_THROWS(bnlab::runs::write_csv_file(root / "b.csv", {"cpu"}, {{std::string("AMD, EPYC")}}));
  CHECK(bnlab::cpu_description().find(',') == std::string::npos);
}

TEST_CASE("run.json round-trips through its one writer and reader", "[train][record]") {
  bnlab::test::TempDir root;
  RunRecord record;
  record.experiment = "exp";
  record.variant = "bn";
  record.seed = 3;
  record.status = RunStatus::kDiverged;
  record.started_at = "2026-11-29T08:00:00Z";
  record.diverged_epoch = 4;
  record.stopped_in_stage = "second";
  record.config = {{"train.lr", 0.1}};
  EpochMetrics last;
  last.epoch = 4;
  last.loss = 0.5;
  last.val_accuracy = 0.75;
  last.ms_per_step = 1.25;
  last.steps = 7;  // not part of "final"
  record.final_metrics = last;
  record.best_val_accuracy = 0.8;
  write_run_record(root.path(), record);
  const auto back = read_run_record(root.path());
  REQUIRE(back);
  CHECK(back->status == RunStatus::kDiverged);
  CHECK(back->variant == "bn");
  CHECK(back->seed == 3);
  CHECK(back->diverged_epoch == std::optional<int64_t>(4));
  CHECK(back->stopped_in_stage == std::optional<std::string>("second"));
  CHECK_FALSE(back->resumed_at.has_value());
  CHECK(back->config == record.config);
  REQUIRE(back->final_metrics);
  CHECK(back->final_metrics->epoch == 4);
  CHECK(back->final_metrics->val_accuracy == 0.75);
  CHECK(back->final_metrics->ms_per_step == 1.25);
  CHECK(back->final_metrics->steps == 0);
  CHECK(back->best_val_accuracy == std::optional<double>(0.8));
  CHECK(finished_run_status(root.path()) == std::optional<RunStatus>(RunStatus::kDiverged));
}

// fuzz_run_json found the first row: nlohmann's get<int64_t>() of 1e300 is
// undefined behaviour (UBSan: float-cast-overflow). Each value must be refused
// by name, never converted.
TEST_CASE("run.json's fields of the wrong type or out of range are refused by name", "[train][record]") {
  bnlab::test::TempDir root;
  const auto [field, message] = GENERATE(table<std::string, std::string>({
      {R"("epochs_completed": 1e300)", "epochs_completed: expected an integer from"},
      {R"("seed": 2.5)", "seed: expected an integer"},
      {R"("pid": 18446744073709551615)", "pid: expected an integer"},
      {R"("threads": 4294967296)", "threads: expected an integer from -2147483648 to 2147483647, got 4294967296"},
      {R"("diverged_epoch": "4")", "diverged_epoch: expected an integer"},
      {R"("final": {"epoch": -1e300})", "final.epoch: expected an integer"},
      {R"("final": {"loss": "low"})", "final.loss: expected a number, got \"low\""},
      {R"("final": 3)", "final: expected an object, got 3"},
      {R"("bnlab": "0.1.0")", "bnlab: expected an object"},
      {R"("resumes": {})", "resumes: expected an array, got {}"},
      {R"("experiment": 7)", "experiment: expected a string, got 7"},
      {R"("best_val_accuracy": true)", "best_val_accuracy: expected a number, got true"},
      // A long value is cut short in the message: it names the value, it does not reprint it.
      {R"("cpu": [")" + std::string(99, 'x') + R"("])",
       R"(cpu: expected a string, got [")" + std::string(35, 'x') + "..."},
  }));
  std::ofstream(root / "run.json") << R"({"status": "completed", )" << field << "}";
  REQUIRE_THROWS_WITH(read_run_record(root.path()),
                      Contains("run.json: not a bnlab run record: ") && Contains(message));
}

TEST_CASE("a run.json that is not an object is refused by name", "[train][record]") {
  bnlab::test::TempDir root;
  std::ofstream(root / "run.json") << "[1, 2]";
  REQUIRE_THROWS_WITH(read_run_record(root.path()),
                      Contains("run.json: not a bnlab run record: top level: expected an object, got [1,2]"));
}

TEST_CASE("a run's config in run.json takes integers only where a key holds integers", "[train][record]") {
  const auto value = GENERATE(as<std::string>{}, "[1e300]", "[32, 2.5]", "[18446744073709551615]");
  REQUIRE_THROWS_WITH(config_from_json(nlohmann::json::parse(R"({"model.conv_channels": )" + value + "}")),
                      Contains("model.conv_channels: expected an integer"));
  CHECK(std::get<std::vector<int64_t>>(
            bnlab::experiments::find_config_key("model.conv_channels")
                .get(config_from_json(nlohmann::json::parse(R"({"model.conv_channels": [8, 16]})")))) ==
        std::vector<int64_t>{8, 16});
}

TEST_CASE("metrics.csv's header is the column table's, Keras' names first", "[train][csv]") {
  CHECK(metrics_csv_columns(false) == std::vector<std::string>{"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                                               "lr", "epoch_seconds", "ms_per_step", "steps"});
  CHECK(metrics_csv_columns(true).front() == kStageColumn);
  EpochMetrics m;
  m.epoch = 2;
  m.loss = 0.25;
  m.steps = 9;
  const auto row = row_values(epoch_columns(), m);
  REQUIRE(row.size() == 9);
  CHECK(row[0] == 2);
  CHECK(row[1] == 0.25);
  CHECK(row[8] == 9);
}
