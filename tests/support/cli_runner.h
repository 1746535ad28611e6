#pragma once
#include <string>
#include <vector>

#include "core/process.h"

namespace bnlab::test {

// Runs the real bnlab binary with `args`; `env` entries ("NAME=value") are
// added to its environment.
ProcessResult run_bnlab(const std::vector<std::string>& args,
                        const std::vector<std::string>& env = {});

// `args` followed by `more`.
inline std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// SGD keeps data-parallel replicas comparable step by step (Adam magnifies
// rounding noise in the zero-gradient bias before BatchNorm into +-lr steps,
// see test_trainer).
inline const std::vector<std::string> kSgd = {"--set", "train.optimizer=sgd", "--set", "train.lr=0.05"};

}  // namespace bnlab::test
