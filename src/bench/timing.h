#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace bnlab::bench {

// Median and quartiles of repeated timings (machines are noisy: medians and
// spreads, never single runs), and their mean: what `bnlab run` prints for
// an epoch, which a noisy VM's slow steps lift above the median (AMD EPYC
// family 25 model 1: 1-10% in bench train).
struct Timing {
  double median = 0, p25 = 0, p75 = 0, mean = 0;  // milliseconds
  int samples = 0;
};

inline Timing summarize(std::vector<double> ms) {
  Timing t;
  t.samples = static_cast<int>(ms.size());
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double m : ms) sum += m;
  t.mean = sum / double(ms.size());
  auto at = [&](double q) { return ms[static_cast<size_t>(q * double(ms.size() - 1) + 0.5)]; };
  t.median = at(0.5);
  t.p25 = at(0.25);
  t.p75 = at(0.75);
  return t;
}

template <typename Fn>
double time_ms(Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace bnlab::bench
