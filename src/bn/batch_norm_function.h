#pragma once
#include <torch/torch.h>

#include "bn/kernels.h"
#include "bn/renorm.h"
#include "parallel/group.h"

namespace bnlab::bn {

// BatchNorm as one autograd node with an analytic backward (docs/batchnorm.md),
// in one process or synchronised over the ranks of a data-parallel job.
//
// forward arguments:
//   x            (N,C), (N,C,L) or (N,C,H,W), float32 or float64
//   weight, bias (C) gamma and beta, or empty when affine is off
//   running_mean, running_var  (C) or empty (track_running_stats off)
//                (empty, not undefined: LibTorch 1.13's Function::apply
//                rejects undefined tensor arguments; batch_norm() converts)
//   use_batch_stats  true: normalise with this batch's mean and biased
//                    variance (training, or no running statistics), and
//                    update running_mean/var in place when defined:
//                    r = (1 - momentum) * r + momentum * batch_stat, where
//                    running_var takes the unbiased batch variance.
//                    false: normalise with running_mean/var (eval).
//   momentum     the exponential-average factor for that update
//   eps          added to the variance
//   kernels      which implementation of the math runs (kernels.h)
//   relu         return max(0, y) instead: BN followed by a ReLU as one node,
//                in the same kernel passes where the kernels have whole-layer
//                entries; backward masks dy with a saved bool mask of where
//                the ReLU passed (one byte per value), as torch::relu does
//   relu_input   normalise max(0, x) instead: a ReLU followed by BN as one
//                node. The whole-layer kernel entries read x and apply the
//                ReLU inside their passes, so max(0, x) is never written;
//                the other paths compute it first. Backward returns the
//                gradient reaching x, 0 where x <= 0 (NaN passes), as
//                torch::relu's backward does
//   max_pool     return MaxPool2x2 (pool/max_pool.h) of the output (after
//                the ReLU with relu): (N,C,H,W) input only, H, W >= 2. The
//                whole-layer kernels' pooled entries do it inside their
//                passes for NCHW input (BN's output is never written, and
//                backward reads the pooled gradient and a winner byte per
//                output instead of a dense dy); the other paths pool BN's
//                output with MaxPool2x2's halves. Same results either way
//   sync_group   null: the batch is this process's x. Otherwise (with
//                use_batch_stats) x is this rank's shard of one batch split
//                over the group's ranks, and the statistics are the whole
//                batch's (sync_statistics.h): every rank must then apply the
//                layer in step, forward and backward. The group must outlive
//                the backward pass (the layer's options hold it).
//   renorm       null, or (with use_batch_stats) Batch Renormalization
//                (renorm.h): y = gamma * (xhat * r + d) + beta with r and d
//                from the batch and the moving averages before this batch's
//                update, constants in backward. The kernels then run plain
//                BatchNorm with scale gamma * r and shift gamma * d + beta,
//                and dgamma = r * sum(dy * xhat) + d * sum(dy).
// Returns y, shaped like x (pooled with max_pool).
//
// The one difference between the two ways, local and synced, is where the
// statistics and the gradient sums come from; the whole-layer kernel entries
// serve the local way only (the collectives sit between their passes).
//
// Prefer bnlab::bn::batch_norm(), which validates the arguments first.
class BatchNormFunction : public torch::autograd::Function<BatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& running_mean, const torch::Tensor& running_var,
                               bool use_batch_stats, double momentum, double eps, Kernels kernels, bool relu,
                               bool relu_input, bool max_pool, const parallel::Group* sync_group,
                               const RenormInput* renorm);

  // Returns dx, dweight, dbias (each undefined when not needed) and undefined
  // gradients for the eleven non-differentiable arguments.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

// Optional tensors may be undefined here. Checks the arguments like PyTorch
// does (rank, channel counts, dtypes, more than one value per channel when
// using batch statistics: over all ranks when synced), with the values seen
// in every message, then applies BatchNormFunction. A sync_group of one
// process is the local case.
torch::Tensor batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                         const torch::Tensor& running_mean, const torch::Tensor& running_var, bool use_batch_stats,
                         double momentum, double eps, Kernels kernels = Kernels::kFused, bool relu = false,
                         const parallel::Group* sync_group = nullptr, const RenormInput* renorm = nullptr,
                         bool relu_input = false, bool max_pool = false);

}  // namespace bnlab::bn
