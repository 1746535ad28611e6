// Staged runs, freezing, recalibration, checkpoints and --resume, BN
// internals logging: through execute_run on the synthetic data set.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "experiments/experiment.h"
#include "experiments/model_options.h"
#include "models/model.h"
#include "models/norm.h"
#include "results/diff.h"
#include "runs/record.h"
#include "runs/run_folder.h"
#include "support/read_files.h"
#include "support/temp_dir.h"
#include "sweep/plan.h"
#include "sweep/run.h"
#include "train/checkpoint.h"
#include "train/interrupt.h"

using namespace bnlab;
using Catch::Matchers::Contains;

namespace {

// An ostream that raises SIGINT the first time `trigger` is written to it:
// a deterministic Ctrl-C at a known point of a run.
class InterruptingStream : public std::ostream, private std::stringbuf {
 public:
  explicit InterruptingStream(std::string trigger) : std::ostream(this), trigger_(std::move(trigger)) {}
  int sync() override {
    if (!fired_ && str().find(trigger_) != std::string::npos) {
      fired_ = true;
      std::raise(SIGINT);
    }
    return 0;
  }
  std::string text() const { return str(); }

 private:
  std::string trigger_;
  bool fired_ = false;
};

const char* kStaged = R"(
description = "staged synthetic"
[base]
dataset = "synthetic"
data.synthetic_train = 640
data.synthetic_test = 200
model.hidden = [32, 16]
model.norm = "custom"
model.dropout = 0.2
[[variants.chain.stages]]
name = "first"
train.epochs = 2
[[variants.chain.stages]]
name = "recal"
action = "recalibrate"
[[variants.chain.stages]]
name = "bn-only"
trainable = "bn"
train.epochs = 2
[[variants.chain.stages]]
name = "all"
train.epochs = 2
train.lr = 0.0005
)";

sweep::PlannedRun plan(const test::TempDir& dir, const std::string& text, const std::string& results) {
  const auto file = dir / "exp.toml";
  std::ofstream(file) << text;
  sweep::RunRequest request;
  request.results_root = dir / results;
  return sweep::plan_runs(experiments::load_experiment_file(file), request).front();
}

sweep::RunSummary run(const sweep::PlannedRun& planned, std::ostream& log, bool save_checkpoint = false,
                      bool resume = false) {
  sweep::RunOptions options;
  options.save_checkpoint = save_checkpoint;
  options.resume = resume;
  sweep::DatasetCache datasets;
  return sweep::execute_run(planned, options, datasets, log);
}

// The experiment text with the first `what` replaced by `with`.
void replace_once(std::string& text, const std::string& what, const std::string& with) {
  const auto at = text.find(what);
  REQUIRE(at != std::string::npos);
  text.replace(at, what.size(), with);
}

const auto kCompleted = runs::RunStatus::kCompleted;
const auto kInterrupted = runs::RunStatus::kInterrupted;

std::map<std::string, torch::Tensor> state_of(const std::filesystem::path& model_file,
                                              const experiments::RunConfig& config) {
  auto model = models::build_model(experiments::model_options(config));
  train::load_model(model_file, *model);
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : model->named_parameters()) state[p.key()] = p.value().clone();
  for (const auto& b : model->named_buffers()) state[b.key()] = b.value().clone();
  return state;
}

// The staged run twice: uninterrupted, and interrupted inside the third
// stage (bn-only) after its first epoch with checkpoints on (dropout makes
// the random stream part of what a resume must restore).
std::pair<sweep::PlannedRun, sweep::PlannedRun> uninterrupted_and_interrupted(const test::TempDir& dir) {
  const auto reference = plan(dir, kStaged, "uninterrupted");
  std::ostringstream quiet;
  REQUIRE(run(reference, quiet).status == kCompleted);
  const auto planned = plan(dir, kStaged, "interrupted");
  train::install_interrupt_handler();
  InterruptingStream in_bn_only("-- stage bn-only");
  const auto interrupted = run(planned, in_bn_only, /*save_checkpoint=*/true);
  train::clear_interrupt();
  REQUIRE(interrupted.status == kInterrupted);
  return {reference, planned};
}

}  // namespace

