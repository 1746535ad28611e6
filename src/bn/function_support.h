#pragma once
// The pieces of BatchNormFunction around its kernels: argument checks,
// the empty-for-absent convention of Function::apply, the kernels' layout, and
// the per-channel finish of batch statistics.
#include <torch/types.h>

namespace bnlab::bn::detail {

// LibTorch 1.13's Function::apply records device and dtype of every tensor
// argument and fails on undefined ones, so "absent" optional tensors (affine
// or running statistics off) travel through apply as empty tensors.
inline torch::Tensor absent_as_empty(const torch::Tensor& t, const torch::Tensor& like) {
  return t.defined() ? t : torch::empty({0}, like.options());
}
inline torch::Tensor empty_as_absent(const torch::Tensor& t) { return t.numel() ? t : torch::Tensor(); }

// weight or bias as the kernels read it: undefined when absent, else
// contiguous. The kernels index it as a plain array, so a strided view (every
// other element of a buffer, say) is copied; its gradient is still returned
// for the view itself.
inline torch::Tensor affine_or_absent(const torch::Tensor& t) { return t.numel() ? t.contiguous() : torch::Tensor(); }

// The layout the kernels read: contiguous (N, C, *), taken as (N, C, S)
// (kernels.h, NcsShape). A channels-last 4D tensor (N,H,W,C in memory)
// already is one: the (N*H*W, C, 1) matrix of its pixels, a view with no
// copy, on which the S == 1 loops run across channels. Anything else is made
// contiguous, and is itself when it already is (no view: see NcsShape).
inline bool is_channels_last(const torch::Tensor& x) {
  return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}
inline torch::Tensor as_ncs(const torch::Tensor& x, bool channels_last) {
  if (channels_last)
    return x.contiguous(at::MemoryFormat::ChannelsLast).permute({0, 2, 3, 1}).reshape({-1, x.size(1), 1});
  return x.contiguous();
}
// The inverse: a tensor in the kernels' layout back in `sizes`, channels-last
// when the input was (as native BatchNorm keeps the memory format).
inline torch::Tensor from_ncs(const torch::Tensor& t3, at::IntArrayRef sizes, bool channels_last) {
  if (channels_last) return t3.view({sizes[0], sizes[2], sizes[3], sizes[1]}).permute({0, 3, 1, 2});
  return t3.sizes() == sizes ? t3 : t3.view(sizes);
}

// What a normalisation answers an empty batch (N = 0 or a zero spatial size)
// with, as native BatchNorm and GroupNorm do: an empty output of x's shape and
// memory format, still connected to weight and bias for autograd (their
// gradients are zeros). weight and bias may be undefined.
inline torch::Tensor empty_normalised(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto y = x.clone();
  if (weight.defined()) y = y * weight[0];
  return bias.defined() ? y + bias[0] : y;
}

// Per-channel bookkeeping in one plain loop over C (tensor ops here would
// cost a dispatch and an allocation each, which dominates small layers):
//   running stats: r = (1 - momentum) * r + momentum * batch_stat, running_var
//     with the unbiased variance var * M / (M - 1), in float64, M the count
//     the statistics were taken over; updated in place through their
//     strides (they may be views into larger buffers);
//   var is turned into invstd = 1 / sqrt(var + eps) in place.
void finish_batch_statistics(const torch::Tensor& batch_mean, torch::Tensor& var_to_invstd,
                             const torch::Tensor& running_mean, const torch::Tensor& running_var, int64_t M,
                             double momentum, double eps);

// A copy of the per-channel (C) tensor t in dtype `type`, by a plain loop:
// Tensor::to costs ~1 us per call here, the loop ~0.3 us including the
// allocation, and a small layer's forward+backward takes ~20 us in all.
torch::Tensor per_channel_copy(const torch::Tensor& t, torch::ScalarType type);

// t itself when it is of dtype `type` already (no copy: for a fresh result
// that nothing else holds), else per_channel_copy(t, type).
torch::Tensor in_dtype(const torch::Tensor& t, torch::ScalarType type);

// PyTorch's checks (rank, dtypes, device, per-channel shapes, running
// statistics present when used, more than one value per channel with batch
// statistics: an empty input passes, as in native), with the values seen in
// every message. Optional tensors may be undefined. synced: the count is
// checked after gathering instead (sync BatchNorm counts over all ranks).
// The module calls this before it changes any state.
void check_batch_norm_arguments(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                const torch::Tensor& running_mean, const torch::Tensor& running_var,
                                bool use_batch_stats, bool synced);

}  // namespace bnlab::bn::detail
