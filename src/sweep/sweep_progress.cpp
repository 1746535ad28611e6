#include "sweep/sweep_progress.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

namespace bnlab::sweep {

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  const auto minutes = int64_t(std::lround(seconds / 60));
  if (minutes < 90) return fmt::format("{} min", minutes);
  return fmt::format("{} h {:02} min", minutes / 60, minutes % 60);
}

std::string sweep_progress_line(size_t index, size_t total, const std::vector<double>& finished_seconds) {
  std::string line = fmt::format("run {} of {}", index + 1, total);
  if (finished_seconds.empty()) return line;
  const double mean =
      std::accumulate(finished_seconds.begin(), finished_seconds.end(), 0.0) / double(finished_seconds.size());
  return line + fmt::format("; about {} left", duration_text(mean * double(total - index)));
}

}  // namespace bnlab::sweep