TEST_CASE("stages chain through saved models, with per-stage rows", "[stages]") {
  test::TempDir dir;
  const auto planned = plan(dir, kStaged, "r");
  std::ostringstream log;
  REQUIRE(run(planned, log).status == kCompleted);
  std::ifstream csv(planned.dir / "metrics.csv");
  std::vector<std::string> stages;
  std::string line;
  std::getline(csv, line);
  CHECK(line.rfind("stage,epoch,loss", 0) == 0);
  while (std::getline(csv, line)) stages.push_back(line.substr(0, line.find(',')));
  CHECK(stages == std::vector<std::string>{"first", "first", "recal", "bn-only", "bn-only", "all", "all"});

  const auto& config = planned.stages[0].config;
  auto first = state_of(planned.dir / "stage-first.pt", config);
  auto recal = state_of(planned.dir / "stage-recal.pt", config);
  auto bn_only = state_of(planned.dir / "stage-bn-only.pt", config);
  auto all = state_of(planned.dir / "stage-all.pt", config);

  SECTION("recalibration changes running statistics only") {
    for (const auto& [name, value] : first) {
      CAPTURE(name);
      const bool running = name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos;
      CHECK(torch::equal(value, recal[name]) != running);
    }
    // A cumulative average over the 640/32 = 20 batches of one pass.
    CHECK(recal["norm1.num_batches_tracked"].item<int64_t>() == 20);
  }
  SECTION("a BN-only stage leaves every other parameter untouched") {
    for (const auto& [name, value] : recal) {
      CAPTURE(name);
      const bool bn_param = name.rfind("norm", 0) == 0 &&
                            (name.find(".weight") != std::string::npos || name.find(".bias") != std::string::npos);
      const bool running = name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos;
      if (bn_param || running)
        CHECK_FALSE(torch::equal(value, bn_only[name]));  // trained, and statistics updated in train mode
      else
        CHECK(torch::equal(value, bn_only[name]));
    }
  }
  SECTION("the last stage trains everything") {
    CHECK_FALSE(torch::equal(bn_only["dense1.weight"], all["dense1.weight"]));
  }
}

TEST_CASE("frozen BN statistics stay put while gamma and beta train", "[stages]") {
  test::TempDir dir;
  std::string text = kStaged;
  replace_once(text, "trainable = \"bn\"", "trainable = \"bn\"\nbn_stats = \"frozen\"");
  const auto planned = plan(dir, text, "r");
  std::ostringstream log;
  REQUIRE(run(planned, log).status == kCompleted);
  auto recal = state_of(planned.dir / "stage-recal.pt", planned.stages[0].config);
  auto bn_only = state_of(planned.dir / "stage-bn-only.pt", planned.stages[0].config);
  CHECK(torch::equal(recal["norm1.running_mean"], bn_only["norm1.running_mean"]));
  CHECK(torch::equal(recal["norm1.num_batches_tracked"], bn_only["norm1.num_batches_tracked"]));
  CHECK_FALSE(torch::equal(recal["norm1.weight"], bn_only["norm1.weight"]));
}

TEST_CASE("inserting BN between stages keeps the trained weights", "[stages]") {
  test::TempDir dir;
  std::string text = kStaged;
  replace_once(text, "name = \"first\"", "name = \"first\"\nmodel.norm = \"none\"");
  replace_once(text, "name = \"recal\"\naction = \"recalibrate\"",
               "name = \"recal\"\naction = \"recalibrate\"\nmodel.norm = \"custom\"");
  const auto planned = plan(dir, text, "r");
  std::ostringstream log;
  REQUIRE(run(planned, log).status == kCompleted);
  CHECK_THAT(log.str(), Contains("new in this stage (initialised fresh): norm1.weight"));
  auto first = state_of(planned.dir / "stage-first.pt", planned.stages[0].config);
  auto recal = state_of(planned.dir / "stage-recal.pt", planned.stages[1].config);
  CHECK(torch::equal(first["dense1.weight"], recal["dense1.weight"]));
  CHECK(torch::equal(first["logits.bias"], recal["logits.bias"]));
}

TEST_CASE("an interrupted run resumes to the same metrics as an uninterrupted one", "[stages][resume]") {
  test::TempDir dir;
  const auto [reference, planned] = uninterrupted_and_interrupted(dir);
  CHECK(runs::read_run_record(planned.dir)->status == kInterrupted);

  std::ostringstream log;
  const auto resumed = run(planned, log, /*save_checkpoint=*/true, /*resume=*/true);
  REQUIRE(resumed.status == kCompleted);
  CHECK_THAT(log.str(), Contains("(resuming)"));
  const auto diff = results::diff_tables(runs::read_csv(reference.dir / "metrics.csv"),
                                         runs::read_csv(planned.dir / "metrics.csv"), {});
  std::ostringstream report;
  results::write_diff_text(report, diff);
  INFO(report.str());
  CHECK(diff.equal());  // every metric to the last digit; timing columns aside

  // TensorBoard: the resumed attempt writes a second event file, which opens
  // with a SessionLog START (so TensorBoard drops the first attempt's steps
  // after the checkpoint). Its bytes: field 7 (session_log), length 2, field 1
  // (status) = 1 (START); test_tensorboard.cpp decodes such records with protoc.
  std::vector<std::string> events;
  for (const auto& entry : std::filesystem::directory_iterator(planned.dir))
    if (runs::RunFiles::is_tensorboard_events(entry.path())) events.push_back(test::read_text(entry.path()));
  REQUIRE(events.size() == 2);
  const std::string start("\x3a\x02\x08\x01", 4);
  CHECK((events[0].find(start) != std::string::npos) != (events[1].find(start) != std::string::npos));

  SECTION("resuming a finished run is refused") {
    REQUIRE_THROWS_WITH(run(planned, log, true, true), Contains("nothing to resume"));
  }
}

