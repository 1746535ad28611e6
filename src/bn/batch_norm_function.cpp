#include "bn/batch_norm_function.h"

#include <cmath>
#include <cstdint>

#include "bn/function_support.h"
#include "bn/kernels.h"
#include "bn/sync_statistics.h"
#include "pool/max_pool.h"

namespace bnlab::bn {
namespace {

using namespace detail;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Eval: (mean, invstd) in float64 from the running statistics.
std::pair<torch::Tensor, torch::Tensor> running_statistics(const torch::Tensor& running_mean,
                                                           const torch::Tensor& running_var, double eps) {
  // Copies even when already float64: the buffers must not alias what is
  // saved for backward or overwritten here.
  auto mean = per_channel_copy(running_mean, torch::kFloat64);
  auto invstd = per_channel_copy(running_var, torch::kFloat64);
  double* v = invstd.data_ptr<double>();
  for (int64_t c = 0; c < invstd.numel(); ++c) v[c] = 1.0 / std::sqrt(v[c] + eps);
  return {mean, invstd};
}

// The ReLU after BN when the kernels did not fuse it: y = max(0, y) in place;
// returns where it passed (NaN passes, as in torch::relu's backward).
torch::Tensor apply_relu_(torch::Tensor& y) {
  auto blocked = y.le(0);
  y.masked_fill_(blocked, 0);
  return blocked.logical_not_();
}

// saved_data holds IValues, which cannot hold a C++ pointer: the sync group
// travels as its address (0: local), valid while the layer's options keep
// the group alive.
int64_t group_token(const parallel::Group* group) { return static_cast<int64_t>(reinterpret_cast<intptr_t>(group)); }
const parallel::Group* group_of_token(int64_t token) {
  return reinterpret_cast<const parallel::Group*>(static_cast<intptr_t>(token));
}

// The forward's switches that backward reads, packed in one saved_data entry:
// each entry costs a string hash and map growth, ~0.1 us per call, and a
// small layer's forward+backward takes ~20 us in all.
struct Switches {
  bool affine, use_batch_stats, channels_last, relu_input, relu_input_in_kernels, pooled_in_kernels;
  bool dx_read_next;  // x came from a layer (it has a grad_fn), whose backward reads dx next
  Kernels kernels;

