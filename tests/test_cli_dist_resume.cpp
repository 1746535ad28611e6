// Data-parallel jobs that survive: checkpoints and --resume in a job (after
// Ctrl-C/SIGTERM or a killed rank), `bnlab launch --max-restarts`, and BN
// internals logged in a job. Through the real binary.
#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "parallel/launcher.h"
#include "runs/csv_table.h"
#include "support/background_process.h"
#include "support/cli_runner.h"
#include "support/read_files.h"
#include "support/scratch_mount.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using bnlab::test::BackgroundBnlab;
using bnlab::test::kSgd;
using bnlab::test::read_json;
using bnlab::test::run_bnlab;
using bnlab::test::with;
using Catch::Matchers::Contains;

namespace {

// A 2-rank job of the smoke MLP with 4000 samples (125 steps an epoch at a
// global batch of 32), long enough to be stopped inside an epoch.
std::vector<std::string> job_run(const fs::path& out, const std::string& bn_mode,
                                 const std::vector<std::string>& launch_options = {}) {
  std::vector<std::string> args = {"launch", "--nproc", "2"};
  args.insert(args.end(), launch_options.begin(), launch_options.end());
  return with(
      with(args, {"--", "run", "smoke", "--variant", "bn-custom", "--out", out.string(), "--epochs", "4", "--set",
                  "data.synthetic_train=4000", "--set", "train.batch_size=16", "--set", "bn.mode=" + bn_mode}),
      kSgd);
}

fs::path job_dir(const fs::path& out) { return out / "smoke/bn-custom/seed-0"; }

// The pid of rank `rank` among the launcher's children (by its RANK variable).
int rank_pid(int launcher, int rank) {
  std::ifstream children(fmt::format("/proc/{}/task/{}/children", launcher, launcher));
  for (int child; children >> child;) {
    std::ifstream environ(fmt::format("/proc/{}/environ", child));
    std::string variable;
    while (std::getline(environ, variable, '\0'))
      if (variable == "RANK=" + std::to_string(rank)) return child;
  }
  return -1;
}

// Kills rank `rank` of the job with SIGKILL and waits for the job to end;
// returns its exit code.
int kill_rank_and_wait(BackgroundBnlab& job, int rank) {
  const int pid = rank_pid(job.pid(), rank);
  REQUIRE(pid > 0);
  ::kill(pid, SIGKILL);
  const auto code = job.wait_for(std::chrono::seconds(180));
  INFO(job.output());
  REQUIRE(code);
  return *code;
}

// Starts the job and, once epoch 2 has ended (its line is written at its
// end), stops it inside epoch 3 the way `how` says:
// "sigterm" to the launcher (passed on to the ranks, as Ctrl-C), or "kill"
// rank 1 with SIGKILL. Returns the launcher's exit code and output.
std::pair<int, std::string> stop_in_epoch_3(const std::vector<std::string>& args, const fs::path& log,
                                            const std::string& how) {
  BackgroundBnlab job(args, log);
  REQUIRE(job.wait_for_output("Epoch 2/4", std::chrono::seconds(120)));
  if (how == "kill") return {kill_rank_and_wait(job, 1), job.output()};
  job.kill(SIGTERM);
  const auto code = job.wait_for(std::chrono::seconds(120));
  REQUIRE(code);
  return {*code, job.output()};
}

// `bnlab diff` of two runs' metrics.csv: equal in every column but timing.
void require_identical_metrics(const fs::path& a, const fs::path& b) {
  const auto diff = run_bnlab({"diff", (a / "metrics.csv").string(), (b / "metrics.csv").string()});
  INFO(diff.output);
  CHECK(diff.exit_code == 0);
}

}  // namespace

