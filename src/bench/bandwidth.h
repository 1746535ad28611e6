#pragma once
// Memory copy bandwidth: what `bench bn` compares BN's traffic with (a
// working set far beyond the caches), and what `bench train`'s floor moves
// an optimiser's state at (a working set of its size).

namespace bnlab::bench {

// Copy bandwidth (bytes read + written per second, GB/s) for a working set of
// `working_set_bytes` (source and target together), median of repeated copies.
double copy_bandwidth_gbps(double working_set_bytes = 512.0 * (1 << 20));

}  // namespace bnlab::bench
