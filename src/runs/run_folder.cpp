#include "runs/run_folder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <stdexcept>

#include "core/durable_file.h"
#include "runs/record.h"

namespace bnlab::runs {
namespace fs = std::filesystem;

RunDirectory::RunDirectory(const fs::path& path, Mode mode) : RunFiles(path) {
  fs::create_directories(path);
  const fs::path lock = lock_file();
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw WriteError(os_error(lock, "cannot create the lock file", errno));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {0};
    (void)!pread(lock_fd_, holder, sizeof holder - 1, 0);
    release();
    throw std::runtime_error(
        fmt::format("{}: another bnlab run (pid {}) is writing here", path.string(), holder[0] ? holder : "?"));
  }
  const std::string pid = std::to_string(getpid());
  (void)!ftruncate(lock_fd_, 0);
  (void)!pwrite(lock_fd_, pid.data(), pid.size(), 0);

  std::optional<RunRecord> previous;
  try {
    previous = read_run_record(path);
  } catch (const std::exception& unreadable) {
    if (mode != Mode::kOverwrite) {
      release();
      throw std::runtime_error(fmt::format("{}; pass --overwrite to replace the run", unreadable.what()));
    }
    replaced_note_ = fmt::format("replacing the run in {} (its run.json was unreadable)", path.string());
  }
  if (!previous && !replaced_note_.empty()) {
    remove_previous_files();
    return;
  }
  const std::string status = previous ? to_string(previous->status) : "";
  const bool finished = previous && is_finished(previous->status);
  if (mode == Mode::kResume) {
    if (!previous || finished) {
      release();
      throw std::runtime_error(!previous ? fmt::format("{}: no run to resume", path.string())
                                         : fmt::format("{}: the run is {}, nothing to resume", path.string(), status));
    }
    return;
  }
  if (!previous) return;
  if (finished && mode == Mode::kNew) {
    release();
    throw std::runtime_error(
        fmt::format("{} already holds a {} run; pass --overwrite to replace it", path.string(), status));
  }
  const std::string found = unfinished_description(*previous);
  if (mode == Mode::kNew && fs::exists(checkpoint())) {
    release();
    throw std::runtime_error(fmt::format("{} holds {} with a checkpoint; continue it with --resume, or pass "
                                         "--overwrite to discard it", path.string(), found));
  }
  replaced_note_ = fmt::format("replacing {} in {}", found, path.string());
  remove_previous_files();
}

std::string unfinished_description(const RunRecord& record) {
  // A record still saying "running" whose folder could be locked: its
  // process died (killed, crashed, the machine went down) before it could
  // record how it ended.
  if (record.status == RunStatus::kRunning) return "a crashed run (run.json says running; no process holds it)";
  return fmt::format("the {} run", to_string(record.status));
}

void RunDirectory::remove_previous_files() const {
  for (const auto& entry : fs::directory_iterator(path()))
    if (entry.path() != lock_file()) fs::remove_all(entry.path());
}

void RunDirectory::release() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

RunDirectory::~RunDirectory() { release(); }  // closing the file releases the flock

}  // namespace bnlab::runs