TEST_CASE("an interrupted job resumes to the metrics of the uninterrupted job", "[cli][dist][resume]") {
  // Each BN mode once and each way of stopping once: how the job stops
  // (SIGTERM: every rank stops together; SIGKILL of rank 1: rank 0 finds
  // it gone) and what BN's buffers hold (per-rank, broadcast at the epoch's
  // end; or equal everywhere) are separate paths, so the full product of
  // the two would test nothing more for twice the time.
  const auto [mode, how] = GENERATE(table<std::string, std::string>({{"local", "sigterm"}, {"sync", "kill"}}));
  INFO("bn.mode=" << mode << ", stopped by " << how);
  bnlab::test::TempDir reference, out;
  const auto uninterrupted = run_bnlab(job_run(reference.path(), mode));
  INFO(uninterrupted.output);
  REQUIRE(uninterrupted.exit_code == 0);

  const auto [code, output] =
      stop_in_epoch_3(with(job_run(out.path(), mode), {"--save-checkpoint"}), out / "log.txt", how);
  INFO(output);
  CHECK(code == (how == "sigterm" ? 130 : 128 + SIGKILL));
  const auto stopped = read_json(job_dir(out.path()) / "run.json");
  CHECK(stopped["status"] == (how == "sigterm" ? "interrupted" : "failed"));
  REQUIRE(fs::exists(job_dir(out.path()) / "checkpoint.pt"));

  const auto resumed = run_bnlab(with(job_run(out.path(), mode), {"--resume"}));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("(resuming)"));
  require_identical_metrics(job_dir(reference.path()), job_dir(out.path()));
  const auto record = read_json(job_dir(out.path()) / "run.json");
  REQUIRE(record["resumes"].size() == 1);
  CHECK(record["resumes"][0]["cause"] == "--resume");
  CHECK(record["resumes"][0]["epoch"].get<int>() >= 1);
}

TEST_CASE("bnlab launch --max-restarts restarts every rank from the last checkpoint after one is killed",
          "[cli][dist][resume]") {
  const std::string mode = GENERATE("local", "sync");
  INFO("bn.mode=" << mode);
  bnlab::test::TempDir reference, out;
  REQUIRE(run_bnlab(job_run(reference.path(), mode)).exit_code == 0);

  BackgroundBnlab job(job_run(out.path(), mode, {"--max-restarts", "2"}), out / "log.txt");
  REQUIRE(job.wait_for_output("Epoch 2/4", std::chrono::seconds(120)));
  CHECK(kill_rank_and_wait(job, 1) == 0);
  INFO(job.output());
  CHECK_THAT(job.output(), Contains("bnlab launch restart 1 of 2: rank 1 was killed by signal 9") &&
                               Contains("restarting every rank from the last checkpoint"));
  require_identical_metrics(job_dir(reference.path()), job_dir(out.path()));
  const auto record = read_json(job_dir(out.path()) / "run.json");
  CHECK(record["status"] == "completed");
  REQUIRE(record["resumes"].size() == 1);
  CHECK_THAT(record["resumes"][0]["cause"].get<std::string>(),
             Contains("bnlab launch restart 1 of 2: rank 1 was killed by signal 9"));
}

