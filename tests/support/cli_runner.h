#pragma once
#include <string>
#include <vector>

#include "core/process.h"

namespace bnlab::test {

// Runs the real bnlab binary with `args`; `env` entries ("NAME=value") are
// added to its environment.
ProcessResult run_bnlab(const std::vector<std::string>& args,
                        const std::vector<std::string>& env = {});

}  // namespace bnlab::test
