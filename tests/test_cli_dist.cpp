// Data-parallel jobs through the real binary: `bnlab launch`, `bnlab run` as
// a rank, `bnlab verify --sync-bn`, and the failures users will meet.
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "parallel/launcher.h"
#include "runs/csv_table.h"
#include "support/background_process.h"
#include "support/cli_runner.h"
#include "support/metrics_match.h"
#include "support/read_files.h"
#include "support/temp_dir.h"
#include "verify/equivalence.h"

using bnlab::test::kSgd;
using bnlab::test::read_json;
using bnlab::test::run_bnlab;
using bnlab::test::with;
using Catch::Matchers::Contains;

namespace {

// A socket listening on a free loopback port for the test's lifetime.
class OccupiedPort {
 public:
  OccupiedPort() : port_(bnlab::parallel::free_loopback_port()) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(uint16_t(port_));
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(fd_, 1) == 0);
  }
  ~OccupiedPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int port_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("sync BatchNorm on 2 and 3 ranks equals one-process BatchNorm on the whole batch", "[cli][dist][bn]") {
  const std::string ranks = GENERATE("2", "3");
  const auto result = run_bnlab({"launch", "--nproc", ranks, "--", "verify", "--sync-bn"});
  INFO(result.output);
  CHECK(result.exit_code == 0);
  // Every case of the sync table (renorm among them), with the reference
  // kernels and each fused copy this CPU runs.
  const auto count = (1 + bnlab::supported_isas().size()) * bnlab::verify::sync_cases().size();
  CHECK_THAT(result.output, Contains(fmt::format("[rank 0] {} cases, {} passed, 0 failed", count, count)));
}

TEST_CASE("data-parallel training with sync BatchNorm matches one process on the concatenated batch",
          "[cli][dist]") {
  // Per-rank batch x ranks = the one-process batch (30 = 3 x 10 splits 1000
  // samples into batches the ranks share unevenly at the end: 10 rows left).
  const auto [ranks, per_rank, whole] = GENERATE(table<std::string, std::string, std::string>(
      {{"2", "16", "32"}, {"3", "10", "30"}}));
  bnlab::test::TempDir out;
  const auto single = run_bnlab(with({"run", "smoke", "--variant", "bn-custom", "--out", (out / "one").string(),
                                      "--set", "train.batch_size=" + whole}, kSgd));
  REQUIRE(single.exit_code == 0);
  const auto job = run_bnlab(with({"launch", "--nproc", ranks, "--", "run", "smoke", "--variant", "bn-custom", "--out",
                                   (out / "job").string(), "--set", "train.batch_size=" + per_rank, "--set",
                                   "bn.mode=sync", "--set", "dist.world_size=" + ranks}, kSgd));
  INFO(job.output);
  REQUIRE(job.exit_code == 0);

  // The same arithmetic in different orders (sums split over ranks, a different Chan merge).
  bnlab::test::check_same_training(out / "one/smoke/bn-custom/seed-0/metrics.csv",
                                   out / "job/smoke/bn-custom/seed-0/metrics.csv");

  const auto record = read_json(out / "job/smoke/bn-custom/seed-0/run.json");
  CHECK(record["data_parallel"]["world_size"] == std::stoi(ranks));
  CHECK(record["data_parallel"]["global_batch_size"] == std::stoi(whole));
  CHECK(record["data_parallel"]["rank_ms_per_step"].size() == size_t(std::stoi(ranks)));
  CHECK(record["config"]["bn.mode"] == "sync");
  // Only rank 0 spoke.
  CHECK_THAT(job.output, !Contains("[rank 1] =="));
}

TEST_CASE("local BatchNorm in a job normalises each rank's shard alone", "[cli][dist]") {
  bnlab::test::TempDir out;
  const auto sync = run_bnlab(with({"launch", "--nproc", "2", "--", "run", "smoke", "--variant", "bn-custom", "--out",
                                    (out / "sync").string(), "--set", "train.batch_size=4", "--set", "bn.mode=sync"},
                                   kSgd));
  const auto local = run_bnlab(with({"launch", "--nproc", "2", "--", "run", "smoke", "--variant", "bn-custom", "--out",
                                     (out / "local").string(), "--set", "train.batch_size=4", "--set",
                                     "bn.mode=local"}, kSgd));
  INFO(sync.output << local.output);
  REQUIRE(sync.exit_code == 0);
  REQUIRE(local.exit_code == 0);
  const auto s = bnlab::runs::read_csv(out / "sync/smoke/bn-custom/seed-0/metrics.csv").numbers("loss");
  const auto l = bnlab::runs::read_csv(out / "local/smoke/bn-custom/seed-0/metrics.csv").numbers("loss");
  // Statistics of 4 rows instead of 8 change the first epoch's loss far
  // beyond rounding (observed ~1e-2 relative), while runs that differ only
  // in rounding agree to ~1e-8 relative (the test above). 1e-4 sits two
  // orders of magnitude from each, so it tells the modes apart without
  // depending on how far apart they land.
  CHECK(std::abs(s[0] - l[0]) > 1e-4 * std::abs(s[0]));
}