TEST_CASE("a restart before the first checkpoint starts the run over, and run.json says so", "[cli][dist][resume]") {
  bnlab::test::TempDir out;
  // One long epoch (1250 steps), so that a kill soon after the ranks start lands before its checkpoint.
  auto args = job_run(out.path(), "sync", {"--max-restarts", "1"});
  args = with(args, {"--epochs", "1", "--set", "data.synthetic_train=40000"});
  BackgroundBnlab job(args, out / "log.txt");
  // Killed once rank 0 has taken the folder (run.json written; the data and
  // the epoch's 1250 steps are still ahead), not by the clock: under the
  // sanitizers start-up alone takes seconds.
  for (int i = 0; i < 2400 && !fs::exists(job_dir(out.path()) / "run.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(job_dir(out.path()) / "run.json"));
  CHECK(kill_rank_and_wait(job, 1) == 0);
  INFO(job.output());
  const auto record = read_json(job_dir(out.path()) / "run.json");
  CHECK(record["status"] == "completed");
  REQUIRE(record["resumes"].size() == 1);
  CHECK(record["resumes"][0]["epoch"] == 0);
  CHECK_THAT(
      record["resumes"][0]["cause"].get<std::string>(),
      Contains("restart 1 of 1: rank 1 was killed by signal 9") && Contains("no checkpoint yet: from the start"));
}

TEST_CASE("torchrun --max_restarts with --resume continues the job from its checkpoint",
          "[cli][dist][resume][torchrun]") {
  bnlab::test::TempDir reference, out;
  REQUIRE(run_bnlab(job_run(reference.path(), "sync")).exit_code == 0);
  // job_run's `bnlab run ...` words, started by torchrun's agent instead of bnlab launch (-r 1 -t 2: see
  // test_cli_dist_hosts.cpp); --resume from the start, as torchrun restarts with the same arguments.
  auto run = job_run(out.path(), "sync");
  run.erase(run.begin(), run.begin() + 4);  // "launch --nproc 2 --"
  const std::vector<std::string> torchrun = {"/usr/bin/python3",
                                             "-m",
                                             "torch.distributed.run",
                                             "--nproc_per_node",
                                             "2",
                                             "--max_restarts",
                                             "1",
                                             "-r",
                                             "1",
                                             "-t",
                                             "2",
                                             "--log_dir",
                                             (out / "logs").string(),
                                             "--master_port",
                                             std::to_string(bnlab::parallel::free_loopback_port()),
                                             "--no_python"};
  BackgroundBnlab job(with(run, {"--resume"}), out / "log.txt", torchrun);
  // Killed once the first checkpoint exists (written after epoch 1's row).
  const auto checkpoint = job_dir(out.path()) / "checkpoint.pt";
  for (int i = 0; i < 2400 && !fs::exists(checkpoint); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(checkpoint));
  CHECK(kill_rank_and_wait(job, 1) == 0);
  INFO(job.output());
  require_identical_metrics(job_dir(reference.path()), job_dir(out.path()));
  const auto record = read_json(job_dir(out.path()) / "run.json");
  REQUIRE(record["resumes"].size() == 1);
  CHECK(record["resumes"][0]["cause"] == "torchrun restart 1");
}

TEST_CASE("a checkpoint rank 0 cannot write stops every rank with its reason, and --resume then finishes the job",
          "[cli][dist][resume][faults]") {
  bnlab::test::TempDir reference;
  REQUIRE(run_bnlab(with(job_run(reference.path(), "sync"), {"--save-checkpoint"})).exit_code == 0);
  const auto checkpoint_bytes = fs::file_size(job_dir(reference.path()) / "checkpoint.pt");
  // Room for the small files and one checkpoint, not for the second one written beside it.
  bnlab::test::ScratchMount disk(checkpoint_bytes + 12 * 4096);
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): skipped");
    return;
  }
  const auto failed = run_bnlab(with(job_run(disk.path(), "sync"), {"--save-checkpoint"}));
  INFO(failed.output);
  CHECK(failed.exit_code == 1);
  // Rank 1 stops with rank 0's reason (handed over), not after a collective timed out.
  CHECK_THAT(failed.output, Contains("[rank 0] rank 0: run smoke / bn-custom / seed 0 failed:") &&
                                Contains("[rank 1] rank 1: run smoke / bn-custom / seed 0 failed: rank 0: ") &&
                                Contains("No space left on device"));
  CHECK(read_json(job_dir(disk.path()) / "run.json")["status"] == "failed");

  disk.resize(64 << 20);
  const auto resumed = run_bnlab(with(job_run(disk.path(), "sync"), {"--resume"}));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  require_identical_metrics(job_dir(reference.path()), job_dir(disk.path()));
}

