#pragma once
// Executes one planned run end to end: its folder (lock, previous-run rules),
// data, model, training, metrics.csv rows as epochs finish, and run.json.
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "parallel/group.h"
#include "runs/metrics.h"
#include "runs/record.h"
#include "sweep/datasets.h"
#include "sweep/plan.h"

namespace bnlab::sweep {

struct RunOptions {
  bool overwrite = false;
  bool resume = false;           // continue an interrupted run from its checkpoint
  bool save_checkpoint = false;  // a checkpoint (model, optimiser, position) after every epoch
  // Why the run is resumed, for run.json: empty for a plain --resume, else the
  // launcher's restart ("bnlab launch restart 1 of 3: rank 1 ...").
  std::string resume_cause;
  std::filesystem::path data_dir;
  bool live_progress = false;
  // A data-parallel job (null: one process). Every rank calls execute_run for
  // the same runs in the same order; rank 0 alone owns the run's folder and
  // writes metrics.csv and run.json, the others write nothing and stay quiet.
  std::shared_ptr<const parallel::Group> group;
};

struct RunSummary {
  runs::RunStatus status = runs::RunStatus::kRunning;
  std::optional<runs::EpochMetrics> last_epoch;
  double best_val_accuracy = 0;
  std::string error;  // failed: why
};

// Runs it, stage by stage: each stage starts from the model the previous one
// saved (layers new to the stage keep their initialisation) and trains the
// parameter group it names, re-estimates BN statistics, or only evaluates.
// A run that throws is recorded as failed (with the error) rather than
// aborting a sweep. Throws only when the folder cannot be taken (locked, a
// finished run without --overwrite, nothing to resume).
RunSummary execute_run(const PlannedRun& run, const RunOptions& options, DatasetCache& datasets, std::ostream& log);

// The summary of a finished run, from its run.json (for runs skipped with
// --skip-finished).
RunSummary summary_from_record(const std::filesystem::path& run_dir);

}  // namespace bnlab::sweep
