#include "experiments/run_config.h"

namespace bnlab::experiments {

const EnumNames<BnPreset>& enum_names(BnPreset) {
  static const EnumNames<BnPreset> names = {{BnPreset::kPytorch, "pytorch"}, {BnPreset::kKeras, "keras"}};
  return names;
}

const EnumNames<BnMode>& enum_names(BnMode) {
  static const EnumNames<BnMode> names = {{BnMode::kLocal, "local"}, {BnMode::kSync, "sync"}};
  return names;
}

const EnumNames<OptimizerKind>& enum_names(OptimizerKind) {
  static const EnumNames<OptimizerKind> names = {{OptimizerKind::kAdam, "adam"}, {OptimizerKind::kSgd, "sgd"}};
  return names;
}

const EnumNames<Schedule>& enum_names(Schedule) {
  static const EnumNames<Schedule> names = {
      {Schedule::kNone, "none"}, {Schedule::kStep, "step"}, {Schedule::kCosine, "cosine"}};
  return names;
}

}  // namespace bnlab::experiments
