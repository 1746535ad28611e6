#include "parallel/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "core/durable_file.h"

namespace bnlab::parallel {
namespace {

using Clock = std::chrono::steady_clock;

// Binds a TCP socket to 127.0.0.1:port (0: any); returns the bound port or -1.
int bind_loopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(uint16_t(port));
  int bound = -1;
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    bound = ntohs(address.sin_port);
  close(fd);
  return bound;
}

// One rank's process and the pipes its output comes through.
struct Rank {
  int index = 0;
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
  std::string out_pending, err_pending;  // a line not yet complete
  std::optional<int> exit_code;          // 128 + the signal when killed
  int signal = 0;                        // the signal that killed it, if one did
};

volatile std::sig_atomic_t interrupted = 0;
void note_interrupt(int) { interrupted = 1; }  // the ranks get Ctrl-C too (same process group)
// SIGTERM (a scheduler, `kill`) reaches the launcher alone: it is passed on
// to the ranks, which stop as on Ctrl-C, so that none is left running.
volatile std::sig_atomic_t terminated = 0;
void note_termination(int) { terminated = 1; }

// The rendezvous a rank is told of: a file store (`store_file`) or rank 0's TCP store on `port`.
struct Rendezvous {
  std::string store_file;
  int port = 0;
};

void set_child_environment(const LaunchOptions& o, int rank, const Rendezvous& rendezvous,
                           const std::string& restart_cause) {
  setenv("WORLD_SIZE", std::to_string(o.processes).c_str(), 1);
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(o.processes).c_str(), 1);
  setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
  if (rendezvous.store_file.empty()) {
    setenv("MASTER_PORT", std::to_string(rendezvous.port).c_str(), 1);
    unsetenv("BNLAB_STORE_FILE");
  } else {
    unsetenv("MASTER_PORT");
    setenv("BNLAB_STORE_FILE", rendezvous.store_file.c_str(), 1);
  }
  unsetenv("TORCHELASTIC_USE_AGENT_STORE");  // this job's store is its own, even inside a torchrun job
  unsetenv("TORCHELASTIC_RESTART_COUNT");
  if (restart_cause.empty())
    unsetenv(kRestartCauseVariable);
  else
    setenv(kRestartCauseVariable, restart_cause.c_str(), 1);
  if (o.timeout_seconds) setenv("BNLAB_DIST_TIMEOUT", fmt::format("{}", *o.timeout_seconds).c_str(), 1);
  // c10d's socket warnings (IPv6 fallbacks) are noise next to our own errors.
  setenv("GLOG_minloglevel", "2", 0);
}

Rank start_rank(const LaunchOptions& o, const std::vector<std::string>& arguments, int rank,
                const Rendezvous& rendezvous, const std::string& restart_cause) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("launch: cannot create pipes");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("launch: cannot start rank {}", rank));
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    signal(SIGINT, SIG_DFL);
    set_child_environment(o, rank, rendezvous, restart_cause);
    std::vector<char*> argv = {const_cast<char*>(o.program.c_str())};
    for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(o.program.c_str(), argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  Rank started;
  started.index = rank;
  started.pid = pid;
  started.out_fd = out_pipe[0];
  started.err_fd = err_pipe[0];
  return started;
}

// Forwards complete lines of `text` with the rank prefix; keeps the rest.
void forward(std::string& pending, const char* data, size_t size, int rank, std::ostream& to, bool flush_all) {
  pending.append(data, size);
  size_t start = 0, newline;
  while ((newline = pending.find('\n', start)) != std::string::npos) {
    to << "[rank " << rank << "] " << std::string_view(pending).substr(start, newline - start + 1);
    start = newline + 1;
  }
  pending.erase(0, start);
  if (flush_all && !pending.empty()) {
    to << "[rank " << rank << "] " << pending << "\n";
    pending.clear();
  }
  to.flush();
}

