#pragma once
// Work that rank 0 alone can do (it owns the run's folder; the other ranks
// may be on hosts without it), whose result or failure every rank must share
// so that all of them go on, or stop, alike.
#include <functional>
#include <string>

#include "parallel/group.h"

namespace bnlab::parallel {

// Runs `task` on rank 0 and hands what it returns to every rank (a collective:
// all ranks call it; the task runs on rank 0 only). When the task throws on
// rank 0, rank 0 rethrows it and every other rank throws the same kind
// (std::invalid_argument stays one: a bad input exits 2 on every rank) with
// rank 0's message. In one process it simply runs the task.
std::string run_on_root(const Group& group, const std::function<std::string()>& task);

}  // namespace bnlab::parallel
