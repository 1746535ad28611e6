#pragma once
#include <cstdint>
#include <filesystem>

#include "support/temp_dir.h"

namespace bnlab::test {

// A small file system of the test's own, for fault tests: a tmpfs of `bytes`
// on a fresh folder (a disk that fills), which can be grown or made
// read-only. Mounting needs root (CI runs as root); mounted() says whether it
// worked, and tests fall back to RLIMIT_FSIZE or chmod where it did not.
class ScratchMount {
 public:
  explicit ScratchMount(uint64_t bytes);
  ~ScratchMount();
  ScratchMount(const ScratchMount&) = delete;
  ScratchMount& operator=(const ScratchMount&) = delete;

  bool mounted() const { return mounted_; }
  const std::filesystem::path& path() const { return dir_.path(); }
  void resize(uint64_t bytes);
  void make_read_only();

 private:
  TempDir dir_;
  bool mounted_ = false;
};

// Sets this process's RLIMIT_FSIZE soft limit for its lifetime (writes past
// it fail with EFBIG: bnlab ignores SIGXFSZ, and so does the test process
// while the limit holds).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  uint64_t previous_ = 0;
  void (*previous_handler_)(int) = nullptr;
};

}  // namespace bnlab::test
