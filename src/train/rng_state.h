// The global CPU generator's state: what a checkpoint saves and what the BN
// statistics pass puts back, so that neither changes the run's random stream.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>

namespace bnlab::train {

inline torch::Tensor cpu_rng_state() { return at::detail::getDefaultCPUGenerator().get_state(); }

inline void restore_cpu_rng_state(const torch::Tensor& state) {
  at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: the accessor's is const
  generator.set_state(state);
}

}  // namespace bnlab::train
