// The checkpoint reader: the position alone (what --resume checks first),
// then a full load into the smoke experiment's model and Adam optimiser.
#include "experiments/catalog.h"
#include "experiments/model_options.h"
#include "experiments/resolve.h"
#include "fuzz/fuzz_input.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = bnlab::fuzz::input_file(data, size, "checkpoint.pt");
  bnlab::train::CheckpointFile file;
  try {
    file = bnlab::train::read_checkpoint_file(path);  // the CRC checks
    bnlab::train::read_checkpoint_position(file);
  } catch (const std::exception&) {
    return 0;  // refused before parsing: nothing more to load
  }
  // The model of the seed corpus's checkpoints (`bnlab run smoke --variant
  // bn-custom --set model.hidden=4 --save-checkpoint`), built once: MLP with
  // our BatchNorm, and Adam. Loading into it runs every check of the loader.
  static const auto experiment = bnlab::experiments::load_experiment("smoke");
  static const auto config =
      experiment.stages_for(experiment.variant("bn-custom"), {bnlab::experiments::parse_override("model.hidden=4")})
          .front()
          .config;
  static auto model = bnlab::models::build_model(bnlab::experiments::model_options(config));
  static auto optimizer = bnlab::train::make_optimizer(config.train, model->parameters());
  try {
    bnlab::train::load_checkpoint(file, *model, *optimizer);
  } catch (const std::exception&) {
  }
  return 0;
}
