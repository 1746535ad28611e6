#pragma once
// A sweep: the runs of a plan that this process (or data-parallel job)
// does, one after another. Which runs (the world-size filter), what to do
// with each (train, resume, skip a finished one, refuse), and the ranks'
// agreement on it are decided here, before anything trains.
#include <memory>
#include <ostream>
#include <vector>

#include "parallel/group.h"
#include "sweep/plan.h"
#include "sweep/run.h"

namespace bnlab::sweep {

struct SweepOptions {
  bool overwrite = false;        // replace finished runs
  bool skip_finished = false;    // keep finished runs and report them from run.json
  bool resume = false;           // continue interrupted runs that have a checkpoint; skip finished ones
  bool save_checkpoint = false;  // a checkpoint after every epoch (implied by resume)
  std::filesystem::path data_dir;
  bool live_progress = false;  // a live progress bar (on a terminal)
  std::string resume_cause;    // RunOptions::resume_cause
};

struct SweepEntry {
  PlannedRun run;
  RunSummary summary;
  bool skipped = false;  // finished before, kept (summary from its run.json on rank 0)
};

// The runs meant for a job of `world_size` processes (dist.world_size 0
// means any). Throws std::invalid_argument when none is.
std::vector<PlannedRun> runs_for_world_size(std::vector<PlannedRun> runs, int world_size, size_t* left_out = nullptr);

// Runs the plan's runs meant for `group`'s world size in order, and stops
// after an interrupted run (or, in a job, a failed one: the other ranks are
// mid-collective). Before training anything, refuses (std::runtime_error,
// naming every one) finished runs in the way unless options say to skip or
// replace them; in a job, rank 0 decides from its results folders and the
// others follow. Throws std::invalid_argument for contradictory options or
// no run for this world size.
std::vector<SweepEntry> run_sweep(std::vector<PlannedRun> plan, const SweepOptions& options,
                                  const std::shared_ptr<const parallel::Group>& group, std::ostream& log);

}  // namespace bnlab::sweep
