#include "support/ranks.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "parallel/launcher.h"

namespace bnlab::test {
namespace {

int rank_main(int rank, int world_size, int port, double timeout_seconds,
              const std::function<bool(const parallel::Group&)>& body) {
  std::shared_ptr<parallel::Group> group;
  try {
    parallel::GroupOptions options;
    options.world_size = world_size;
    options.rank = rank;
    options.master_port = port;
    options.timeout = std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    group = parallel::Group::join(options);
  } catch (const std::exception& error) {
    std::cerr << "rank " << rank << ": " << error.what() << "\n";
    return 2;
  }
  try {
    return body(*group) ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "rank " << rank << ": " << error.what() << "\n";
    return 1;
  }
}

}  // namespace

std::vector<int> run_in_ranks(int world_size, const std::function<bool(const parallel::Group&)>& body,
                              double timeout_seconds) {
  const int port = parallel::free_loopback_port();
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world_size; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) {
      std::cout.flush();
      _exit(rank_main(rank, world_size, port, timeout_seconds, body));  // never back into Catch2
    }
    pids.push_back(pid);
  }
  std::vector<int> status(world_size, 124);
  // Generous, so that a loaded machine (ctest -j) cannot turn a slow start
  // into a kill: twice a 3 s timeout was stricter than the 15 s that the
  // "peer is gone" test itself allows.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(1000 * (timeout_seconds + 30)));
  for (int rank = 0; rank < world_size; ++rank) {
    for (;;) {
      int raw = 0;
      if (waitpid(pids[rank], &raw, WNOHANG) == pids[rank]) {
        status[rank] = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pids[rank], SIGKILL);
        waitpid(pids[rank], nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return status;
}

}  // namespace bnlab::test