  int64_t packed() const {
    return int64_t(affine) | int64_t(use_batch_stats) << 1 | int64_t(channels_last) << 2 | int64_t(relu_input) << 3 |
           int64_t(relu_input_in_kernels) << 4 | int64_t(pooled_in_kernels) << 5 | int64_t(dx_read_next) << 6 |
           int64_t(kernels) << 7;
  }
  static Switches unpacked(int64_t bits) {
    return {bool(bits & 1),      bool(bits >> 1 & 1), bool(bits >> 2 & 1), bool(bits >> 3 & 1),
            bool(bits >> 4 & 1), bool(bits >> 5 & 1), bool(bits >> 6 & 1), Kernels(bits >> 7)};
  }
};

}  // namespace

// ---- forward ------------------------------------------------------------------

torch::Tensor BatchNormFunction::forward(AutogradContext* ctx, const torch::Tensor& x,
                                         const torch::Tensor& weight_or_empty, const torch::Tensor& bias_or_empty,
                                         const torch::Tensor& running_mean_or_empty,
                                         const torch::Tensor& running_var_or_empty, bool use_batch_stats,
                                         double momentum, double eps, Kernels kernels, bool relu, bool relu_input,
                                         bool max_pool, const parallel::Group* sync_group, const RenormInput* renorm) {
  const KernelSet& k = kernel_set(kernels);
  const auto weight = affine_or_absent(weight_or_empty);  // (C) or undefined
  const auto bias = affine_or_absent(bias_or_empty);
  const auto running_mean = empty_as_absent(running_mean_or_empty);
  const auto running_var = empty_as_absent(running_var_or_empty);
  const parallel::Group* synced = use_batch_stats ? sync_group : nullptr;
  const RenormInput* renorming = use_batch_stats ? renorm : nullptr;
  const bool channels_last = is_channels_last(x);
  auto x3 = as_ncs(x, channels_last);  // (N,C,*), or (NHW,C,1): this rank's shard when synced
  // The whole-layer kernels, and eval mode's pooled pass, apply a ReLU before
  // BN inside their passes; every other path normalises max(0, x) computed
  // here. Either tensor, saved, gives backward the ReLU's mask (both are <= 0
  // where it blocked).
  const bool whole_layer = use_batch_stats && !synced && k.forward_batch_stats && !renorming;
  // The max-pool after BN: inside the kernels' passes where they have the
  // entries for it (NCHW input), in training (pooled_in_kernels, which
  // backward reads) and in eval mode; else MaxPool2x2's halves on BN's output.
  const bool pooled_in_kernels = max_pool && whole_layer && k.forward_batch_stats_pooled && !channels_last;
  const bool pooled_fixed_stats = max_pool && !use_batch_stats && k.forward_fixed_stats_pooled && !channels_last;
  const bool pooled = pooled_in_kernels || pooled_fixed_stats;
  const bool relu_input_in_kernels = relu_input && (whole_layer || pooled_fixed_stats);
  if (relu_input && !relu_input_in_kernels) x3 = torch::relu(x3);
  int64_t count = NcsShape(x3).count();     // M, values per channel (over all ranks when synced)
  torch::Tensor y3, mean, invstd;           // (N,C,*); (C) float64, (C) float64
  torch::Tensor relu_mask;                  // (N,C,*) bool, with relu (unless pooled_in_kernels)
  torch::Tensor winner;                     // (N,C,H/2,W/2) uint8, with max_pool
  auto scale = weight, shift = bias;        // (C) what the kernels apply: gamma and beta, renormalised
  RenormCorrection correction;              // (C) float64 r and d, when renormalising
  if (use_batch_stats) {
    // invstd holds the biased variance until finished.
    if (synced) {
      auto merged = synced_moments(k, x3, *synced);
      TORCH_CHECK(merged.count > 1,
                  "SyncBatchNorm: expected more than 1 value per channel over all ranks when "
                  "training, got ",
                  merged.count, " (input size on this rank ", x.sizes(), ")");
      mean = merged.mean;
      invstd = merged.var;
      count = merged.count;
    } else if (whole_layer) {  // not with renorm: it needs the statistics before y
      auto out = pooled_in_kernels ? k.forward_batch_stats_pooled(x3, weight, bias, eps, relu, relu_input_in_kernels)
                                   : k.forward_batch_stats(x3, weight, bias, eps, relu, relu_input_in_kernels);
      y3 = out.y;  // pooled: (N,C,H/2,W/2)
      mean = out.mean;
      invstd = out.var;
      relu_mask = out.relu_mask;
      winner = out.winner;
    } else {
      std::tie(mean, invstd) = k.batch_moments(x3);
    }
    if (renorming) {  // before the running statistics' update: r and d use the averages before this batch
      correction = renorm_correction(*renorming, mean, invstd, running_mean, running_var, eps);
      std::tie(scale, shift) = renormalised_affine(correction, weight, bias, x.scalar_type());
    }
    finish_batch_statistics(mean, invstd, running_mean, running_var, count, momentum, eps);
  } else {
    std::tie(mean, invstd) = running_statistics(running_mean, running_var, eps);
    if (pooled_fixed_stats)  // winner carries the ReLU's say, as in training
      std::tie(y3, winner) = k.forward_fixed_stats_pooled(x3, mean, invstd, scale, shift, relu, relu_input_in_kernels);
  }
  if (!y3.defined()) y3 = k.normalize_forward(x3, mean, invstd, scale, shift);
  if (relu && !pooled && !relu_mask.defined()) relu_mask = apply_relu_(y3);
  auto y = pooled ? y3 : from_ncs(y3, x.sizes(), channels_last);
  if (max_pool && !pooled) {
    auto pooled = pool::max_pool_2x2_forward(y);
    // Channels-last input gives channels-last output, as native max_pool2d's.
    y = channels_last ? pooled.y.contiguous(at::MemoryFormat::ChannelsLast) : pooled.y;
    winner = pooled.winner;
  }

  // Saved: x and the per-channel mean and invstd (O(C)); xhat is recomputed
  // in backward inside the passes that read x anyway. Saving xhat instead
  // would keep a second activation-sized tensor alive per BN layer, while x
  // is usually kept alive regardless (it is the previous layer's output).
  ctx->save_for_backward({x3, scale, mean, invstd, relu_mask, winner});
  ctx->saved_data["switches"] = Switches{weight.defined(),      use_batch_stats,   channels_last,          relu_input,
                                         relu_input_in_kernels, pooled_in_kernels, x.grad_fn() != nullptr, kernels}
                                    .packed();
  if (max_pool) ctx->saved_data["input_size"] = x.sizes();
  if (renorming) {
    ctx->saved_data["renorm_r"] = correction.r;
    ctx->saved_data["renorm_d"] = correction.d;
  }
  if (synced) {  // the local count is x's; nothing more is kept for the local layer
    ctx->saved_data["count"] = count;
    ctx->saved_data["sync_group"] = group_token(synced);
  }
  return y;
}

// ---- backward -----------------------------------------------------------------

variable_list BatchNormFunction::backward(AutogradContext* ctx, variable_list grad_outputs) {
  // The kernels below are plain loops that autograd cannot see, so a
  // create_graph=true backward would silently yield wrong second derivatives.
  TORCH_CHECK(!torch::GradMode::is_enabled(),
              "BatchNormFunction: double backward (create_graph=true) is not supported");
  const auto saved = ctx->get_saved_variables();
  const torch::Tensor& x3 = saved[0];      // (N,C,*): x, or max(0, x) when forward computed it
  const torch::Tensor& weight = saved[1];  // (C) the scale forward applied (gamma, or gamma * r), or undefined
  const torch::Tensor& mean = saved[2];    // (C) float64
  const torch::Tensor& invstd = saved[3];  // (C) float64
  const torch::Tensor& relu_mask = saved[4];  // (N,C,*) bool, or undefined without relu
  const torch::Tensor& winner = saved[5];     // (N,C,H/2,W/2) uint8, or undefined without max_pool
  const auto switches = Switches::unpacked(ctx->saved_data["switches"].toInt());
  const bool use_batch_stats = switches.use_batch_stats;
  const KernelSet& k = kernel_set(switches.kernels);
  const bool was_synced = ctx->saved_data.count("sync_group") > 0;
  const parallel::Group* synced = was_synced ? group_of_token(ctx->saved_data["sync_group"].toInt()) : nullptr;
  const int64_t count = was_synced ? ctx->saved_data["count"].toInt() : NcsShape(x3).count();  // M
  const bool channels_last = switches.channels_last;
  const bool relu_input = switches.relu_input;
  const bool need_dx = ctx->needs_input_grad(0);
  // With max_pool, the gradient of BN's (+ ReLU's) output is the pool's
  // backward of grad_outputs[0], done in the kernels' passes where forward's
  // were, else here.
  const auto x_size = winner.defined() ? ctx->saved_data["input_size"].toIntVector() : grad_outputs[0].sizes().vec();
  const bool pooled_in_kernels = switches.pooled_in_kernels && need_dx;
  auto dy = winner.defined() && !pooled_in_kernels ? pool::max_pool_2x2_backward(grad_outputs[0], winner, x_size)
                                                   : grad_outputs[0];
  auto dy3 = pooled_in_kernels ? dy.contiguous() : as_ncs(dy, channels_last);  // (N,C,*), laid out as x3; or pooled

  const bool need_dweight = switches.affine && ctx->needs_input_grad(1);
  const bool renormalised = ctx->saved_data.count("renorm_r") > 0;
  const bool need_dbias = ctx->needs_input_grad(2);
  torch::Tensor dx, dweight, dbias;

  // dbeta = sum dy, dgamma = sum dy*xhat (this rank's); the batch-statistics
  // dx needs both too (over all ranks when synced).
  const bool need_sums = need_dweight || need_dbias || (need_dx && use_batch_stats);
  torch::Tensor sum_dy, sum_dy_xhat;  // (C) float64, or x's dtype from the whole-layer kernels
  if (pooled_in_kernels) {
    std::tie(dx, sum_dy, sum_dy_xhat) =
        k.backward_with_batch_stats_pooled(dy3, winner, x3, mean, invstd, weight, relu_input, switches.dx_read_next);
  } else if (need_dx && use_batch_stats && !synced && k.backward_with_batch_stats) {
    std::tie(dx, sum_dy, sum_dy_xhat) =
        k.backward_with_batch_stats(dy3, x3, mean, invstd, weight, relu_mask, relu_input, switches.dx_read_next);
  } else {
    // The gradient reaching BN: zero where the ReLU after it blocked.
    if (relu_mask.defined()) dy3 = dy3.masked_fill(relu_mask.logical_not(), 0);
    // BN's input: max(0, x) with a ReLU before BN.
    const auto bn_in = switches.relu_input_in_kernels ? torch::relu(x3) : x3;
    if (need_sums) std::tie(sum_dy, sum_dy_xhat) = k.grad_sums(dy3, bn_in, mean, invstd);
    if (need_dx && use_batch_stats) {
      const auto [batch_sum_dy, batch_sum_dy_xhat] =
          synced ? summed_over_ranks(sum_dy, sum_dy_xhat, *synced) : std::make_pair(sum_dy, sum_dy_xhat);
      dx = k.normalize_backward_batch_stats(dy3, bn_in, mean, invstd, weight, batch_sum_dy, batch_sum_dy_xhat, count);
    } else if (need_dx) {
      dx = k.normalize_backward_fixed_stats(dy3, invstd, weight);
    }
    if (need_dx && relu_input) dx.masked_fill_(x3.le(0), 0);  // the ReLU before BN blocked there
  }
  if (need_dx) dx = from_ncs(dx, x_size, channels_last);  // x's shape and memory format
  if (need_dweight && renormalised)
    dweight = renormalised_dweight({ctx->saved_data["renorm_r"].toTensor(), ctx->saved_data["renorm_d"].toTensor()},
                                   sum_dy, sum_dy_xhat, x3.scalar_type());
  else if (need_dweight)
    dweight = in_dtype(sum_dy_xhat, x3.scalar_type());
  if (need_dbias) dbias = in_dtype(sum_dy, x3.scalar_type());
  // One entry per forward argument: x, weight, bias, running_mean,
  // running_var, use_batch_stats, momentum, eps, kernels, relu, relu_input, max_pool, sync_group, renorm.
  return {dx, dweight, dbias, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
}

// ---- validated entry point ----------------------------------------------------

torch::Tensor batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                         const torch::Tensor& running_mean, const torch::Tensor& running_var, bool use_batch_stats,
                         double momentum, double eps, Kernels kernels, bool relu, const parallel::Group* sync_group,
                         const RenormInput* renorm, bool relu_input, bool max_pool) {
  const parallel::Group* synced = sync_group && sync_group->size() > 1 ? sync_group : nullptr;
  check_batch_norm_arguments(x, weight, bias, running_mean, running_var, use_batch_stats, synced != nullptr);
  if (max_pool) pool::check_max_pool_2x2_input(x);
  if (x.numel() == 0 && !synced) {  // the running statistics are left alone, as native does
    auto y = empty_normalised(x, weight, bias);
    if (relu) y = torch::relu(y);
    return max_pool ? pool::max_pool_2x2(y) : y;
  }
  return BatchNormFunction::apply(x, absent_as_empty(weight, x), absent_as_empty(bias, x),
                                  absent_as_empty(running_mean, x), absent_as_empty(running_var, x), use_batch_stats,
                                  momentum, eps, kernels, relu, relu_input, max_pool, synced, renorm);
}

}  // namespace bnlab::bn
