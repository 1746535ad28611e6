#pragma once
#include <stdexcept>
#include <string>

namespace bnlab {

// The command line was wrong (unknown command, bad option value): the CLI
// prints the message and the command's usage, and exits with 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit codes shared by every command.
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2, kExitInterrupted = 130 };

}  // namespace bnlab
