#include "core/durable_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace bnlab {
namespace fs = std::filesystem;
namespace {

// Writes all of `bytes` at the current offset, retrying short writes and EINTR.
void write_all(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw WriteError(os_error(path, "cannot write", errno));
    }
    bytes.remove_prefix(size_t(written));
  }
}

void sync_or_throw(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) throw WriteError(os_error(path, "cannot sync to disk", errno));
}

// Opens `path` read-only (flags added), syncs and closes it; returns fsync's
// errno, 0 on success. Throws when it cannot be opened.
int sync_by_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) throw WriteError(os_error(path, "cannot open to sync it", errno));
  const int error_number = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return error_number;
}

// The folder's entry for a renamed file is durable only once the folder is synced.
void sync_folder(const fs::path& file) {
  const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
  const int error_number = sync_by_path(folder, O_DIRECTORY);
  // Some file systems cannot sync a folder (EINVAL); the rename itself has happened.
  if (error_number != 0 && error_number != EINVAL)
    throw WriteError(os_error(folder, "cannot sync folder", error_number));
}

// A temporary name beside `path`, unique within this process and across processes.
fs::path temporary_beside(const fs::path& path) {
  static std::atomic<uint64_t> counter{0};
  return fs::path(fmt::format("{}.tmp.{}.{}", path.string(), ::getpid(), counter++));
}

}  // namespace

std::string os_error(const fs::path& path, std::string_view what, int error_number) {
  return fmt::format("{}: {}: {}", path.string(), what, std::strerror(error_number));
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(os_error(path, "cannot open", errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(os_error(path, "cannot read", errno));
  return bytes;
}

void report_file_size_limit_as_error() { std::signal(SIGXFSZ, SIG_IGN); }

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)), temporary_(temporary_beside(path_)) {
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw WriteError(os_error(path_, "cannot create", errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temporary_.c_str());
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (fd_ < 0) throw std::logic_error(fmt::format("{}: write after commit", path_.string()));
  write_all(fd_, bytes, path_);
}

void AtomicFile::commit() {
  if (fd_ < 0) throw std::logic_error(fmt::format("{}: committed twice", path_.string()));
  sync_or_throw(fd_, path_);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int error_number = errno;
    ::unlink(temporary_.c_str());
    throw WriteError(os_error(path_, "cannot close", error_number));
  }
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    const int error_number = errno;
    ::unlink(temporary_.c_str());
    throw WriteError(os_error(path_, "cannot replace", error_number));
  }
  sync_folder(path_);
}

void write_file_atomically(const fs::path& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

void move_file_durably(const fs::path& from, const fs::path& to) {
  if (const int error_number = sync_by_path(from, 0))
    throw WriteError(os_error(from, "cannot sync to disk", error_number));
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw WriteError(os_error(to, fmt::format("cannot move {} here", from.string()), errno));
  sync_folder(to);
}

ScratchFolder::ScratchFolder(const fs::path& parent, const std::string& prefix) {
  std::string name = (parent / (prefix + "XXXXXX")).string();
  if (!::mkdtemp(name.data())) throw WriteError(os_error(name, "cannot create a scratch folder", errno));
  path_ = name;
}

ScratchFolder::~ScratchFolder() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

AppendFile::AppendFile(fs::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) throw WriteError(os_error(path_, "cannot open for appending", errno));
  struct stat status {};
  if (::fstat(fd_, &status) != 0) {
    const int error_number = errno;
    ::close(fd_);
    throw WriteError(os_error(path_, "cannot read its size", error_number));
  }
  length_ = uint64_t(status.st_size);
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(std::string_view record) {
  try {
    write_all(fd_, record, path_);
  } catch (const WriteError&) {
    // Cut back a partly written record; if even that fails, the reader of
    // the file (resume) drops rows that are not whole.
    const int truncated = ::ftruncate(fd_, off_t(length_));
    static_cast<void>(truncated);
    throw;
  }
  length_ += record.size();
}

void AppendFile::sync() { sync_or_throw(fd_, path_); }

}  // namespace bnlab
