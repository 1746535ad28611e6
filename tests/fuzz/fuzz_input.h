#pragma once
// Shared by the libFuzzer targets: bnlab's readers take paths, so each input
// is written to a file in a private folder in /dev/shm (a tmpfs: no disk I/O
// per execution). A reader's clean refusal is an exception derived from
// std::exception (a message naming the file); anything else the fuzzer sees
// (a crash, a sanitizer report, a leak, a hang) is a finding.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace bnlab::fuzz {

inline std::filesystem::path private_folder() {
  static const std::filesystem::path folder = [] {
    const auto base = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                          : std::filesystem::temp_directory_path();
    auto dir = base / ("bnlab-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir;
  }();
  return folder;
}

// Writes the input to private_folder()/name and returns that path.
inline std::filesystem::path input_file(const uint8_t* data, size_t size, const std::string& name) {
  const auto path = private_folder() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) throw std::logic_error("fuzz: cannot write " + path.string());  // the harness's own failure
  return path;
}

}  // namespace bnlab::fuzz
