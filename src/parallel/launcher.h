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
  // After a rank fails (not with bad input, exit 2, nor by Ctrl-C or SIGTERM),
  // every rank is stopped and the job started again with restart_arguments,
  // up to max_restarts times (torchrun's elastic restarts at a fixed world
  // size). The ranks of a restarted job are told why in BNLAB_RESTART_CAUSE.
  int max_restarts = 0;
  std::vector<std::string> restart_arguments;  // e.g. {"run", ..., "--resume"}
};

// Where a restarted rank finds why it was restarted ("bnlab launch restart 1
// of 3: rank 1 was killed by signal 9 (Killed)").
inline constexpr const char* kRestartCauseVariable = "BNLAB_RESTART_CAUSE";

// Why this process was restarted: the launcher's text, or torchrun's restart
// count (TORCHELASTIC_RESTART_COUNT > 0); empty for a first attempt.
std::string restart_cause_from_environment();

// Throws std::invalid_argument naming the option (as `bnlab launch` spells
// it) and the value: processes >= 1, a port in 1..65535, a positive timeout,
// a non-negative grace, restarts >= 0 (and then restart arguments).
void check_launch_options(const LaunchOptions& options);

// A port on 127.0.0.1 that nothing listens on now (the kernel's choice).
int free_loopback_port();
// True when `port` can be bound on 127.0.0.1 now.
bool port_available(int port);

// Starts the job and waits for it (and its restarts); returns 0 when every
// rank of the last attempt exited with 0, else its first failing rank's exit
// code (130 if interrupted). Lines about
// the job itself go to `log`. Throws std::invalid_argument for bad options
// (check_launch_options) and std::runtime_error when it cannot start (port
// in use, fork failure).
int launch_local_job(const LaunchOptions& options, std::ostream& out, std::ostream& err, std::ostream& log);

}  // namespace bnlab::parallel
