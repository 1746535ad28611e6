#include "train/run_directory.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace bnlab::train {
namespace fs = std::filesystem;

nlohmann::json read_run_record(const fs::path& run_dir) {
  const fs::path file = run_dir / "run.json";
  if (!fs::exists(file)) return nullptr;
  std::ifstream in(file);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", file.string(), error.what()));
  }
}

std::optional<std::string> finished_run_status(const fs::path& run_dir) {
  const auto record = read_run_record(run_dir);
  if (record.is_null()) return std::nullopt;
  const std::string status = record.value("status", "unknown");
  if (status == "completed" || status == "diverged") return status;
  return std::nullopt;
}

RunDirectory::RunDirectory(const fs::path& path, Mode mode) : path_(path) {
  fs::create_directories(path_);
  const fs::path lock = path_ / ".lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw std::runtime_error(fmt::format("{}: cannot create lock file", lock.string()));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {0};
    (void)!pread(lock_fd_, holder, sizeof holder - 1, 0);
    release();
    throw std::runtime_error(fmt::format("{}: another bnlab run (pid {}) is writing here", path_.string(),
                                         holder[0] ? holder : "?"));
  }
  const std::string pid = std::to_string(getpid());
  (void)!ftruncate(lock_fd_, 0);
  (void)!pwrite(lock_fd_, pid.data(), pid.size(), 0);

  const auto previous = read_run_record(path_);
  const std::string status = previous.is_null() ? "" : previous.value("status", "unknown");
  const bool finished = finished_run_status(path_).has_value();
  if (mode == Mode::kResume) {
    if (previous.is_null() || finished) {
      release();
      throw std::runtime_error(previous.is_null()
                                   ? fmt::format("{}: no run to resume", path_.string())
                                   : fmt::format("{}: the run is {}, nothing to resume", path_.string(), status));
    }
    return;
  }
  if (previous.is_null()) return;
  if (finished && mode == Mode::kNew) {
    release();
    throw std::runtime_error(fmt::format("{} already holds a {} run; pass --overwrite to replace it",
                                         path_.string(), status));
  }
  replaced_note_ = fmt::format("replacing the {} run in {}", status, path_.string());
  for (const auto& entry : fs::directory_iterator(path_))
    if (entry.path().filename() != ".lock") fs::remove_all(entry.path());
}

void RunDirectory::release() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

RunDirectory::~RunDirectory() { release(); }  // closing the file releases the flock

void RunDirectory::write_record(const nlohmann::json& record) const {
  const fs::path temporary = path_ / "run.json.tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << record.dump(2) << "\n";
    if (!out) throw std::runtime_error(fmt::format("{}: write error", temporary.string()));
  }
  fs::rename(temporary, run_json());
}

}  // namespace bnlab::train
