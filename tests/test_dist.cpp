// Process groups, sharding and the data-parallel building blocks, with ranks
// forked from the test process (support/ranks.h).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>

#include "parallel/data_parallel.h"
#include "parallel/group.h"
#include "parallel/root_task.h"
#include "support/ranks.h"

using bnlab::parallel::Group;
using bnlab::parallel::GroupFlags;
using bnlab::parallel::resolve_group_options;
using bnlab::test::run_in_ranks;
using Catch::Matchers::Contains;

namespace {

// Sets environment variables for one test and restores them afterwards.
class ScopedEnvironment {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    setenv(name, value, 1);
  }
  ~ScopedEnvironment() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

bool report(bool ok, const std::string& what) {
  if (!ok) std::cerr << "failed: " << what << "\n";
  return ok;
}

}  // namespace

TEST_CASE("group options come from flags, else torchrun's environment variables", "[dist]") {
  ScopedEnvironment env;
  env.set("WORLD_SIZE", "4");
  env.set("RANK", "3");
  env.set("MASTER_ADDR", "10.0.0.7");
  env.set("MASTER_PORT", "29611");
  env.set("BNLAB_DIST_TIMEOUT", "7.5");
  SECTION("environment") {
    const auto o = resolve_group_options({});
    CHECK(o.world_size == 4);
    CHECK(o.rank == 3);
    CHECK(o.master_addr == "10.0.0.7");
    CHECK(o.master_port == 29611);
    CHECK(o.timeout == std::chrono::milliseconds(7500));
    CHECK(o.store_file.empty());
    CHECK_FALSE(o.agent_store_attempt);
    CHECK(rendezvous_text(o) == "store 10.0.0.7:29611");
  }
  SECTION("torchrun's agent store: every rank a client, keys of this attempt") {
    env.set("TORCHELASTIC_USE_AGENT_STORE", "True");
    env.set("TORCHELASTIC_RESTART_COUNT", "2");
    const auto o = resolve_group_options({});
    REQUIRE(o.agent_store_attempt);
    CHECK(*o.agent_store_attempt == 2);
    CHECK(rendezvous_text(o) == "torchrun's store 10.0.0.7:29611, attempt 2");
  }
  SECTION("bnlab launch's store file") {
    env.set("BNLAB_STORE_FILE", "/tmp/bnlab-launch-x/store");
    CHECK(rendezvous_text(resolve_group_options({})) == "store file /tmp/bnlab-launch-x/store");
  }
  SECTION("flags win") {
    GroupFlags flags;
    flags.world_size = 2;
    flags.rank = 1;
    flags.master_addr = "127.0.0.1";
    flags.master_port = 30000;
    flags.timeout_seconds = 2;
    const auto o = resolve_group_options(flags);
    CHECK(o.world_size == 2);
    CHECK(o.rank == 1);
    CHECK(o.master_addr == "127.0.0.1");
    CHECK(o.master_port == 30000);
    CHECK(o.timeout == std::chrono::milliseconds(2000));
  }
}

