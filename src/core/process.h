#pragma once
#include <string>
#include <vector>

namespace bnlab {

struct ProcessResult {
  int exit_code = -1;  // 127 when the program could not be started
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] (looked up on PATH) with the given arguments, without a shell,
// and captures its output. Never throws for a failing child.
ProcessResult run_process(const std::vector<std::string>& argv);

// True when `program` is an executable file on PATH.
bool program_on_path(const std::string& program);

}  // namespace bnlab
