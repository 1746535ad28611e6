#pragma once
// `bnlab launch`: a data-parallel job of N local processes, as torchrun
// --standalone does: each child runs this program with WORLD_SIZE, RANK,
// LOCAL_RANK, MASTER_ADDR and BNLAB_STORE_FILE (or MASTER_PORT) set, its
// output forwarded line by line with a "[rank r] " prefix.
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace bnlab::parallel {

struct LaunchOptions {
  int processes = 2;
  std::string master_addr = "127.0.0.1";
  std::optional<int> master_port;         // rank 0 serves a TCPStore here; unset: the ranks meet through a file
  std::optional<double> timeout_seconds;  // passed on as BNLAB_DIST_TIMEOUT
  std::string program;                    // the executable each rank runs (bnlab itself)
  std::vector<std::string> arguments;     // its arguments, e.g. {"run", "sync-bn"}
  // After the first rank fails, how long the others get to stop on their own
  // (they notice at their next collective) before they are terminated.
  double grace_seconds = 10;
};

// Throws std::invalid_argument naming the option (as `bnlab launch` spells
// it) and the value: processes >= 1, a port in 1..65535, a positive timeout,
// a non-negative grace.
void check_launch_options(const LaunchOptions& options);

// A port on 127.0.0.1 that nothing listens on now (the kernel's choice).
int free_loopback_port();
// True when `port` can be bound on 127.0.0.1 now.
bool port_available(int port);

// Starts the job and waits for it; returns 0 when every rank exited with 0,
// else the first failing rank's exit code (130 if interrupted). Lines about
// the job itself go to `log`. Throws std::invalid_argument for bad options
// (check_launch_options) and std::runtime_error when it cannot start (port
// in use, fork failure).
int launch_local_job(const LaunchOptions& options, std::ostream& out, std::ostream& err, std::ostream& log);

}  // namespace bnlab::parallel
