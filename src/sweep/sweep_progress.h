#pragma once
// Where a `bnlab run` over many runs stands: which run of how many, and a
// rough time left from the runs finished so far.
#include <cstddef>
#include <string>
#include <vector>

#include "core/progress_line.h"  // duration_text

namespace bnlab::sweep {

// "run 3 of 12" and, once runs have finished, "; about 14 min left": the mean
// duration of the finished runs times the runs left, this one included.
// Rough by nature: one experiment's runs can differ 30x (batch 2 vs 512).
std::string sweep_progress_line(size_t index, size_t total, const std::vector<double>& finished_seconds);

}  // namespace bnlab::sweep
