#include "experiments/model_options.h"

#include <stdexcept>

namespace bnlab::experiments {

models::ModelOptions model_options(const RunConfig& config, int64_t num_classes,
                                   std::shared_ptr<const parallel::Group> job) {
  if (!config.model.placement)
    throw std::logic_error("model_options: the config is not resolved (model.placement is auto)");
  models::ModelOptions options;
  options.arch = config.model.arch;
  options.hidden = config.model.hidden;
  options.conv_channels = config.model.conv_channels;
  options.activation = config.model.activation;
  options.dropout = config.model.dropout;
  options.dropout_placement = config.model.dropout_placement;
  options.placement = *config.model.placement;
  options.init = config.model.init;
  options.fuse_relu = config.bn.fuse_relu;
  options.fuse_pool = config.bn.fuse_pool;
  options.num_classes = num_classes;

  models::NormOptions& norm = options.norm;
  norm.kind = config.model.norm;
  norm.eps = config.bn.eps;
  norm.momentum = config.bn.momentum;
  norm.affine = config.bn.affine;
  norm.gamma_init = config.bn.gamma_init;
  norm.beta_init = config.bn.beta_init;
  norm.kernels = config.bn.kernels;
  norm.virtual_batch_size = config.bn.virtual_batch_size;
  norm.groups = config.gn.groups;
  if (config.bn.renorm)
    norm.renorm = bn::RenormOptions()
                      .rmax(config.bn.renorm_rmax)
                      .rmin(config.bn.renorm_rmin ? c10::optional<double>(*config.bn.renorm_rmin) : c10::nullopt)
                      .dmax(config.bn.renorm_dmax)
                      .averages(config.bn.renorm_averages)
                      .momentum(config.bn.renorm_momentum)
                      .warmup_steps(config.bn.renorm_warmup_steps)
                      .rmax_steps(config.bn.renorm_rmax_steps)
                      .dmax_steps(config.bn.renorm_dmax_steps);
  if (config.bn.mode == BnMode::kSync) norm.sync_group = std::move(job);
  return options;
}

}  // namespace bnlab::experiments
