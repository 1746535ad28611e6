#pragma once
// The two implementations of GroupNorm's math behind one interface, as for
// BatchNorm (bn/kernels.h): "reference" (plain loops over each sample's
// groups in float64, written to be read) and "fused" (vectorised loops in
// the input's dtype with float64 totals, compiled per instruction set).
//
// Layout: x, dy, y, dx contiguous (N, C, S), S the spatial size (1 for
// (N, C)); G groups of Cg = C / G consecutive channels; the group (n, g) is
// the contiguous block of K = Cg * S values at x + (n * C + g * Cg) * S.
#include <torch/types.h>

#include "bn/kernels.h"

namespace bnlab::gn {

using bn::Kernels;

struct GroupNormKernelSet {
  const char* name;
  // mean, invstd: (N, G) float64 each; invstd = 1 / sqrt(biased var + eps).
  std::pair<torch::Tensor, torch::Tensor> (*moments)(const torch::Tensor& x3, int64_t groups, double eps);
  // y = (x - mean) * invstd * gamma_c + beta_c; gamma, beta (C) or undefined.
  torch::Tensor (*normalize)(const torch::Tensor& x3, const torch::Tensor& mean, const torch::Tensor& invstd,
                             const torch::Tensor& gamma, const torch::Tensor& beta);
  // dx, and (need_affine) dgamma = sum_{n,s} dy * xhat and dbeta = sum_{n,s} dy
  // as (C) float64; gamma (C) or undefined.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> (*backward)(const torch::Tensor& dy3, const torch::Tensor& x3,
                                                                      const torch::Tensor& mean,
                                                                      const torch::Tensor& invstd,
                                                                      const torch::Tensor& gamma, bool need_dx,
                                                                      bool need_affine);
};

const GroupNormKernelSet& group_norm_kernel_set(Kernels which);

// The (N, G) float64 mean and invstd a kernel set's moments fill, for x3 (N, C, S).
inline std::pair<torch::Tensor, torch::Tensor> empty_group_statistics(const torch::Tensor& x3, int64_t groups) {
  auto mean = torch::empty({x3.size(0), groups}, x3.options().dtype(torch::kFloat64));
  return {mean, torch::empty_like(mean)};
}

namespace reference {
const GroupNormKernelSet& kernel_set();
}
namespace fused {
const GroupNormKernelSet& kernel_set();
}

}  // namespace bnlab::gn
