#pragma once
// Softmax cross-entropy summed over a batch, as one autograd node with an
// analytic backward (derivation: docs/training.md). LibTorch's
// cross_entropy is log_softmax then nll_loss: two operators forward, two
// nodes and their allocations backward, ~10 us of a 0.4 ms keras-mlp step
// on a (32, 10) batch whose arithmetic takes well under one.
//
//   logits (N, K) float32 or float64, labels (N) int64 in [0, K)
//   returns the 0-dim sum over n of  logsumexp(logits[n]) - logits[n][labels[n]]
//
// Equal to torch::nn::functional::cross_entropy with reduction kSum to
// rounding (the sums are taken in another order), forward and backward.
// The Function trusts its arguments; call cross_entropy_sum(), which checks
// them first (a label out of range would read outside the row).
#include <torch/torch.h>

namespace bnlab::train {

class CrossEntropySumFunction : public torch::autograd::Function<CrossEntropySumFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& labels);
  // dlogits; none for the labels.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

// Checks the arguments (shapes, dtypes, label range, with the values seen)
// and applies CrossEntropySumFunction.
torch::Tensor cross_entropy_sum(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace bnlab::train