TEST_CASE("resume checks metrics.csv against the checkpoint before it changes anything", "[stages][resume][faults]") {
  test::TempDir dir;
  const auto [reference, planned] = uninterrupted_and_interrupted(dir);
  const auto metrics = planned.dir / "metrics.csv";
  const auto written = test::read_text(metrics);

  SECTION("fewer whole rows than the checkpoint counts: refused, nothing changed") {
    std::ofstream(metrics, std::ios::trunc) << written.substr(0, written.find('\n') + 1);  // the header alone
    std::ostringstream log;
    REQUIRE_THROWS_WITH(run(planned, log, true, true), Contains("whole rows") && Contains("nothing was changed"));
    CHECK(test::read_text(metrics) == written.substr(0, written.find('\n') + 1));
    CHECK(runs::read_run_record(planned.dir)->status == kInterrupted);
  }
  SECTION("an unreadable checkpoint is named, and nothing changes") {
    std::ofstream(planned.dir / "checkpoint.pt", std::ios::trunc) << "not a zip archive";
    std::ostringstream log;
    REQUIRE_THROWS_WITH(run(planned, log, true, true), Contains("checkpoint.pt: not a readable checkpoint"));
    CHECK(test::read_text(metrics) == written);
  }
  SECTION("damaged archives (fuzz_checkpoint findings that crashed or leaked in LibTorch) are named") {
    // Found by fuzz_checkpoint: two made LibTorch's TorchScript parser crash
    // (SIGSEGV; one by a damaged record, one by an end record counting no
    // records, so that only LibTorch read them), one made its zip reader
    // throw and leak. core/zip_integrity.h now refuses them first.
    const auto [finding, reason] = GENERATE(table<std::string, std::string>({
        {"finding-jit-parser-segv.pt", "damaged: record 'archive/data/0' fails its CRC-32 check"},
        {"finding-zip-reader-leak.pt", "damaged: record 'archive/data/28' fails its CRC-32 check"},
        {"finding-record-count-segv.pt",
         "damaged: the end record is inconsistent (disk 0, directory on disk 0, "
         "66 records on this disk of 0)"},
    }));
    CAPTURE(finding);
    std::filesystem::copy_file(std::filesystem::path(BNLAB_SOURCE_DIR) / "tests/fuzz/corpus/checkpoint" / finding,
                               planned.dir / "checkpoint.pt", std::filesystem::copy_options::overwrite_existing);
    std::ostringstream log;
    REQUIRE_THROWS_WITH(run(planned, log, true, true), Contains("checkpoint.pt: not a readable checkpoint (" + reason));
    CHECK(test::read_text(metrics) == written);
  }

  SECTION("a row cut short by a crash is dropped, and the run ends as an uninterrupted one") {
    std::ofstream(metrics, std::ios::app) << "all,9,0.12";  // no newline: torn
    std::ostringstream log;
    REQUIRE(run(planned, log, true, true).status == kCompleted);
    const auto diff = results::diff_tables(runs::read_csv(reference.dir / "metrics.csv"), runs::read_csv(metrics), {});
    CHECK(diff.equal());
  }
}

TEST_CASE("resume refuses without a checkpoint or with another config", "[stages][resume]") {
  test::TempDir dir;
  const auto planned = plan(dir, kStaged, "r");
  train::install_interrupt_handler();
  InterruptingStream stream("-- stage recal");
  REQUIRE(run(planned, stream, /*save_checkpoint=*/false).status == kInterrupted);
  train::clear_interrupt();
  std::ostringstream log;
  REQUIRE_THROWS_WITH(run(planned, log, true, true), Contains("no checkpoint.pt to resume from"));
}

TEST_CASE("BN internals logging writes bn_stats.csv and changes nothing", "[stages][bn_stats]") {
  test::TempDir dir;
  const std::string base = R"(
description = "x"
[base]
dataset = "synthetic"
data.synthetic_train = 320
model.hidden = [16, 8]
model.norm = "custom"
model.dropout = 0.1
train.epochs = 2
)";
  const auto plain = plan(dir, base, "plain");
  const auto logged = plan(dir, base + "log.bn_stats_every = 4\n", "logged");
  std::ostringstream log;
  REQUIRE(run(plain, log).status == kCompleted);
  REQUIRE(run(logged, log).status == kCompleted);
  CHECK(results::diff_tables(runs::read_csv(plain.dir / "metrics.csv"), runs::read_csv(logged.dir / "metrics.csv"), {})
            .equal());
  const auto stats = runs::read_csv(logged.dir / "bn_stats.csv");
  CHECK(stats.rows.size() == 5 * 2);  // 2 epochs x 10 steps, a probe every 4 steps, 2 blocks
  const auto p15 = stats.numbers("unit_p15"), p85 = stats.numbers("unit_p85");
  for (size_t i = 0; i < p15.size(); ++i) CHECK(p15[i] <= p85[i]);
  for (double gap : stats.numbers("train_eval_gap")) CHECK(gap > 0);
}
