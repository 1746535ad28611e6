#include "support/cli_runner.h"

namespace bnlab::test {

ProcessResult run_bnlab(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(BNLAB_EXE);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

}  // namespace bnlab::test
