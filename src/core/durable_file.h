#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bnlab {

// A write that did not happen: the message names the file and the OS reason
// ("results/x/metrics.csv: cannot write: No space left on device").
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The one way bnlab writes a whole file. Bytes go to a temporary file beside
// `path` (same folder, so the rename cannot cross file systems); commit()
// syncs it, renames it over `path` and syncs the folder. Until commit() the
// old file is untouched; a failure or a destruction without commit() removes
// the temporary, so readers see the old file or the new one, never a torn one.
// Every write, sync and close is checked; a failure throws WriteError.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  void write(const void* data, size_t size) { write(std::string_view(static_cast<const char*>(data), size)); }
  void commit();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_, temporary_;
  int fd_ = -1;
};

// write_file_atomically(path, text): an AtomicFile written in one go.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

// A file that grows by whole records (CSV rows). append() writes a record
// entirely or not at all: after a failed write the file is cut back to its
// previous length, so no torn row stays behind. sync() makes what was
// appended durable (called once per epoch by the run's writers).
class AppendFile {
 public:
  // Opens an existing file for appending; the file must exist.
  explicit AppendFile(std::filesystem::path path);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  void append(std::string_view record);
  void sync();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t length_ = 0;
};

// Moves a finished file that another program wrote (tar, curl) into place
// the same way: synced, renamed within one file system, folder synced.
void move_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// A private folder, PARENT/PREFIXxxxxxx (mkdtemp), for files on their way to
// a durable write (a data set being fetched, gnuplot's figure), removed with
// its contents however the work ends.
class ScratchFolder {
 public:
  ScratchFolder(const std::filesystem::path& parent, const std::string& prefix);
  ~ScratchFolder();
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A whole file's bytes; an error names the path and the OS reason.
std::string read_whole_file(const std::filesystem::path& path);

// "PATH: WHAT: OS reason" for the errno of a failed call.
std::string os_error(const std::filesystem::path& path, std::string_view what, int error_number);

// Make a write beyond RLIMIT_FSIZE fail with EFBIG instead of killing the
// process with SIGXFSZ, so it is reported like any other failed write.
void report_file_size_limit_as_error();

}  // namespace bnlab