// Reads what is available on the ranks' pipes (waiting up to 100 ms).
void pump_output(std::vector<Rank>& ranks, std::ostream& out, std::ostream& err) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Rank*, bool>> owners;  // rank, is stderr
  for (auto& r : ranks) {
    if (r.out_fd >= 0) fds.push_back({r.out_fd, POLLIN, 0}), owners.push_back({&r, false});
    if (r.err_fd >= 0) fds.push_back({r.err_fd, POLLIN, 0}), owners.push_back({&r, true});
  }
  if (fds.empty()) {
    usleep(100 * 1000);
    return;
  }
  if (poll(fds.data(), fds.size(), 100) <= 0) return;
  char buffer[8192];
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    auto& [rank, is_err] = owners[i];
    const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
    int& fd = is_err ? rank->err_fd : rank->out_fd;
    std::string& pending = is_err ? rank->err_pending : rank->out_pending;
    if (n > 0) {
      forward(pending, buffer, size_t(n), rank->index, is_err ? err : out, false);
    } else {
      forward(pending, buffer, 0, rank->index, is_err ? err : out, true);
      close(fd);
      fd = -1;
    }
  }
}

void reap(std::vector<Rank>& ranks) {
  for (auto& r : ranks) {
    if (r.exit_code) continue;
    int status = 0;
    if (waitpid(r.pid, &status, WNOHANG) != r.pid) continue;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
}

bool all_done(const std::vector<Rank>& ranks) {
  for (const auto& r : ranks)
    if (!r.exit_code || r.out_fd >= 0 || r.err_fd >= 0) return false;
  return true;
}

}  // namespace

int free_loopback_port() {
  const int port = bind_loopback(0);
  if (port <= 0) throw std::runtime_error("launch: cannot find a free port on 127.0.0.1");
  return port;
}

bool port_available(int port) { return bind_loopback(port) == port; }

void check_launch_options(const LaunchOptions& o) {
  if (o.processes < 1) throw std::invalid_argument(fmt::format("--nproc must be at least 1, got {}", o.processes));
  if (o.master_port && (*o.master_port < 1 || *o.master_port > 65535))
    throw std::invalid_argument(fmt::format("--master-port must be in 1..65535, got {}", *o.master_port));
  if (o.timeout_seconds && !(*o.timeout_seconds > 0))
    throw std::invalid_argument(fmt::format("--dist-timeout must be positive seconds, got {}", *o.timeout_seconds));
  if (!(o.grace_seconds >= 0))
    throw std::invalid_argument(fmt::format("--grace must be >= 0, got {}", o.grace_seconds));
  if (o.max_restarts < 0)
    throw std::invalid_argument(fmt::format("--max-restarts must be >= 0, got {}", o.max_restarts));
  if (o.max_restarts > 0 && o.restart_arguments.empty())
    throw std::invalid_argument("--max-restarts: no command to restart the job with");
}

namespace {

// How a rank ended, in words ("exited with code 1", "was killed by signal 9 (Killed)").
std::string ending_of(const Rank& r) {
  if (r.signal) return fmt::format("was killed by signal {} ({})", r.signal, strsignal(r.signal));
  return fmt::format("exited with code {}", r.exit_code.value_or(-1));
}

// The rank that failed first among those reaped: one killed by a signal
// before one that exited (a rank that loses a peer exits with an error soon
// after, and both may be reaped in one pass), else the lowest rank.
std::optional<int> first_failure(const std::vector<Rank>& ranks) {
  std::optional<int> found;
  for (const auto& r : ranks)
    if (r.exit_code && *r.exit_code != 0 && (!found || (r.signal && !ranks[size_t(*found)].signal))) found = r.index;
  return found;
}

// One attempt at the job: its ranks started, their output forwarded, until
// all have exited; after the first failure the others get the grace period
// to stop on their own, then SIGTERM, then SIGKILL.
struct Attempt {
  std::vector<Rank> ranks;
  std::optional<int> first_failure;  // rank index
};

Attempt run_attempt(const LaunchOptions& o, const std::vector<std::string>& arguments, const Rendezvous& rendezvous,
                    const std::string& restart_cause, std::ostream& out, std::ostream& err, std::ostream& log) {
  Attempt attempt;
  auto& ranks = attempt.ranks;
  for (int r = 0; r < o.processes; ++r) ranks.push_back(start_rank(o, arguments, r, rendezvous, restart_cause));
  bool passed_on = false;
  constexpr auto kNever = Clock::time_point::max();
  Clock::time_point terminate_at = kNever, kill_at = kNever;
  while (!all_done(ranks)) {
    pump_output(ranks, out, err);
    reap(ranks);
    if (!attempt.first_failure && (attempt.first_failure = first_failure(ranks))) {
      const Rank& failed = ranks[size_t(*attempt.first_failure)];
      log << fmt::format("launch: rank {} {}; the other ranks get {} s to stop\n", failed.index, ending_of(failed),
                         o.grace_seconds)
          << std::flush;
      terminate_at = Clock::now() + std::chrono::milliseconds(int64_t(o.grace_seconds * 1000));
    }
    if (terminated && !passed_on) {
      for (const auto& r : ranks)
        if (!r.exit_code) kill(r.pid, SIGTERM);
      passed_on = true;
    }
    const auto now = Clock::now();
    if (now >= terminate_at) {
      for (const auto& r : ranks)
        if (!r.exit_code) kill(r.pid, SIGTERM);
      terminate_at = kNever;
      kill_at = now + std::chrono::seconds(5);
    }
    if (now >= kill_at) {
      for (const auto& r : ranks)
        if (!r.exit_code) kill(r.pid, SIGKILL);
      kill_at = kNever;
    }
  }
  return attempt;
}

// A failure a restart can get past: not bad input (exit 2: it would fail
// again) and not a stop the user asked for.
bool worth_restarting(const Rank& failed) {
  return !interrupted && !terminated && failed.exit_code != 2 && failed.exit_code != 130;
}

}  // namespace