TEST_CASE("bad group options name the flag or variable and the value", "[dist]") {
  ScopedEnvironment env;
  for (const char* name : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT", "BNLAB_DIST_TIMEOUT"}) unsetenv(name);
  GroupFlags flags;
  SECTION("rank outside the world") {
    flags.world_size = 2;
    flags.rank = 2;
    CHECK_THROWS_WITH(resolve_group_options(flags), Contains("--rank (or RANK) must be in 0..1") && Contains("got 2"));
  }
  SECTION("world size") {
    flags.world_size = 0;
    CHECK_THROWS_WITH(resolve_group_options(flags), Contains("--world-size") && Contains("got 0"));
  }
  SECTION("port") {
    flags.master_port = 70000;
    CHECK_THROWS_WITH(resolve_group_options(flags), Contains("--master-port") && Contains("70000"));
  }
  SECTION("timeout") {
    flags.timeout_seconds = 0;
    CHECK_THROWS_WITH(resolve_group_options(flags), Contains("--dist-timeout") && Contains("got 0"));
  }
  SECTION("an environment variable that is not a number") {
    env.set("WORLD_SIZE", "two");
    CHECK_THROWS_WITH(resolve_group_options(flags), Contains("WORLD_SIZE") && Contains("two"));
  }
}

TEST_CASE("shards are contiguous, cover the batch, and differ in size by at most one", "[dist]") {
  const auto [total, world] = GENERATE(table<int64_t, int>({{32, 2}, {8, 3}, {7, 4}, {3, 4}, {1000, 3}, {0, 2}}));
  int64_t next = 0, smallest = total, largest = 0;
  for (int rank = 0; rank < world; ++rank) {
    const auto shard = bnlab::parallel::shard_of(total, rank, world);
    CHECK(shard.begin == next);
    next = shard.end;
    smallest = std::min(smallest, shard.size());
    largest = std::max(largest, shard.size());
  }
  CHECK(next == total);
  CHECK(largest - smallest <= 1);
}

TEST_CASE("a one-process group's collectives change nothing", "[dist]") {
  const auto group = Group::solo();
  auto t = torch::arange(4.0);
  group->all_reduce_sum(t);
  CHECK(torch::equal(t, torch::arange(4.0)));
  CHECK(torch::equal(group->all_gather(t), torch::arange(4.0).unsqueeze(0)));
  std::vector<torch::Tensor> list = {t};
  group->broadcast(list);
  CHECK(torch::equal(list[0], torch::arange(4.0)));
}

TEST_CASE("collectives across forked ranks", "[dist]") {
  const int world = GENERATE(2, 3);
  CAPTURE(world);
  const auto status = run_in_ranks(world, [](const Group& group) {
    auto t = torch::full({5}, double(group.rank() + 1));
    group.all_reduce_sum(t);
    const double expected = group.size() * (group.size() + 1) / 2.0;
    auto gathered = group.all_gather(torch::tensor({group.rank() * 10}, torch::kInt64));
    std::vector<torch::Tensor> from_root = {torch::full({3}, double(group.rank()))};
    group.broadcast(from_root, 0);
    return report(torch::allclose(t, torch::full({5}, expected)), "all_reduce_sum") &&
           report(gathered.size(0) == group.size() && gathered[group.size() - 1].item<int64_t>() == 10 * (group.size() - 1),
                  "all_gather") &&
           report(torch::equal(from_root[0], torch::zeros({3}, torch::kFloat64)), "broadcast");
  });
  CHECK(status == std::vector<int>(world, 0));
}

TEST_CASE("gradients are summed over ranks in buckets", "[dist]") {
  const auto status = run_in_ranks(2, [](const Group& group) {
    // Three buckets with a cap of 6 values: {a (3)}, {b (5)}, {c (2) float64}.
    auto a = torch::zeros({3}, torch::requires_grad()), b = torch::zeros({5}, torch::requires_grad());
    auto c = torch::zeros({2}, torch::TensorOptions().dtype(torch::kFloat64).requires_grad(true));
    bnlab::parallel::GradientReducer reducer({a, b, c}, group, /*bucket_elements=*/6);
    const double mine = group.rank() + 1;  // 1 and 2: sums are 3
    a.mutable_grad() = torch::full({3}, mine);
    c.mutable_grad() = torch::full({2}, mine, torch::kFloat64);
    if (group.rank() == 1) b.mutable_grad() = torch::full({5}, 7.0);  // rank 0 has no gradient for b
    reducer.all_reduce();
    return report(reducer.bucket_count() == 3, "three buckets") &&
           report(torch::equal(a.grad(), torch::full({3}, 3.0)), "a") &&
           report(torch::equal(b.grad(), torch::full({5}, 7.0)), "b (missing on rank 0 counts as zeros)") &&
           report(torch::equal(c.grad(), torch::full({2}, 3.0, torch::kFloat64)), "c");
  });
  CHECK(status == std::vector<int>{0, 0});
}

TEST_CASE("broadcast makes replicas equal - a drifted replica stops every rank with the tensor's name", "[dist]") {
  const auto status = run_in_ranks(2, [](const Group& group) {
    torch::manual_seed(group.rank());  // different initialisations per rank
    torch::nn::Linear layer(3, 2);
    bnlab::parallel::broadcast_parameters_and_buffers(*layer, group);
    bnlab::parallel::check_replicas_agree(*layer, group, "after broadcast");  // throws if not equal
    if (group.rank() == 1) {
      torch::NoGradGuard no_grad;
      layer->bias.add_(1e-6);
    }
    try {
      bnlab::parallel::check_replicas_agree(*layer, group, "end of epoch 1");
    } catch (const bnlab::parallel::DistError& error) {
      const std::string what = error.what();
      return report(what.find("end of epoch 1: rank 1 has drifted from rank 0: checksum of 'bias'") !=
                        std::string::npos,
                    what);
    }
    return report(false, "no drift detected");
  });
  CHECK(status == std::vector<int>{0, 0});
}

TEST_CASE("a collective whose peer is gone fails within the timeout instead of hanging", "[dist]") {
  const auto start = std::chrono::steady_clock::now();
  const auto status = run_in_ranks(
      2,
      [](const Group& group) {
        // One collective together first: a rank that left straight after
        // forming the group could close its sockets while rank 0 was still
        // connecting, failing the group's formation instead (seen once in CI).
        auto joined = torch::ones({1});
        group.all_reduce_sum(joined);
        if (group.rank() == 1) return true;  // leaves without taking part
        auto t = torch::ones({4});
        try {
          group.all_reduce_sum(t);
        } catch (const bnlab::parallel::DistError& error) {
          const std::string what = error.what();
          return report(what.find("rank 0 of 2") != std::string::npos &&
                            what.find("all_reduce failed") != std::string::npos,
                        what);
        }
        return report(false, "all_reduce returned without the other rank");
      },
      /*timeout_seconds=*/3);
  CHECK(status == std::vector<int>{0, 0});
  // The timeout is 3 s; the peer's exit is usually noticed at once.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
}

TEST_CASE("rank 0's task hands its result, or its failure of the same kind, to every rank", "[dist]") {
  using bnlab::parallel::run_on_root;
  SECTION("a result of any size, bytes intact") {
    const auto status = run_in_ranks(3, [](const Group& group) {
      std::string bytes(300000, '\0');  // a checkpoint-sized payload with every byte value in it
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 7919 % 256);
      int calls = 0;
      const std::string got = run_on_root(group, [&] { return ++calls, bytes; });
      const bool empty_ok = run_on_root(group, [] { return std::string(); }).empty();
      return got == bytes && calls == (group.is_root() ? 1 : 0) && empty_ok;
    });
    CHECK(status == std::vector<int>{0, 0, 0});
  }
  SECTION("a failure: bad input stays bad input on every rank, with rank 0's message") {
    const auto status = run_in_ranks(3, [](const Group& group) {
      auto kind_of = [&](const std::function<std::string()>& task) -> std::string {
        try {
          run_on_root(group, task);
        } catch (const std::invalid_argument& error) {
          return std::string("bad input: ") + error.what();
        } catch (const std::runtime_error& error) {
          return std::string("failure: ") + error.what();
        }
        return "returned";
      };
      const std::string prefix = group.is_root() ? "" : "rank 0: ";
      return kind_of([]() -> std::string { throw std::invalid_argument("wrong size"); }) ==
                 "bad input: " + prefix + "wrong size" &&
             kind_of([]() -> std::string { throw std::runtime_error("disk full"); }) ==
                 "failure: " + prefix + "disk full";
    });
    CHECK(status == std::vector<int>{0, 0, 0});
  }
}
