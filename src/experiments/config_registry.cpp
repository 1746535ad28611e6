// The config keys, in the order `bnlab show --keys` lists them.
#include "experiments/config_fields.h"

namespace bnlab::experiments::detail {
namespace {
const std::vector<std::string> kDatasets = {"mnist", "fashion-mnist", "synthetic"};
}  // namespace

std::vector<ConfigKey> build_registry() {
  using R = RunConfig;
  return {
      field("dataset", &R::data, &DataConfig::dataset, "data set to train and evaluate on", one_of(kDatasets),
            kDatasets),
      field("data.standardize", &R::data, &DataConfig::standardize,
            "standardise pixels with the training set's mean and std (else pixels in [0,1])"),
      field("data.train_subset", &R::data, &DataConfig::train_subset, "train on the first K samples only (0: all)",
            at_least(0)),
      field("data.synthetic_train", &R::data, &DataConfig::synthetic_train, "synthetic data set: training samples",
            at_least(2)),
      field("data.synthetic_test", &R::data, &DataConfig::synthetic_test, "synthetic data set: test samples",
            at_least(1)),
      field("model.arch", &R::model, &ModelConfig::arch, "network"),
      field("model.hidden", &R::model, &ModelConfig::hidden, "hidden Dense sizes ([]: mlp [128, 64], cnn [64])",
            positive_sizes()),
      field("model.conv_channels", &R::model, &ModelConfig::conv_channels,
            "cnn: channels of each 3x3 conv (each followed by 2x2 max-pool)", positive_sizes()),
      field("model.activation", &R::model, &ModelConfig::activation, "hidden activation"),
      field("model.dropout", &R::model, &ModelConfig::dropout, "dropout rate after each hidden block (0: none)",
            in_range(0, 1, false)),
      field("model.dropout_placement", &R::model, &ModelConfig::dropout_placement,
            "dropout at the end of each block (after-norm) or right before the BatchNorm layer (before-norm)"),
      field("model.norm", &R::model, &ModelConfig::norm,
            "normalisation per hidden layer: none, native (torch::nn::BatchNorm1d/2d), custom (bnlab's BatchNorm), "
            "group, layer, instance (bnlab's GroupNorm: gn.groups, one group, one per channel; instance on conv "
            "layers only), native-group, native-layer, native-instance (LibTorch's)"),
      field("model.placement", &R::model, &ModelConfig::placement,
            "BatchNorm before or after the activation (auto: mlp before, cnn after)"),
      field("model.init", &R::model, &ModelConfig::init,
            "weight init: pytorch (kaiming-uniform), glorot (Keras: glorot_uniform, zero bias)"),
      bn_preset_key(),
      field("bn.eps", &R::bn, &BnConfig::eps, "added to the variance", positive()),
      field("bn.momentum", &R::bn, &BnConfig::momentum,
            "running-statistics momentum (PyTorch convention), or \"none\" for a cumulative average", momentum_range()),
      field("bn.affine", &R::bn, &BnConfig::affine, "learnable gamma and beta"),
      field("bn.gamma_init", &R::bn, &BnConfig::gamma_init, "initial gamma", finite()),
      field("bn.beta_init", &R::bn, &BnConfig::beta_init, "initial beta", finite()),
      field("bn.kernels", &R::bn, &BnConfig::kernels,
            "bnlab's BN (model.norm = custom): fused (vectorised) or reference (readable loops) kernels"),
      field("bn.fuse_relu", &R::bn, &BnConfig::fuse_relu,
            "bnlab's BN next to a ReLU (model.norm = custom, model.activation = relu; either placement, unless "
            "dropout sits between them): compute the ReLU inside the BatchNorm layer, in the same kernel passes "
            "(same results, less memory traffic; the model then lists no separate act layer)"),
      field("bn.fuse_pool", &R::bn, &BnConfig::fuse_pool,
            "bnlab's BN right before a CNN block's 2x2 max-pool (model.norm = custom, model.arch = cnn; after the "
            "ReLU, or with the ReLU after it fused): compute the max-pool inside the BatchNorm layer, in the same "
            "kernel passes (same results; BN's full-size output is never written; the model then lists no "
            "separate pool layer)"),
      field("bn.mode", &R::bn, &BnConfig::mode,
            "bnlab's BN in a data-parallel job: local (each rank its own batch statistics) or sync "
            "(statistics of the whole batch over all ranks)"),
      field("bn.virtual_batch_size", &R::bn, &BnConfig::virtual_batch_size,
            "Ghost BatchNorm (model.norm = custom): in training, normalise each batch in virtual batches of this "
            "many samples, each with its own statistics (0: off; docs/ghost-batch-norm.md)",
            at_least(0)),
      field("bn.renorm", &R::bn, &BnConfig::renorm,
            "Batch Renormalization (model.norm = custom): in training, y = gamma * (xhat * r + d) + beta with r, d "
            "from the batch and the moving averages, clipped (docs/batch-renorm.md)"),
      field("bn.renorm_rmax", &R::bn, &BnConfig::renorm_rmax, "renorm: r's upper bound once relaxed (>= 1)",
            finite_at_least(1)),
      field("bn.renorm_rmin", &R::bn, &BnConfig::renorm_rmin,
            "renorm: r's lower bound once relaxed, in (0, 1], or \"none\" for 1 / rmax at every step",
            renorm_rmin_range()),
      field("bn.renorm_dmax", &R::bn, &BnConfig::renorm_dmax, "renorm: |d|'s bound once relaxed (>= 0)",
            finite_at_least(0)),
      field("bn.renorm_averages", &R::bn, &BnConfig::renorm_averages,
            "renorm: r and d against the running statistics (inference: the paper) or Keras' own renorm "
            "averages (separate)"),
      field("bn.renorm_momentum", &R::bn, &BnConfig::renorm_momentum,
            "renorm with separate averages: their momentum (PyTorch convention; Keras' renorm_momentum 0.99 is 0.01)",
            above_up_to(0, 1)),
      field("bn.renorm_warmup_steps", &R::bn, &BnConfig::renorm_warmup_steps,
            "renorm: steps of plain BatchNorm (rmax = 1, dmax = 0) before the bounds relax (paper: 5000)", at_least(0)),
      field("bn.renorm_rmax_steps", &R::bn, &BnConfig::renorm_rmax_steps,
            "renorm: the step at which rmax (and rmin) reach their values, linearly after the warmup (paper: "
            "40000; <= warmup: at once)",
            at_least(0)),
      field("bn.renorm_dmax_steps", &R::bn, &BnConfig::renorm_dmax_steps,
            "renorm: the step at which dmax reaches its value (paper: 25000; <= warmup: at once)", at_least(0)),
      field("gn.groups", &R::gn, &GnConfig::groups,
            "model.norm = group / native-group: groups per layer; 0 (auto): per layer the largest divisor of its "
            "channels up to 32 leaving 8 values per group; a layer with fewer channels than G gets one group per "
            "channel (docs/group-norm.md)",
            at_least(0)),
      field("train.optimizer", &R::train, &TrainConfig::optimizer, "optimiser"),
      field("train.lr", &R::train, &TrainConfig::lr, "learning rate", positive()),
      field("train.momentum", &R::train, &TrainConfig::momentum, "sgd momentum", in_range(0, 1, false)),
      field("train.nesterov", &R::train, &TrainConfig::nesterov, "sgd: Nesterov momentum"),
      field("train.weight_decay", &R::train, &TrainConfig::weight_decay, "L2 weight decay", in_range(0, 1)),
      field("train.schedule", &R::train, &TrainConfig::schedule, "learning-rate schedule per epoch"),
      field("train.step_size", &R::train, &TrainConfig::step_size, "step schedule: epochs between decays", at_least(1)),
      field("train.step_gamma", &R::train, &TrainConfig::step_gamma, "step schedule: decay factor", in_range(0, 1)),
      field("train.batch_size", &R::train, &TrainConfig::batch_size, "batch size", at_least(1)),
      field("train.epochs", &R::train, &TrainConfig::epochs, "epochs", at_least(1)),
      field("train.eval_every", &R::train, &TrainConfig::eval_every,
            "also evaluate every K steps into steps.csv (0: per epoch only)", at_least(0)),
      field("log.bn_stats_every", &R::log, &LogConfig::bn_stats_every,
            "log BatchNorm internals to bn_stats.csv every K steps (0: off)", at_least(0)),
      field("log.tensorboard", &R::log, &LogConfig::tensorboard,
            "also write TensorBoard event files (events.out.tfevents.*) beside metrics.csv: the epoch metrics, "
            "steps.csv's evaluations and bn_stats' histograms, at the global step"),
      field("dist.world_size", &R::dist, &DistConfig::world_size,
            "run only in a data-parallel job of this many processes (0: any); train.batch_size is per rank",
            at_least(0)),
  };
}

}  // namespace bnlab::experiments::detail
