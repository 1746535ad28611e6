#pragma once
// Named experiments: TOML files in experiments/ with a description, a base
// config, named variants (overrides of the base), an optional grid, optional
// stages, and seeds.
//
//   description = "..."
//   seeds = [0, 1, 2]
//   [base]
//   train.epochs = 10
//   [variants.bn-custom]
//   model.norm = "custom"
//   [grid]                       # crossed with the variants (if any)
//   "train.lr" = [0.01, 0.1]
//   [[variants.x.stages]]        # or [[stages]] for every variant
//   name = "pretrain"
//   dataset = "mnist"
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "experiments/resolve.h"
#include "models/options.h"

namespace bnlab::experiments {

// What a stage does: train; recalibrate (re-estimate BN statistics with
// everything frozen, then evaluate); or evaluate only.
enum class StageAction { kTrain, kRecalibrate, kEvaluate };
const EnumNames<StageAction>& enum_names(StageAction);

// One step of a staged run (e.g. train on MNIST, then adapt to Fashion-MNIST).
// Stage overrides accumulate: a stage starts from the previous stage's config.
struct StageSpec {
  std::string name;
  StageAction action = StageAction::kTrain;
  models::ParamGroup trainable = models::ParamGroup::kAll;  // what a train stage trains
  bool freeze_bn_stats = false;                             // train: BN layers use and keep their running statistics
  Overrides overrides;
};

struct ResolvedStage {
  StageSpec spec;
  RunConfig config;  // resolved and validated
};

struct Variant {
  std::string name;
  Overrides overrides;
  std::vector<StageSpec> stages;  // empty: one unnamed training stage
};

struct Experiment {
  std::string name;  // the file's stem
  std::filesystem::path file;
  std::string description;
  Overrides base;
  std::vector<Variant> variants;  // at least one ("default" when the file names none)
  std::vector<int64_t> seeds;     // at least one

  const Variant& variant(const std::string& name) const;  // throws listing the variants
  // defaults + base + variant + extra, arch defaults made explicit, validated.
  RunConfig config_for(const Variant& variant, const Overrides& extra = {}) const;
  // The variant's stages with their configs (base + variant + stages so far +
  // extra); one unnamed "train" stage when it declares none.
  std::vector<ResolvedStage> stages_for(const Variant& variant, const Overrides& extra = {}) const;
};

// Parses and validates a file; every error names the file, line, key and
// reason (experiment_file.cpp). catalog.h finds files by name.
Experiment load_experiment_file(const std::filesystem::path& file);

}  // namespace bnlab::experiments
