#include "bn/batch_norm.h"

#include <ATen/Dispatch.h>

#include "bn/batch_norm_function.h"
#include "bn/function_support.h"
#include "pool/max_pool.h"

namespace bnlab::bn {

BatchNormImpl::BatchNormImpl(const BatchNormOptions& options_) : options(options_) {
  TORCH_CHECK(options.num_features() > 0, "BatchNorm: num_features must be positive, got ",
              options.num_features());
  TORCH_CHECK(options.eps() > 0, "BatchNorm: eps must be positive, got ", options.eps());
  if (options.momentum())
    TORCH_CHECK(*options.momentum() >= 0 && *options.momentum() <= 1,
                "BatchNorm: momentum must be in [0, 1] (or none for a cumulative average), got ",
                *options.momentum());
  TORCH_CHECK(options.virtual_batch_size() >= 0, "BatchNorm: virtual_batch_size must be 0 (off) or positive, got ",
              options.virtual_batch_size());
  TORCH_CHECK(options.virtual_batch_size() == 0 || !options.sync_group() || options.sync_group()->size() == 1,
              "BatchNorm: virtual batches (virtual_batch_size = ", options.virtual_batch_size(),
              ") are one rank's, sync BatchNorm normalises over all ", options.sync_group()->size(),
              " ranks: choose one");
  if (options.renorm()) {
    check_renorm_options(*options.renorm());
    TORCH_CHECK(options.track_running_stats(),
                "BatchNorm: renorm needs track_running_stats (its moving averages and step count)");
    TORCH_CHECK(options.virtual_batch_size() == 0,
                "BatchNorm: renorm with virtual batches (virtual_batch_size = ", options.virtual_batch_size(),
                ") is not supported: choose one");
  }
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
  if (options.renorm() && options.renorm()->averages() == RenormAverages::kSeparate) {
    renorm_mean = register_buffer("renorm_mean", torch::zeros({C}));
    renorm_std = register_buffer("renorm_std", torch::ones({C}));
  }
  reset_parameters();
}

void BatchNormImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
  if (renorm_mean.defined()) {
    renorm_mean.zero_();
    renorm_std.fill_(1);
  }
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
         << (options.relu_input() ? ", relu_input=true" : "") << (options.relu() ? ", relu=true" : "")
         << (options.max_pool_2x2() ? ", max_pool_2x2=true" : "")
         << (options.virtual_batch_size() ? ", virtual_batch_size=" + std::to_string(options.virtual_batch_size())
                                          : "");
  if (const auto& renorm = options.renorm())
    stream << ", renorm(rmax=" << renorm->rmax() << ", rmin=" << (renorm->rmin() ? *renorm->rmin() : 1 / renorm->rmax())
           << ", dmax=" << renorm->dmax() << ", averages=" << to_name(renorm->averages()) << ")";
  stream << ")";
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
  if (options.max_pool_2x2()) pool::check_max_pool_2x2_input(input);
  const int64_t virtual_batch = options.virtual_batch_size();
  if (is_training() && virtual_batch > 0 && input.size(0) > virtual_batch && input.numel() > 0)
    return normalise_in_virtual_batches(input);
  return normalise(input, use_batch_stats, sync_group);
}

namespace {

// count += 1 in place; returns the count before. A CPU scalar (int64, or the
// dtype Module::to gave it) read and written through its pointer: item() and
// add_() are two dispatcher round trips, which cost more than normalising a
// (32,128) batch (bench bn (32,128): 0.95 -> 0.92 of native).
int64_t advance_batch_count(const torch::Tensor& count) {
  int64_t before = 0;
  AT_DISPATCH_ALL_TYPES(count.scalar_type(), "bnlab_batch_count", [&] {
    scalar_t& value = *count.data_ptr<scalar_t>();
    before = static_cast<int64_t>(value);
    value = static_cast<scalar_t>(value + 1);
  });
  return before;
}

}  // namespace

torch::Tensor BatchNormImpl::normalise(const torch::Tensor& input, bool use_batch_stats,
                                       const parallel::Group* sync_group) {
  const bool update_running = is_training() && options.track_running_stats();
  double momentum = 0.0;  // unused unless update_running
  c10::optional<RenormInput> renorm;
  if (update_running) {
    const int64_t count = advance_batch_count(num_batches_tracked);
    if (options.renorm()) renorm = renorm_input(count);
    momentum = options.momentum() ? *options.momentum() : 1.0 / static_cast<double>(count + 1);
  }
  return batch_norm(input, weight, bias, running_mean, running_var, use_batch_stats, momentum, options.eps(),
                    options.kernels(), options.relu(), sync_group, renorm ? &*renorm : nullptr, options.relu_input(),
                    options.max_pool_2x2());
}

RenormInput BatchNormImpl::renorm_input(int64_t step) const {
  RenormInput input;
  input.bounds = renorm_bounds(*options.renorm(), step);
  input.mean = renorm_mean;  // undefined with inference averages
  input.std = renorm_std;
  input.momentum = options.renorm()->momentum();
  return input;
}

torch::Tensor BatchNormImpl::normalise_in_virtual_batches(const torch::Tensor& input) {
  // x: (N, C, *) split along N into views of virtual_batch_size samples, the
  // last one holding the remainder. Checked before any state changes: every
  // virtual batch needs more than one value per channel.
  const int64_t N = input.size(0), virtual_batch = options.virtual_batch_size();
  const int64_t last = N % virtual_batch == 0 ? virtual_batch : N % virtual_batch;
  TORCH_CHECK(last * (input.numel() / (N * input.size(1))) > 1, "BatchNorm: the last virtual batch of a batch of ", N,
              " (virtual_batch_size = ", virtual_batch,
              ") has one value per channel; choose a virtual batch size whose remainder is not 1");
  std::vector<torch::Tensor> outputs;
  for (const auto& chunk : input.split(virtual_batch, 0))
    outputs.push_back(normalise(chunk, /*use_batch_stats=*/true, /*sync_group=*/nullptr));
  // y: (N, C, *), in the input's memory format (cat follows its inputs').
  return torch::cat(outputs, 0);
}

}  // namespace bnlab::bn
