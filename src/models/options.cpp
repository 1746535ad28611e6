#include "models/options.h"

namespace bnlab::models {

const EnumNames<Arch>& enum_names(Arch) {
  static const EnumNames<Arch> names = {{Arch::kMlp, "mlp"}, {Arch::kCnn, "cnn"}};
  return names;
}

const EnumNames<Activation>& enum_names(Activation) {
  static const EnumNames<Activation> names = {
      {Activation::kRelu, "relu"}, {Activation::kSigmoid, "sigmoid"}, {Activation::kTanh, "tanh"}};
  return names;
}

const EnumNames<NormKind>& enum_names(NormKind) {
  static const EnumNames<NormKind> names = {{NormKind::kNone, "none"},
                                            {NormKind::kNative, "native"},
                                            {NormKind::kCustom, "custom"},
                                            {NormKind::kGroup, "group"},
                                            {NormKind::kLayer, "layer"},
                                            {NormKind::kInstance, "instance"},
                                            {NormKind::kNativeGroup, "native-group"},
                                            {NormKind::kNativeLayer, "native-layer"},
                                            {NormKind::kNativeInstance, "native-instance"}};
  return names;
}

bool is_batch_norm_kind(NormKind kind) { return kind == NormKind::kNative || kind == NormKind::kCustom; }

const EnumNames<Placement>& enum_names(Placement) {
  static const EnumNames<Placement> names = {{Placement::kBefore, "before"}, {Placement::kAfter, "after"}};
  return names;
}

const EnumNames<DropoutPlacement>& enum_names(DropoutPlacement) {
  static const EnumNames<DropoutPlacement> names = {{DropoutPlacement::kAfterNorm, "after-norm"},
                                                    {DropoutPlacement::kBeforeNorm, "before-norm"}};
  return names;
}

const EnumNames<Init>& enum_names(Init) {
  static const EnumNames<Init> names = {{Init::kPytorch, "pytorch"}, {Init::kGlorot, "glorot"}};
  return names;
}

const EnumNames<ParamGroup>& enum_names(ParamGroup) {
  static const EnumNames<ParamGroup> names = {
      {ParamGroup::kAll, "all"}, {ParamGroup::kBn, "bn"}, {ParamGroup::kNonBn, "non-bn"}};
  return names;
}

}  // namespace bnlab::models
