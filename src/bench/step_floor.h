#pragma once
// The floor of a training step (`bench train`'s x_floor): what the step
// cannot avoid on this machine, timed in the same run as the step itself.
//  - its GEMMs and convolutions alone: the same shapes as the model's Linear
//    and Conv2d layers, forward and backward (dW, and dX except for the first
//    layer, whose input needs no gradient), on preallocated tensors, without
//    autograd, bias sums, norms, activations or pooling;
//  - the bytes its optimiser must move (Adam reads parameters, gradients and
//    both moments and writes parameters and moments: 7 floats a parameter;
//    SGD 3, or 5 with momentum) at the copy bandwidth measured for a working
//    set of that size, which for these models stays in the caches.
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "bench/bandwidth.h"
#include "experiments/run_config.h"

namespace bnlab::bench {

// What one optimiser step over `parameters` float32 parameters touches:
// its working set (parameters, gradients, state) and the bytes it reads and writes.
struct OptimizerTraffic {
  double working_set_bytes = 0, moved_bytes = 0;
};
OptimizerTraffic optimizer_traffic(const experiments::TrainConfig& train, int64_t parameters);

// The GEMMs and convolutions of one training step of `model` at `batch_size`
// (its shapes found by one forward pass on zeros), ready to be timed.
class GemmStep {
 public:
  GemmStep(torch::nn::Sequential& model, const std::vector<int64_t>& input_shape, int64_t batch_size);
  void run();  // forward then backward of every Linear and Conv2d layer
  size_t layers() const { return layers_.size(); }

  struct Layer {
    std::function<void()> forward, backward;
  };

 private:
  std::vector<Layer> layers_;
};

struct StepFloor {
  double gemm_ms = 0;  // median time of GemmStep::run
  OptimizerTraffic optimizer;
  double optimizer_gbps = 0;  // copy bandwidth for the optimiser's working set
  double optimizer_ms() const { return optimizer.moved_bytes / (optimizer_gbps * 1e9) * 1e3; }
  double total_ms() const { return gemm_ms + optimizer_ms(); }
};

}  // namespace bnlab::bench
