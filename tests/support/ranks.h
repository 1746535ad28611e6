#pragma once
#include <functional>
#include <string>
#include <vector>

#include "parallel/group.h"

namespace bnlab::test {

// Runs body(group) in `world_size` forked processes joined into one c10d
// group on a free loopback port (collective timeout `timeout_seconds`).
// Returns each rank's exit status: 0 when body returned true, 1 when it
// returned false or threw (the message goes to stderr), 2 when the group
// could not be formed, 124 when the rank was still running 30 s after the
// timeout (a net for hangs only: a test that bounds the time checks it
// itself). Catch2 assertions do not work inside body: return false instead.
std::vector<int> run_in_ranks(int world_size, const std::function<bool(const parallel::Group&)>& body,
                              double timeout_seconds = 20);

}  // namespace bnlab::test
