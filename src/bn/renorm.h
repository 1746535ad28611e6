#pragma once
// Batch Renormalization (Ioffe 2017) for bnlab's BatchNorm: its options, the
// schedule of its bounds, and the per-channel correction r, d
// (docs/batch-renorm.md has the derivation and the Keras mapping).
//
// In training, with the batch's mean mu_B and standard deviation
// sigma_B = sqrt(var_B + eps), and moving averages mu, sigma:
//   r = clip(sigma_B / sigma, rmin, rmax)    d = clip((mu_B - mu) / sigma, -dmax, dmax)
//   y = gamma * (xhat * r + d) + beta        r, d constants in backward
// which is BatchNorm with scale gamma * r and shift gamma * d + beta.
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>

#include "core/enum_names.h"

namespace bnlab::bn {

// Which moving averages r and d are taken against.
//   inference: the running statistics BatchNorm infers with, mu = running_mean,
//     sigma = sqrt(running_var + eps) (the paper's algorithm);
//   separate: Keras 2's own renorm averages, renorm_mean and renorm_std
//     (initially 0 and 1), updated with RenormOptions::momentum from each
//     batch's mu_B and sigma_B; sigma = max(renorm_std, sqrt(eps)).
enum class RenormAverages { kInference, kSeparate };
const EnumNames<RenormAverages>& enum_names(RenormAverages);  // "inference", "separate"

// Options of Batch Renormalization, with the paper's final bounds.
struct RenormOptions {
  // r's upper bound once relaxed (>= 1). Default 3 (the paper).
  TORCH_ARG(double, rmax) = 3.0;
  // r's lower bound once relaxed, in (0, 1]. Default nullopt: 1 / rmax at
  // every step (the paper), following rmax's schedule.
  TORCH_ARG(c10::optional<double>, rmin) = c10::nullopt;
  // |d|'s bound once relaxed (>= 0). Default 5 (the paper).
  TORCH_ARG(double, dmax) = 5.0;
  // Which moving averages define r and d. Default inference (the paper).
  TORCH_ARG(RenormAverages, averages) = RenormAverages::kInference;
  // With separate averages: a = (1 - momentum) * a + momentum * batch value
  // (PyTorch convention; Keras' renorm_momentum m is 1 - m here). Default
  // 0.01, Keras' 0.99.
  TORCH_ARG(double, momentum) = 0.01;
  // The schedule, in training steps of the layer (its num_batches_tracked):
  // rmax = 1, rmin = 1, dmax = 0 (plain BatchNorm) for the first
  // warmup_steps, then each bound relaxed linearly to its value, reached at
  // step rmax_steps (rmax and rmin) and dmax_steps (dmax); a bound whose
  // step is at most warmup_steps takes its value right after the warmup.
  // The paper: 5000, 40000, 25000. Default 0, 0, 0: the bounds from the start.
  TORCH_ARG(int64_t, warmup_steps) = 0;
  TORCH_ARG(int64_t, rmax_steps) = 0;
  TORCH_ARG(int64_t, dmax_steps) = 0;
};

// Throws c10::Error naming the option and the value when one is out of range.
void check_renorm_options(const RenormOptions& options);

// The clipping bounds in force at one training step.
struct RenormBounds {
  double rmax = 1, rmin = 1, dmax = 0;
};

// The bounds at `step` (0 for the first training batch) under the schedule.
RenormBounds renorm_bounds(const RenormOptions& options, int64_t step);

// What BatchNormFunction needs to renormalise one training batch.
struct RenormInput {
  RenormBounds bounds;
  // (C) separate averages, in the input's dtype, updated in place with
  // `momentum` after r and d are taken; undefined with inference averages
  // (then the running statistics are used, before their update).
  torch::Tensor mean, std;
  double momentum = 0;
};

// r and d, (C) float64 each.
struct RenormCorrection {
  torch::Tensor r, d;
};

// r and d of one batch from its mean and biased variance ((C) float64), the
// averages before this batch's update, and eps; updates the separate averages
// in place. Per-channel plain loops, as finish_batch_statistics.
RenormCorrection renorm_correction(const RenormInput& renorm, const torch::Tensor& batch_mean,
                                   const torch::Tensor& batch_var, const torch::Tensor& running_mean,
                                   const torch::Tensor& running_var, double eps);

// The affine transform the kernels apply, (C) in `dtype`:
// scale = gamma * r, shift = gamma * d + beta (gamma = 1, beta = 0 when absent).
std::pair<torch::Tensor, torch::Tensor> renormalised_affine(const RenormCorrection& correction,
                                                            const torch::Tensor& weight, const torch::Tensor& bias,
                                                            torch::ScalarType dtype);

// dgamma = r * sum(dy * xhat) + d * sum(dy), (C) in `dtype`; the sums (C) in any floating dtype.
torch::Tensor renormalised_dweight(const RenormCorrection& correction, const torch::Tensor& sum_dy,
                                   const torch::Tensor& sum_dy_xhat, torch::ScalarType dtype);

}  // namespace bnlab::bn
