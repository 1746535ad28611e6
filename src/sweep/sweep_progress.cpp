#include "sweep/sweep_progress.h"

#include <fmt/format.h>

namespace bnlab::sweep {

std::string sweep_progress_line(size_t index, size_t total, const std::vector<double>& finished_seconds) {
  return fmt::format("run {} of {}{}", index + 1, total, time_left_text(finished_seconds, total - index));
}

}  // namespace bnlab::sweep
