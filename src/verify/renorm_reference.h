#pragma once
// Batch Renormalization's reference: the paper's algorithm written in tensor
// operations, differentiated by autograd with r and d detached. What bnlab's
// renormalising BatchNorm (analytic backward, per-channel loops) is compared
// with, in the suite and in `bnlab verify --norm renorm`; run in float64 it
// is the truth.
#include <torch/torch.h>

#include "bn/renorm.h"

namespace bnlab::verify {

struct RenormReferenceOptions {
  int64_t num_features = 0;
  double eps = 1e-5;
  c10::optional<double> momentum = 0.1;  // nullopt: cumulative average
  bool affine = true;
  bn::RenormOptions renorm;
};

// Parameters and buffers named as bnlab's BatchNorm with renorm: weight,
// bias (affine), running_mean, running_var, num_batches_tracked, and
// renorm_mean, renorm_std with separate averages.
class RenormReferenceImpl : public torch::nn::Module {
 public:
  explicit RenormReferenceImpl(RenormReferenceOptions options);

  // x (N,C), (N,C,L) or (N,C,H,W) -> y, shaped like x.
  torch::Tensor forward(const torch::Tensor& x);

  RenormReferenceOptions options;
  torch::Tensor weight, bias;                                    // (C), when affine
  torch::Tensor running_mean, running_var, num_batches_tracked;  // (C), (C), ()
  torch::Tensor renorm_mean, renorm_std;                         // (C), with separate averages

 private:
  torch::Tensor train_step(const torch::Tensor& x);
};
TORCH_MODULE(RenormReference);

}  // namespace bnlab::verify