TEST_CASE("a job's checkpoint is refused by a job of another size, on every rank", "[cli][dist][resume]") {
  bnlab::test::TempDir out;
  const auto first = run_bnlab(with(job_run(out.path(), "sync"), {"--save-checkpoint", "--epochs", "1"}));
  REQUIRE(first.exit_code == 0);
  // Pretend it was cut short, so that --resume continues it rather than skipping it.
  auto record = read_json(job_dir(out.path()) / "run.json");
  record["status"] = "interrupted";
  std::ofstream(job_dir(out.path()) / "run.json") << record.dump(2);
  auto args = with(job_run(out.path(), "sync"), {"--resume", "--epochs", "1"});
  args[2] = "3";  // --nproc 3
  const auto resumed = run_bnlab(args);
  INFO(resumed.output);
  CHECK(resumed.exit_code == 2);
  CHECK_THAT(resumed.output,
             Contains("checkpoint.pt: written by a job of 2 rank(s); resume it with as many (this job: 3)"));
  for (int rank : {1, 2}) CHECK_THAT(resumed.output, Contains(fmt::format("[rank {}] bnlab run: rank 0:", rank)));
  CHECK(read_json(job_dir(out.path()) / "run.json") == record);  // refused before anything changed
}

TEST_CASE("bnlab launch refuses --max-restarts where a restart could not resume", "[cli][dist][resume]") {
  const auto [args, message] = GENERATE(table<std::vector<std::string>, std::string>({
      {{"launch", "--max-restarts", "1", "--", "verify", "--sync-bn"}, "restarts `run` jobs from their checkpoints"},
      {{"launch", "--max-restarts", "1", "--", "run", "smoke", "--overwrite"}, "cannot be used with --overwrite"},
      {{"launch", "--max-restarts", "-1", "--", "run", "smoke"}, "--max-restarts must be >= 0, got -1"},
  }));
  const auto result = run_bnlab(args);
  INFO(result.output);
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains(message));
}

TEST_CASE("BN internals in a sync-BN job are those of one process on the global batch", "[cli][dist][bn_stats]") {
  bnlab::test::TempDir out;
  const std::vector<std::string> common = {"run", "smoke", "--variant", "bn-custom", "--set", "log.bn_stats_every=5"};
  const auto single =
      run_bnlab(with(with(common, {"--out", (out / "one").string(), "--set", "train.batch_size=32"}), kSgd));
  REQUIRE(single.exit_code == 0);
  const auto job =
      run_bnlab(with(with(with({"launch", "--nproc", "2", "--"}, common),
                          {"--out", (out / "job").string(), "--set", "train.batch_size=16", "--set", "bn.mode=sync"}),
                     kSgd));
  INFO(job.output);
  REQUIRE(job.exit_code == 0);
  const auto a = bnlab::runs::read_csv(out / "one/smoke/bn-custom/seed-0/bn_stats.csv");
  const auto b = bnlab::runs::read_csv(out / "job/smoke/bn-custom/seed-0/bn_stats.csv");
  REQUIRE(a.rows.size() == b.rows.size());
  REQUIRE(a.rows.size() > 10);
  // The batch statistics sync BN normalises with, its running statistics,
  // gamma and beta; not the unit percentiles and train/eval gap (rank 0's
  // shard). 1e-4 relative: float64 sums over two shards against float32
  // statistics of the whole batch (1e-6 seen), plus the training's own
  // drift between the two (1e-8 after two epochs, test_cli_dist).
  for (const std::string column : {"step", "block", "batch_mean_avg", "batch_var_avg", "batch_var_std",
                                   "running_mean_avg", "running_var_avg", "gamma_avg", "beta_avg"}) {
    const size_t i = a.column_index(column), j = b.column_index(column);
    for (size_t row = 0; row < a.rows.size(); ++row) {
      INFO(column << " row " << row);
      const double x = a.number(row, i), y = b.number(row, j);
      CHECK(std::abs(x - y) <= 1e-6 + 1e-4 * std::max(std::abs(x), std::abs(y)));
    }
  }
}
