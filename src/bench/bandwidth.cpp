#include "bench/bandwidth.h"

#include <torch/torch.h>

#include <algorithm>

#include "bench/timing.h"

namespace bnlab::bench {

double copy_bandwidth_gbps(double working_set_bytes) {
  const int64_t floats = std::max<int64_t>(1024, int64_t(working_set_bytes / 2 / sizeof(float)));
  auto source = torch::rand({floats});
  auto target = torch::empty_like(source);
  // Enough repetitions for ~50 ms of copying, at least 7 (a median of few).
  const int repeats = int(std::clamp(50e-3 * 20e9 / (2.0 * floats * sizeof(float)), 7.0, 20000.0));
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) ms.push_back(time_ms([&] { target.copy_(source); }));
  const double bytes = 2.0 * double(floats) * sizeof(float);
  return bytes / (summarize(ms).median * 1e-3) / 1e9;
}

}  // namespace bnlab::bench
