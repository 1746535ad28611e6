#pragma once
// Folding BatchNorm into the adjacent Linear or Conv layer for inference
// (docs/fold.md). In eval mode BatchNorm is a per-channel affine map,
//   BN(x) = s * x + t,  s = gamma / sqrt(running_var + eps),  t = beta - running_mean * s,
// and an affine map next to a linear layer merges into its weight and bias:
//   before it (Linear/Conv -> BN):   W' = s W (per output channel),  b' = s b + t
//   after it (BN -> [max-pool] [dropout] [flatten] -> Linear/Conv):
//                                    W' = W s (per input channel),   b' = b + W t
// the second exact through dropout (identity in eval), flatten (s, t spread
// over each channel's positions), an unpadded convolution, and a max-pool
// only when every s > 0 (max(s x + t) = s max(x) + t needs s > 0).
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "models/options.h"

namespace bnlab::models {

// Why a model cannot be folded, naming the layer.
class FoldError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FoldResult {
  torch::nn::Sequential model;     // `options` without normalisation, the folded weights; eval mode
  std::vector<std::string> steps;  // one line per BatchNorm layer: "norm1 into dense1 (before it)"
};

// `model` (built from `options` by build_model, BatchNorm native or bnlab's,
// with Ghost BN or renorm, which infer like BN) with every BatchNorm folded
// into a neighbour: the returned model is what build_model makes of
// `options` with norm none (load it that way), holding the folded weights.
// `model` is not changed. Throws FoldError naming the layer when one cannot
// be folded exactly: a group norm (per-sample statistics), BatchNorm without
// running statistics, a BatchNorm whose neighbours are both non-linear, or a
// max-pool between a BatchNorm with a scale <= 0 and the next layer.
FoldResult fold_batch_norms(torch::nn::Sequential& model, const ModelOptions& options);

}  // namespace bnlab::models