std::string restart_cause_from_environment() {
  if (const char* cause = std::getenv(kRestartCauseVariable); cause && *cause) return cause;
  // torchrun --max-restarts restarts its workers with the same arguments (so
  // pass --resume from the start) and counts the attempts here.
  if (const char* count = std::getenv("TORCHELASTIC_RESTART_COUNT"); count && std::atoi(count) > 0)
    return fmt::format("torchrun restart {}", std::atoi(count));
  return {};
}

int launch_local_job(const LaunchOptions& o, std::ostream& out, std::ostream& err, std::ostream& log) {
  check_launch_options(o);
  // By default the ranks meet through a file in a private (0700) folder, so
  // that no socket but Gloo's, on 127.0.0.1, listens (a TCPStore would listen
  // on every interface). --master-port asks for rank 0's TCPStore instead.
  std::optional<ScratchFolder> store_folder;
  Rendezvous rendezvous;
  if (o.master_port) {
    rendezvous.port = *o.master_port;
    if (!port_available(rendezvous.port))
      throw std::runtime_error(
          fmt::format("launch: port {} on 127.0.0.1 is already in use; pick another "
                      "--master-port or leave it out (the ranks then meet through a file)",
                      rendezvous.port));
    log << fmt::format("launch: {} ranks, rendezvous at {}:{}\n", o.processes, o.master_addr, rendezvous.port);
  } else {
    store_folder.emplace(std::filesystem::temp_directory_path(), "bnlab-launch-");
    log << fmt::format("launch: {} ranks, rendezvous through a file store in {}\n", o.processes,
                       store_folder->path().string());
  }
  log << std::flush;

  struct sigaction action {
  }, previous_int{};
  action.sa_handler = note_interrupt;
  sigaction(SIGINT, &action, &previous_int);
  struct sigaction on_term {
  }, previous_term{};
  on_term.sa_handler = note_termination;
  sigaction(SIGTERM, &on_term, &previous_term);

  Attempt attempt;
  std::string restart_cause;
  for (int restart = 0;; ++restart) {
    // Each attempt meets in a store of its own: the last one's keys would mislead it.
    if (store_folder) rendezvous.store_file = (store_folder->path() / fmt::format("store-{}", restart)).string();
    attempt =
        run_attempt(o, restart == 0 ? o.arguments : o.restart_arguments, rendezvous, restart_cause, out, err, log);
    if (!attempt.first_failure) break;
    const Rank& failed = attempt.ranks[size_t(*attempt.first_failure)];
    if (restart == o.max_restarts || !worth_restarting(failed)) break;
    restart_cause = fmt::format("bnlab launch restart {} of {}: rank {} {}", restart + 1, o.max_restarts, failed.index,
                                ending_of(failed));
    log << fmt::format("launch: {}; restarting every rank from the last checkpoint\n", restart_cause) << std::flush;
  }
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);

  std::vector<std::string> failed;
  for (const auto& r : attempt.ranks)
    if (*r.exit_code != 0) failed.push_back(fmt::format("rank {} (exit {})", r.index, *r.exit_code));
  if (failed.empty()) return 0;
  log << fmt::format("launch: failed: {}\n", fmt::join(failed, ", ")) << std::flush;
  if (interrupted || terminated) return 130;
  return attempt.ranks[size_t(*attempt.first_failure)].exit_code.value();
}

}  // namespace bnlab::parallel
