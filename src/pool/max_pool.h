#pragma once
// 2x2 max pooling with stride 2 (floor mode, no padding), the CNN's pooling,
// with its own autograd Function.
//
// Why not torch::nn::MaxPool2d(2): LibTorch 1.13's NCHW max_pool2d kernel
// takes 2.9-3.8 ms forward on the keras-cnn batch at batch 32 ((32,32,26,26),
// 1 thread), about the whole training step without it; these loops take
// 0.14 ms (Intel Xeon family 6 model 207, AVX-512 copy; docs/training.md).
//
// Same results as torch::nn::MaxPool2d(2), bit for bit: each output is the
// first maximum of its window in row-major order, a NaN in the window wins
// (the last NaN, as in ATen's scan), and backward routes each output's
// gradient to that one input. Backward keeps one byte per output (the
// winner's place in its window) instead of the input or int64 indices.
#include <torch/torch.h>

#include "pool/max_pool_winner.h"

namespace bnlab::pool {

// x: (N,C,H,W) float32 or float64, H and W >= 2 -> (N,C,H/2,W/2).
torch::Tensor max_pool_2x2(const torch::Tensor& x);

// max_pool_2x2's checks: throws c10::Error naming the shape, dtype or
// device it cannot pool.
void check_max_pool_2x2_input(const torch::Tensor& x);

// The two halves of max_pool_2x2, without autograd, for a Function that
// pools inside its own forward and backward (bnlab's BatchNorm with
// max_pool_2x2 on, where its kernels do not fuse the pool):
//   forward: y (N,C,H/2,W/2) and winner (N,C,H/2,W/2) uint8, each output's
//   place in its window (max_pool_winner.h);
//   backward: dx (input_size) from dy (N,C,H/2,W/2) and forward's winner.
struct PooledWithWinners {
  torch::Tensor y, winner;
};
PooledWithWinners max_pool_2x2_forward(const torch::Tensor& x);
torch::Tensor max_pool_2x2_backward(const torch::Tensor& dy, const torch::Tensor& winner, at::IntArrayRef input_size);

class MaxPool2x2Impl : public torch::nn::Cloneable<MaxPool2x2Impl> {
 public:
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) { return max_pool_2x2(x); }
  void pretty_print(std::ostream& stream) const override { stream << "bnlab::MaxPool2x2"; }
};
TORCH_MODULE(MaxPool2x2);

}  // namespace bnlab::pool
