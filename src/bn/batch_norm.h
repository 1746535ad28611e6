#pragma once
#include <torch/torch.h>

#include <memory>
#include <ostream>

#include "bn/kernels.h"
#include "bn/renorm.h"
#include "parallel/group.h"

namespace bnlab::bn {

// Options of bnlab's BatchNorm, with PyTorch's defaults.
struct BatchNormOptions {
  /* implicit */ BatchNormOptions(int64_t num_features) : num_features_(num_features) {}

  // C, the number of channels (features) of the input (N,C), (N,C,L) or (N,C,H,W).
  TORCH_ARG(int64_t, num_features);
  // Added to the variance before the square root. Default 1e-5.
  TORCH_ARG(double, eps) = 1e-5;
  // Weight of the newest batch in the running statistics,
  // r = (1 - momentum) * r + momentum * batch_stat. Default 0.1; c10::nullopt
  // gives a cumulative moving average (momentum = 1 / num_batches_tracked).
  // Keras' momentum m corresponds to 1 - m here.
  TORCH_ARG(c10::optional<double>, momentum) = 0.1;
  // Learnable per-channel gamma (`weight`, init 1) and beta (`bias`, init 0). Default true.
  TORCH_ARG(bool, affine) = true;
  // Keep running_mean/running_var/num_batches_tracked and use them in eval
  // mode; when false, batch statistics are used in eval mode too. Default true.
  TORCH_ARG(bool, track_running_stats) = true;
  // bnlab only: which implementation computes it. Default fused (vectorised,
  // one-pass statistics); reference is the readable per-channel loops.
  TORCH_ARG(Kernels, kernels) = Kernels::kFused;
  // bnlab only: in training, normalise with the statistics of the whole batch
  // across the ranks of this group (a data-parallel job), as
  // torch.nn.SyncBatchNorm does. Every rank must then run the layer in step.
  // Null, or a group of one process: plain BatchNorm. Default null.
  TORCH_ARG(std::shared_ptr<const parallel::Group>, sync_group) = nullptr;
  // bnlab only: output max(0, BN(x)), BatchNorm followed by a ReLU as one
  // layer (the BN-before-activation placement). The fused kernels apply the
  // ReLU in the pass that writes y and mask the gradient in the passes that
  // read dy, saving one byte per value for backward instead of a separate
  // ReLU layer's pass over y each way. Same results as BatchNorm then
  // torch::nn::ReLU. Default false.
  TORCH_ARG(bool, relu) = false;
  // bnlab only: output BN(max(0, x)), a ReLU followed by BatchNorm as one
  // layer (the BN-after-activation placement). The fused kernels read x and
  // apply the ReLU as they read it, in training's passes: max(0, x) is never
  // written, and backward's gradient pass applies the ReLU's mask too, so
  // the ReLU layer's passes each way are gone. Same results as
  // torch::nn::ReLU then BatchNorm. Default false.
  TORCH_ARG(bool, relu_input) = false;
  // bnlab only: output the 2x2 max-pool (stride 2, floor of odd sizes; as
  // torch::nn::MaxPool2d(2), pool/max_pool.h) of the layer's output, after
  // the ReLU with relu: BatchNorm and the CNN block's max-pool as one layer,
  // (N,C,H,W) input only, H and W >= 2. In training with the fused kernels
  // on NCHW input, the pool happens inside the passes: BN's full-size output
  // is never written, and backward reads the pooled gradient and a byte per
  // output instead of a dense one (docs/batchnorm.md). Same results as
  // BatchNorm then MaxPool2x2, bit for bit. Default false.
  TORCH_ARG(bool, max_pool_2x2) = false;
  // bnlab only: Ghost BatchNorm (Hoffer et al. 2017). In training, a batch
  // of more than this many samples is normalised in virtual batches of this
  // many (in order; the remainder, when it does not divide N, is a smaller
  // last one), each with its own statistics, gamma and beta shared; each
  // virtual batch updates the running statistics in turn, as native
  // BatchNorm applied to one chunk after the other would (docs/ghost-batch-norm.md
  // says why not their mean). Evaluation normalises the whole batch with the
  // running statistics (or its own statistics when none are kept), never in
  // virtual batches. Not with sync_group: virtual batches are one rank's.
  // 0: off. Default 0.
  TORCH_ARG(int64_t, virtual_batch_size) = 0;
  // bnlab only: Batch Renormalization (Ioffe 2017; renorm.h, and
  // docs/batch-renorm.md): in training, y = gamma * (xhat * r + d) + beta
  // with r and d clipped per RenormOptions at the step num_batches_tracked
  // counts. Evaluation is BatchNorm's, with the running statistics. Needs
  // track_running_stats; not with virtual batches. With separate averages
  // the layer gains the buffers renorm_mean and renorm_std. Default nullopt: off.
  TORCH_ARG(c10::optional<RenormOptions>, renorm) = c10::nullopt;
};

// BatchNorm over (N,C), (N,C,L) and (N,C,H,W) inputs, whose math is
// bnlab::bn::BatchNormFunction. Parameter and buffer names match
// torch::nn::BatchNorm1d/2d, so state saved from either loads into the other.
class BatchNormImpl : public torch::nn::Cloneable<BatchNormImpl> {
 public:
  explicit BatchNormImpl(const BatchNormOptions& options);

  void reset() override;
  // running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  // Running statistics reset, weight = 1, bias = 0.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor forward(const torch::Tensor& input);

  BatchNormOptions options;
  torch::Tensor weight;               // (C) gamma, when affine
  torch::Tensor bias;                 // (C) beta, when affine
  torch::Tensor running_mean;         // (C), when track_running_stats
  torch::Tensor running_var;          // (C), when track_running_stats
  torch::Tensor num_batches_tracked;  // () int64, when track_running_stats
  torch::Tensor renorm_mean;          // (C), with renorm's separate averages (init 0)
  torch::Tensor renorm_std;           // (C), with renorm's separate averages (init 1)

 private:
  // One BatchNorm step over `input` (the batch, or one virtual batch): the
  // running statistics' update, then BatchNormFunction.
  torch::Tensor normalise(const torch::Tensor& input, bool use_batch_stats, const parallel::Group* sync_group);
  // Ghost BatchNorm in training: the virtual batches one after the other.
  torch::Tensor normalise_in_virtual_batches(const torch::Tensor& input);
  // Batch Renormalization's input for the training step `step`.
  RenormInput renorm_input(int64_t step) const;
};
TORCH_MODULE(BatchNorm);

}  // namespace bnlab::bn
