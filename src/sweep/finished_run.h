#pragma once
// A completed run's trained model, for the commands that take a run folder
// (`bnlab fold`, `bnlab export`): the config its last stage trained with and
// that stage's model file, loaded into a model of that config.
#include <torch/torch.h>

#include <filesystem>
#include <string_view>

#include "experiments/run_config.h"
#include "models/options.h"

namespace bnlab::sweep {

struct FinishedRun {
  std::filesystem::path dir;
  experiments::RunConfig config;     // the last stage's, resolved
  std::filesystem::path model_file;  // its model.pt or stage-<name>.pt
};

// Throws InputError (core/input_error.h) naming the folder when it is not a
// run, the run is not completed ("<dir>: the run is failed, not completed:
// nothing to <purpose>"), or its model file is missing; std::runtime_error
// naming run.json and the field when it lists no stages or its last stage
// cannot be read.
FinishedRun finished_run(const std::filesystem::path& run_dir, std::string_view purpose);

// The model the run trained, with the options it was built from (the data
// set's class count; no sync group: a model loaded for inference).
struct LoadedModel {
  models::ModelOptions options;
  torch::nn::Sequential model{nullptr};
};
LoadedModel load_trained_model(const FinishedRun& run);

}  // namespace bnlab::sweep
