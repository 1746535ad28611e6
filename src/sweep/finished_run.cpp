#include "sweep/finished_run.h"

#include <fmt/format.h>

#include "core/input_error.h"
#include "experiments/model_options.h"
#include "experiments/resolve.h"
#include "models/model.h"
#include "runs/config_json.h"
#include "runs/json_values.h"
#include "runs/layout.h"
#include "runs/record.h"
#include "sweep/datasets.h"
#include "train/checkpoint.h"

namespace bnlab::sweep {

namespace {

struct LastStage {
  std::string name;
  experiments::RunConfig config;  // resolved
};

// run.json's last stage, or std::runtime_error naming the file and the field,
// worded as runs::record_from_json words a damaged record (exit 1: a corrupt file).
LastStage last_stage(const nlohmann::json& stages, const std::filesystem::path& run_json) {
  try {
    if (runs::json_array(stages, "stages").empty()) throw std::invalid_argument("stages: none listed");
    const auto& stage = runs::json_object(stages.back(), "stages' last entry");
    if (!stage.contains("config")) throw std::invalid_argument("stages' last entry has no config");
    return {runs::json_field<std::string>(stage, "name", ""),
            experiments::resolved(runs::config_from_json(stage["config"]))};
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(fmt::format("{}: not a bnlab run record: {}", run_json.string(), error.what()));
  }
}

}  // namespace

FinishedRun finished_run(const std::filesystem::path& run_dir, std::string_view purpose) {
  const auto record = runs::read_run_record(run_dir);
  if (!record) throw InputError(fmt::format("{}: no run.json: not a run folder", run_dir.string()));
  if (record->status != runs::RunStatus::kCompleted)
    throw InputError(fmt::format("{}: the run is {}, not completed: nothing to {}", run_dir.string(),
                                 runs::to_string(record->status), purpose));
  const runs::RunFiles files(run_dir);
  auto stage = last_stage(record->stages, files.run_json());
  FinishedRun run{run_dir, std::move(stage.config), files.stage_model(stage.name)};
  if (!std::filesystem::exists(run.model_file))
    throw InputError(fmt::format("{}: missing (the run's trained model)", run.model_file.string()));
  return run;
}

LoadedModel load_trained_model(const FinishedRun& run) {
  LoadedModel loaded{experiments::model_options(run.config, num_classes(run.config.data), nullptr), nullptr};
  loaded.model = models::build_model(loaded.options);
  train::load_model(run.model_file, *loaded.model);
  return loaded;
}

}  // namespace bnlab::sweep
