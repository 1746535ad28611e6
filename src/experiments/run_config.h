#pragma once
// Everything that defines one training run. config_keys.h is the registry of
// keys through which experiment files and `--set key=value` change it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bn/kernels.h"
#include "bn/renorm.h"
#include "core/enum_names.h"
#include "models/options.h"

namespace bnlab::experiments {

// bn.preset: pytorch (eps 1e-5, momentum 0.1) or Keras' defaults (eps 1e-3, momentum 0.01).
enum class BnPreset { kPytorch, kKeras };
// bn.mode: bnlab's BatchNorm in a data-parallel job: each rank's own batch
// statistics, or the whole batch's over all ranks.
enum class BnMode { kLocal, kSync };
enum class OptimizerKind { kAdam, kSgd };
// train.schedule, per epoch (train/optimizer.h has the formulas).
enum class Schedule { kNone, kStep, kCosine };
const EnumNames<BnPreset>& enum_names(BnPreset);
const EnumNames<BnMode>& enum_names(BnMode);
const EnumNames<OptimizerKind>& enum_names(OptimizerKind);
const EnumNames<Schedule>& enum_names(Schedule);

struct DataConfig {
  std::string dataset = "mnist";  // mnist | fashion-mnist | synthetic
  bool standardize = false;       // subtract train mean / divide by std (else pixels in [0,1])
  int64_t train_subset = 0;       // first K training samples only; 0: all
  int64_t synthetic_train = 2000; // sizes of the synthetic data set
  int64_t synthetic_test = 500;
};

struct ModelConfig {
  models::Arch arch = models::Arch::kMlp;
  std::vector<int64_t> hidden;                // hidden Dense sizes; empty: mlp [128, 64], cnn [64]
  std::vector<int64_t> conv_channels = {32};  // cnn: one 3x3 conv + 2x2 max-pool per entry
  models::Activation activation = models::Activation::kRelu;
  double dropout = 0.0;  // after each hidden block; 0: none
  models::DropoutPlacement dropout_placement = models::DropoutPlacement::kAfterNorm;
  models::NormKind norm = models::NormKind::kNone;
  std::optional<models::Placement> placement;  // nullopt ("auto"): mlp before, cnn after
  models::Init init = models::Init::kPytorch;
};

struct BnConfig {
  BnPreset preset = BnPreset::kPytorch;
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // nullopt: cumulative average
  bool affine = true;
  double gamma_init = 1.0;
  double beta_init = 0.0;
  bn::Kernels kernels = bn::Kernels::kFused;  // custom BN only
  BnMode mode = BnMode::kLocal;               // custom BN across ranks
  bool fuse_relu = true;                      // custom BN next to a ReLU: one layer (models::fuses_relu)
  bool fuse_pool = true;                      // custom BN before a max-pool: one layer (models::fuses_pool)
  int64_t virtual_batch_size = 0;             // custom BN: Ghost BatchNorm's virtual batches (0: off)
  // custom BN: Batch Renormalization (bn::RenormOptions has the meanings)
  bool renorm = false;
  double renorm_rmax = 3.0;
  std::optional<double> renorm_rmin;  // nullopt: 1 / rmax
  double renorm_dmax = 5.0;
  bn::RenormAverages renorm_averages = bn::RenormAverages::kInference;
  double renorm_momentum = 0.01;
  int64_t renorm_warmup_steps = 0;
  int64_t renorm_rmax_steps = 0;
  int64_t renorm_dmax_steps = 0;
};

struct GnConfig {
  int64_t groups = 0;  // group norms: groups per layer (0: auto; models::groups_for_layer)
};

struct TrainConfig {
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double lr = 1e-3;
  double momentum = 0.0;           // sgd
  bool nesterov = false;           // sgd
  double weight_decay = 0.0;
  Schedule schedule = Schedule::kNone;
  int64_t step_size = 1;           // step schedule: epochs between decays
  double step_gamma = 0.1;         // step schedule: decay factor
  int64_t batch_size = 32;
  int64_t epochs = 10;
  int64_t eval_every = 0;          // also evaluate every K steps (to steps.csv); 0: per epoch only
};

struct LogConfig {
  int64_t bn_stats_every = 0;  // BatchNorm internals to bn_stats.csv every K steps; 0: off
  bool tensorboard = true;     // also write TensorBoard event files (runs/tensorboard.h)
};

struct DistConfig {
  // The world size a run is meant for: a data-parallel job runs only the runs
  // whose value is its own world size (0: any, including one process).
  int64_t world_size = 0;
};

struct RunConfig {
  DataConfig data;
  ModelConfig model;
  BnConfig bn;
  GnConfig gn;
  TrainConfig train;
  LogConfig log;
  DistConfig dist;
};

}  // namespace bnlab::experiments
