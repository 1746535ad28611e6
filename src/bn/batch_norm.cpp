#include "bn/batch_norm.h"

#include "bn/batch_norm_function.h"
#include "bn/function_support.h"

namespace bnlab::bn {

BatchNormImpl::BatchNormImpl(const BatchNormOptions& options_) : options(options_) {
  TORCH_CHECK(options.num_features() > 0, "BatchNorm: num_features must be positive, got ",
              options.num_features());
  TORCH_CHECK(options.eps() > 0, "BatchNorm: eps must be positive, got ", options.eps());
  if (options.momentum())
    TORCH_CHECK(*options.momentum() >= 0 && *options.momentum() <= 1,
                "BatchNorm: momentum must be in [0, 1] (or none for a cumulative average), got ",
                *options.momentum());
  reset();
}

void BatchNormImpl::reset() {
  const int64_t C = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({C}));
    bias = register_parameter("bias", torch::empty({C}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({C}));
    running_var = register_buffer("running_var", torch::ones({C}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kInt64));
  }
  reset_parameters();
}

void BatchNormImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void BatchNormImpl::reset_parameters() {
  reset_running_stats();
  if (!options.affine()) return;
  torch::NoGradGuard no_grad;
  weight.fill_(1);
  bias.zero_();
}

void BatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "bnlab::BatchNorm(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum())
    stream << *options.momentum();
  else
    stream << "None";
  stream << ", affine=" << std::boolalpha << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << ", kernels=" << to_string(options.kernels())
         << (options.sync_group() ? ", sync=" + std::to_string(options.sync_group()->size()) + " ranks" : "")
         << (options.relu() ? ", relu=true" : "") << ")";
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& input) {
  // PyTorch's rule: batch statistics in training, and in eval too when no
  // running statistics are kept.
  const bool use_batch_stats = is_training() || !options.track_running_stats();
  // Sync BN applies to training only: in eval without running statistics
  // each rank normalises its own batch, as torch.nn.SyncBatchNorm does.
  const parallel::Group* sync_group = is_training() ? options.sync_group().get() : nullptr;
  // Refused before num_batches_tracked changes, as native refuses a wrong rank.
  detail::check_batch_norm_arguments(input, weight, bias, running_mean, running_var, use_batch_stats,
                                     sync_group && sync_group->size() > 1);
  const bool update_running = is_training() && options.track_running_stats();
  double momentum = 0.0;  // unused unless update_running
  if (update_running) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    momentum = options.momentum() ? *options.momentum()
                                  : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  return batch_norm(input, weight, bias, running_mean, running_var, use_batch_stats, momentum, options.eps(),
                    options.kernels(), options.relu(), sync_group);
}

}  // namespace bnlab::bn
