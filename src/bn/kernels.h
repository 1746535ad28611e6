#pragma once
// The two implementations of BatchNorm's math behind one interface:
// "reference" (reference_kernels.cpp: plain per-channel loops, two-pass
// statistics, float64 arithmetic, written to be read) and "fused"
// (fused_kernels.cpp: one-pass shifted statistics, vectorised loops with one
// FMA per element, channels split across threads, AVX2 when the CPU has it).
// Same signatures and shapes as reference_kernels.h.
#include <torch/types.h>

#include <string>
#include <tuple>
#include <utility>

#include "core/enum_names.h"

namespace bnlab::bn {

enum class Kernels { kReference, kFused };
const EnumNames<Kernels>& enum_names(Kernels);  // "fused", "reference"

// The layout every kernel reads: a contiguous (N, C, *) tensor taken as
// (N, C, S), S the product of its trailing sizes (1 for (N, C)). Kernels take
// x as it is rather than a (N, C, S) view of it: on a small layer each view
// costs ~0.3 us of dispatch and allocation, as much as the arithmetic.
struct NcsShape {
  int64_t N, C, S;
  explicit NcsShape(const torch::Tensor& x) : N(x.size(0)), C(x.size(1)), S(1) {
    for (int64_t d = 2; d < x.dim(); ++d) S *= x.size(d);
  }
  int64_t count() const { return N * S; }  // M, values per channel
};

// What KernelSet::forward_batch_stats returns.
struct BatchStatsForward {
  torch::Tensor y;          // (N,C,S), or max(0, y) with relu
  torch::Tensor mean, var;  // (C) float64: batch mean and biased variance
  torch::Tensor relu_mask;  // (N,C,S) bool, true where the ReLU passed its input; undefined without relu
  // forward_batch_stats_pooled: y is (N,C,H/2,W/2), the max-pool of BN's
  // output; winner (N,C,H/2,W/2) uint8 each output's place in its window,
  // for backward (relu_mask stays undefined: winner carries the ReLU's say).
  torch::Tensor winner;
};

struct KernelSet {
  const char* name;
  std::pair<torch::Tensor, torch::Tensor> (*batch_moments)(const torch::Tensor& x);
  torch::Tensor (*normalize_forward)(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
                                     const torch::Tensor& gamma, const torch::Tensor& beta);
  std::pair<torch::Tensor, torch::Tensor> (*grad_sums)(const torch::Tensor& dy, const torch::Tensor& x,
                                                       const torch::Tensor& mean, const torch::Tensor& invstd);
  torch::Tensor (*normalize_backward_batch_stats)(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean, const torch::Tensor& invstd,
                                                  const torch::Tensor& gamma, const torch::Tensor& sum_dy,
                                                  const torch::Tensor& sum_dy_xhat,
                                                  int64_t count);
  torch::Tensor (*normalize_backward_fixed_stats)(const torch::Tensor& dy, const torch::Tensor& invstd,
                                                  const torch::Tensor& gamma);

  // Optional whole-layer entries for local batch statistics (null: the
  // Function composes the pieces above). Same results as the pieces; one
  // call instead of two, and outputs too large to stay in cache are written
  // with streaming stores. Sync BN needs its collectives between the pieces,
  // so it never uses these. With relu they compute BN followed by a ReLU in
  // the same passes, and with relu_input a ReLU followed by BN, reading the
  // ReLU's input x and normalising max(0, x) (the pieces leave either ReLU
  // to the caller):
  //   forward_batch_stats(x, gamma, beta, eps, relu, relu_input): y
  //   normalised with invstd = 1 / sqrt(var + eps); mean and var of max(0, x)
  //   with relu_input;
  //   backward_with_batch_stats(dy, x, mean, invstd, gamma, relu_mask,
  //   relu_input, dx_read_next) -> (dx, sum_dy, sum_dy_xhat), the sums in x's
  //   dtype (they are dbeta and dgamma), dy masked first when relu_mask is
  //   defined; with relu_input dx is the gradient reaching x (0 where x <= 0)
  //   and the sums are at max(0, x). dx_read_next: a layer below reads dx
  //   right after (x has a grad_fn), so dx is better left in cache than
  //   streamed (fused::streams_dx).
  BatchStatsForward (*forward_batch_stats)(const torch::Tensor& x, const torch::Tensor& gamma,
                                           const torch::Tensor& beta, double eps, bool relu, bool relu_input);
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> (*backward_with_batch_stats)(
      const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
      const torch::Tensor& gamma, const torch::Tensor& relu_mask, bool relu_input, bool dx_read_next);

  // Optional: the whole-layer entries with the 2x2 max-pool after BN (and
  // its ReLU) in the same passes, for contiguous (N,C,H,W) x, H and W >= 2
  // (null: the Function pools BN's output with pool/max_pool.h). Same
  // results as forward_batch_stats then MaxPool2x2, and as their backwards:
  //   forward_batch_stats_pooled: as forward_batch_stats, with y pooled and
  //   winner set (see BatchStatsForward);
  //   backward_with_batch_stats_pooled(dy, winner, x, mean, invstd, gamma,
  //   relu_input, dx_read_next): dy (N,C,H/2,W/2) the gradient of the pooled
  //   output.
  BatchStatsForward (*forward_batch_stats_pooled)(const torch::Tensor& x, const torch::Tensor& gamma,
                                                  const torch::Tensor& beta, double eps, bool relu, bool relu_input);
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> (*backward_with_batch_stats_pooled)(
      const torch::Tensor& dy, const torch::Tensor& winner, const torch::Tensor& x, const torch::Tensor& mean,
      const torch::Tensor& invstd, const torch::Tensor& gamma, bool relu_input, bool dx_read_next);

  // Optional: eval mode's normalize_forward with the 2x2 max-pool after it
  // (and the ReLUs as above) in one pass over x, same input and results as
  // normalize_forward then MaxPool2x2 (null: the Function does those):
  //   forward_fixed_stats_pooled(x, mean, invstd, gamma, beta, relu,
  //   relu_input) -> (y (N,C,H/2,W/2), winner), winner as in
  //   BatchStatsForward (kNoWinner where the ReLU after BN blocked a window).
  std::pair<torch::Tensor, torch::Tensor> (*forward_fixed_stats_pooled)(
      const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd, const torch::Tensor& gamma,
      const torch::Tensor& beta, bool relu, bool relu_input);
};

const KernelSet& kernel_set(Kernels which);

// "reference" | "fused"; throws std::invalid_argument otherwise.
Kernels parse_kernels(const std::string& name);
const char* to_string(Kernels which);

}  // namespace bnlab::bn
