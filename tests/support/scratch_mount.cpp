#include "support/scratch_mount.h"

#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

namespace bnlab::test {

ScratchMount::ScratchMount(uint64_t bytes) {
  mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, fmt::format("size={}", bytes).c_str()) == 0;
}

ScratchMount::~ScratchMount() {
  if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
}

void ScratchMount::resize(uint64_t bytes) {
  if (::mount(nullptr, dir_.path().c_str(), nullptr, MS_REMOUNT, fmt::format("size={}", bytes).c_str()) != 0)
    throw std::runtime_error(fmt::format("remount {}: {}", dir_.path().string(), std::strerror(errno)));
}

void ScratchMount::make_read_only() {
  if (::mount(nullptr, dir_.path().c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    throw std::runtime_error(fmt::format("remount read-only {}: {}", dir_.path().string(), std::strerror(errno)));
}

FileSizeLimit::FileSizeLimit(uint64_t bytes) {
  rlimit limit{};
  ::getrlimit(RLIMIT_FSIZE, &limit);
  previous_ = limit.rlim_cur;
  limit.rlim_cur = bytes;
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("setrlimit(RLIMIT_FSIZE) failed");
  previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
}

FileSizeLimit::~FileSizeLimit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_FSIZE, &limit);
  limit.rlim_cur = previous_;
  ::setrlimit(RLIMIT_FSIZE, &limit);
  std::signal(SIGXFSZ, previous_handler_);
}

}  // namespace bnlab::test
