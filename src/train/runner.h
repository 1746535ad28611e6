#pragma once
// Executes one planned run end to end: its folder (lock, previous-run rules),
// data, model, training, metrics.csv rows as epochs finish, and run.json.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "data/dataset.h"
#include "dist/group.h"
#include "experiments/run_plan.h"
#include "train/trainer.h"

namespace bnlab::train {

struct RunOptions {
  bool overwrite = false;
  bool resume = false;           // continue an interrupted run from its checkpoint.pt
  bool save_checkpoint = false;  // checkpoint.pt (model, optimiser, position) after every epoch
  std::filesystem::path data_dir;
  bool live_progress = false;
  // A data-parallel job (null: one process). Every rank calls execute_run for
  // the same runs in the same order; rank 0 alone owns the run's folder and
  // writes metrics.csv and run.json, the others write nothing and stay quiet.
  std::shared_ptr<const dist::Group> group;
};

struct RunSummary {
  std::string status;  // completed, diverged, interrupted, failed
  std::optional<EpochMetrics> last_epoch;
  double best_val_accuracy = 0;
  std::string error;  // failed: why
};

// Data sets loaded once per process and shared by the runs of a sweep.
class DatasetCache {
 public:
  const data::Dataset& get(const experiments::DataConfig& config, const std::filesystem::path& data_dir);

 private:
  std::map<std::string, data::Dataset> loaded_;
};

// Runs it, stage by stage: each stage starts from the model the previous one
// saved (stage-<name>.pt; layers new to the stage keep their initialisation)
// and trains the parameter group it names, re-estimates BN statistics, or
// only evaluates. A run that throws is recorded as failed (with the error)
// rather than aborting a sweep. Throws only when the folder cannot be taken
// (locked, a finished run without --overwrite, nothing to resume).
RunSummary execute_run(const experiments::PlannedRun& run, const RunOptions& options,
                       DatasetCache& datasets, std::ostream& log);

// The summary of a finished run, from its run.json (for runs skipped with
// --skip-finished).
RunSummary summary_from_record(const std::filesystem::path& run_dir);

// The metrics.csv columns: Keras CSVLogger's names first.
const std::vector<std::string>& metrics_columns();

}  // namespace bnlab::train
