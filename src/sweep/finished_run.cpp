#include "sweep/finished_run.h"

#include <fmt/format.h>

#include "core/input_error.h"
#include "experiments/model_options.h"
#include "experiments/resolve.h"
#include "models/model.h"
#include "runs/config_json.h"
#include "runs/layout.h"
#include "runs/record.h"
#include "sweep/datasets.h"
#include "train/checkpoint.h"

namespace bnlab::sweep {

FinishedRun finished_run(const std::filesystem::path& run_dir, std::string_view purpose) {
  const auto record = runs::read_run_record(run_dir);
  if (!record) throw InputError(fmt::format("{}: no run.json: not a run folder", run_dir.string()));
  if (record->status != runs::RunStatus::kCompleted)
    throw InputError(fmt::format("{}: the run is {}, not completed: nothing to {}", run_dir.string(),
                                 runs::to_string(record->status), purpose));
  if (!record->stages.is_array() || record->stages.empty())
    throw InputError(fmt::format("{}: run.json lists no stages", run_dir.string()));
  const auto& stage = record->stages.back();
  const auto name = stage.value("name", std::string());
  FinishedRun run{run_dir, experiments::resolved(runs::config_from_json(stage.at("config"))),
                  runs::RunFiles(run_dir).stage_model(name)};
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
