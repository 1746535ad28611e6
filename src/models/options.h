#pragma once
// What a model is made of: the choices of the Keras BatchNorm tutorials'
// networks (models/model.h builds them). Plain values, no LibTorch.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "bn/kernels.h"
#include "bn/renorm.h"
#include "core/enum_names.h"
#include "parallel/group.h"

namespace bnlab::models {

enum class Arch { kMlp, kCnn };
enum class Activation { kRelu, kSigmoid, kTanh };
// none; native: torch::nn::BatchNorm1d/2d; custom: bnlab::bn::BatchNorm;
// group, layer, instance: bnlab::gn::GroupNorm with gn.groups, one group, a
// group per channel; native-group: torch::nn::GroupNorm; native-layer:
// at::layer_norm with per-channel affine (gn::NativeLayerNorm);
// native-instance: torch::nn::InstanceNorm2d (affine).
enum class NormKind { kNone, kNative, kCustom, kGroup, kLayer, kInstance, kNativeGroup, kNativeLayer, kNativeInstance };
// True for the BatchNorm kinds (none excluded), false for the group ones.
bool is_batch_norm_kind(NormKind kind);
// The normalisation layer before or after the block's activation.
enum class Placement { kBefore, kAfter };
// Dropout at the end of each block, or right before its BatchNorm layer.
enum class DropoutPlacement { kAfterNorm, kBeforeNorm };
// pytorch: LibTorch's default (kaiming-uniform); glorot: Keras' glorot_uniform, zero bias.
enum class Init { kPytorch, kGlorot };
// Parameter groups for staged training: everything, BatchNorm gamma/beta
// only, or everything but them.
enum class ParamGroup { kAll, kBn, kNonBn };

const EnumNames<Arch>& enum_names(Arch);
const EnumNames<Activation>& enum_names(Activation);
const EnumNames<NormKind>& enum_names(NormKind);
const EnumNames<Placement>& enum_names(Placement);
const EnumNames<DropoutPlacement>& enum_names(DropoutPlacement);
const EnumNames<Init>& enum_names(Init);
const EnumNames<ParamGroup>& enum_names(ParamGroup);

// A normalisation layer's settings (PyTorch's defaults).
struct NormOptions {
  NormKind kind = NormKind::kNone;
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // nullopt: cumulative average
  bool affine = true;
  double gamma_init = 1.0;
  double beta_init = 0.0;
  bn::Kernels kernels = bn::Kernels::kFused;          // custom only
  std::shared_ptr<const parallel::Group> sync_group;  // custom only: sync BatchNorm over this job's ranks
  int64_t virtual_batch_size = 0;                     // custom only: Ghost BatchNorm's virtual batches (0: off)
  std::optional<bn::RenormOptions> renorm;            // custom only: Batch Renormalization (nullopt: off)
  int64_t groups = 0;                                 // group kinds: gn.groups (0: auto; models/norm.h)
};

// One of the tutorials' networks (build_model says how each choice shows).
struct ModelOptions {
  Arch arch = Arch::kMlp;
  std::vector<int64_t> hidden = {128, 64};    // hidden Dense sizes
  std::vector<int64_t> conv_channels = {32};  // cnn: one 3x3 conv + 2x2 max-pool per entry
  Activation activation = Activation::kRelu;
  double dropout = 0.0;  // after each hidden block; 0: none
  DropoutPlacement dropout_placement = DropoutPlacement::kAfterNorm;
  Placement placement = Placement::kBefore;
  Init init = Init::kPytorch;
  NormOptions norm;
  // bnlab's BatchNorm right before or after a ReLU computes the ReLU inside
  // (one layer, same results; bn::BatchNormOptions::relu and relu_input).
  bool fuse_relu = true;
  // bnlab's BatchNorm right before a conv block's 2x2 max-pool computes the
  // pool inside (one layer, same results; bn::BatchNormOptions::max_pool_2x2).
  bool fuse_pool = true;
  int64_t num_classes = 10;
};

}  // namespace bnlab::models
