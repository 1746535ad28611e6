#pragma once
// Data-parallel training across the ranks of a Group: the same model on every
// rank, each rank a shard of every batch, gradients summed over ranks before
// the optimiser step, so every rank takes the same step.
#include <torch/torch.h>

#include <vector>

#include "parallel/group.h"

namespace bnlab::parallel {

// Every rank's parameters and buffers become rank 0's.
void broadcast_parameters_and_buffers(torch::nn::Module& model, const Group& group);
// Every rank's buffers (BatchNorm running statistics) become rank 0's: what
// DDP's broadcast_buffers does, for layers that keep per-rank statistics.
void broadcast_buffers(torch::nn::Module& model, const Group& group);

// Compares a float64 checksum of every parameter and buffer with rank 0's and
// throws DistError naming the first tensor that differs (and both values)
// when a rank has drifted. `when` says where in the run ("end of epoch 3").
void check_replicas_agree(const torch::nn::Module& model, const Group& group, const std::string& when);

// Sums the gradients of `parameters` over the ranks after backward, in
// buckets of at most bucket_elements values of one dtype: each bucket is one
// flat buffer, one all_reduce, copied back into the .grad tensors. A
// parameter without a gradient this step contributes zeros.
class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> parameters, const Group& group, int64_t bucket_elements = 1 << 22);
  void all_reduce();
  size_t bucket_count() const { return buckets_.size(); }

 private:
  struct Bucket {
    torch::Tensor flat;  // (sum of numel) one dtype
    std::vector<torch::Tensor> parameters;
    std::vector<torch::Tensor> slots;  // views of flat shaped like each parameter
  };
  const Group& group_;
  std::vector<Bucket> buckets_;
};

}  // namespace bnlab::parallel
