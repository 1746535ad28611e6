#pragma once
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bnlab::test {

// The real bnlab binary running in the background, its stdout and stderr in
// a file: for tests that act on a process while it runs (kill a rank).
class BackgroundBnlab {
 public:
  // `prefix`, when given, is the command that runs bnlab (e.g. {"ip", "netns",
  // "exec", "ns", "env", "VAR=value"}): it must exec bnlab in place, so that
  // pid() is bnlab's.
  BackgroundBnlab(const std::vector<std::string>& args, const std::filesystem::path& output,
                  const std::vector<std::string>& prefix = {});
  ~BackgroundBnlab();  // kills it if still running
  BackgroundBnlab(const BackgroundBnlab&) = delete;
  BackgroundBnlab& operator=(const BackgroundBnlab&) = delete;

  // The exit code (128 + signal when killed), or nullopt if still running after `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // Polls the output until it contains `text`; false after `timeout` or when the process ended without it.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);
  std::string output() const;
  void kill(int signal);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path output_;
};

}  // namespace bnlab::test