TEST_CASE("a rank that never joins makes the others fail within the timeout", "[cli][dist]") {
  bnlab::test::TempDir out;
  const std::string port = std::to_string(bnlab::parallel::free_loopback_port());
  const std::string rank = GENERATE("0", "1");
  const auto start = std::chrono::steady_clock::now();
  const auto result = run_bnlab({"run", "smoke", "--variant", "plain", "--out", out.path().string(), "--world-size",
                                 "2", "--rank", rank, "--master-port", port, "--dist-timeout", "2"});
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains("rank " + rank + " of 2") && Contains("not every rank joined within 2 s"));
  // c10d's store waits up to about twice the timeout (connect, then handshake).
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}

TEST_CASE("a rank that crashes mid-run makes the others fail with a clear message", "[cli][dist]") {
  bnlab::test::TempDir out;
  const std::string port = std::to_string(bnlab::parallel::free_loopback_port());
  // Long enough to be killed mid-training.
  const std::vector<std::string> run = {"run", "smoke", "--variant", "bn-custom", "--out", out.path().string(),
                                        "--epochs", "500", "--world-size", "2", "--master-port", port,
                                        "--dist-timeout", "5", "--set", "bn.mode=sync"};
  bnlab::test::BackgroundBnlab rank0(with(run, {"--rank", "0"}), out / "rank0.log");
  bnlab::test::BackgroundBnlab rank1(with(run, {"--rank", "1"}), out / "rank1.log");
  REQUIRE(rank0.wait_for_output("Epoch 2/500", std::chrono::seconds(60)));
  rank1.kill(SIGKILL);
  const auto code = rank0.wait_for(std::chrono::seconds(30));
  INFO(rank0.output());
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_THAT(rank0.output(), Contains("rank 0 of 2") && Contains("failed"));
  const auto record = read_json(out / "smoke/bn-custom/seed-0/run.json");
  CHECK(record["status"] == "failed");
  CHECK_THAT(record["error"].get<std::string>(), Contains("rank 0 of 2"));
}

TEST_CASE("launch exits non-zero when its ranks fail, naming them", "[cli][dist]") {
  const auto result = run_bnlab({"launch", "--nproc", "2", "--", "run", "smoke", "--set", "train.lr=-1"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains("[rank 1] bnlab run: ") && Contains("train.lr") &&
                                Contains("launch: failed: rank 0 (exit 2), rank 1 (exit 2)"));
}

TEST_CASE("a rendezvous port in use is a clear error", "[cli][dist]") {
  OccupiedPort taken;
  const std::string port = std::to_string(taken.port());
  bnlab::test::TempDir out;
  SECTION("bnlab launch checks it first") {
    const auto result = run_bnlab({"launch", "--nproc", "2", "--master-port", port, "--", "run", "smoke"});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains("port " + port + " on 127.0.0.1 is already in use"));
  }
  SECTION("rank 0 of a job started by hand") {
    const auto result = run_bnlab({"run", "smoke", "--out", out.path().string(), "--world-size", "2", "--rank", "0",
                                   "--master-port", port, "--dist-timeout", "2"});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains("cannot serve the rendezvous store on port " + port));
  }
}

TEST_CASE("distributed usage errors", "[cli][dist]") {
  struct Case {
    std::vector<std::string> args, env;
    std::string message;
  };
  const auto c = GENERATE(values<Case>({
      {{"run", "smoke", "--world-size", "2", "--rank", "2"}, {}, "--rank (or RANK) must be in 0..1"},
      {{"run", "smoke"}, {"WORLD_SIZE=two"}, "WORLD_SIZE"},
      {{"run", "smoke", "--set", "dist.world_size=2"}, {}, "no selected run is meant for world size 1"},
      {{"launch", "--nproc", "2"}, {}, "missing the command to run after `--`"},
      {{"launch", "--nproc", "0", "--", "run", "smoke"}, {}, "--nproc must be at least 1"},
      {{"verify", "--sync-bn"}, {}, "--sync-bn compares across ranks"},
      {{"run", "smoke", "--set", "model.norm=native", "--set", "bn.mode=sync"}, {}, "needs bnlab's BatchNorm"},
  }));
  const auto result = run_bnlab(c.args, c.env);
  INFO(result.output);
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains(c.message));
}

TEST_CASE("a dry run starts runs meant for a job through bnlab launch", "[cli][dist]") {
  const auto result = run_bnlab({"run", "sync-bn", "--dry-run", "--seed", "0"});
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output,
             Contains("bnlab launch --nproc 2 -- run sync-bn --variant local,world_size=2,batch_size=2 --seed 0") &&
                 Contains("bnlab launch --nproc 4 -- run sync-bn --variant group,world_size=4,batch_size=32 --seed 0"));
}
