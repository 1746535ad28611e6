#include "sweep/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <stdexcept>

#include "core/text.h"
#include "runs/layout.h"
#include "runs/record.h"
#include "runs/run_folder.h"
#include "sweep/sweep_progress.h"
#include "train/interrupt.h"

namespace bnlab::sweep {
namespace {

// What to do with each run, decided before any trains.
enum Action : int64_t { kTrain = 0, kSkipFinished = 1, kResume = 2 };

// Rank 0's decision for every run from its results folders (the other ranks
// may be on hosts without them); the refusal text when runs are in the way:
// finished ones (kept unless --overwrite, or skipped with --skip-finished or
// --resume), and unfinished ones with a checkpoint (continued with --resume,
// discarded only with --overwrite).
std::vector<int64_t> decide_from_folders(const std::vector<PlannedRun>& runs, const SweepOptions& o,
                                         std::string& refusal) {
  std::vector<int64_t> actions(runs.size(), kTrain);
  std::vector<std::string> finished, resumable;
  for (size_t i = 0; i < runs.size(); ++i) {
    const runs::RunFiles files(runs[i].dir);
    const auto record = runs::read_run_record(files.path());
    const bool checkpointed = record && std::filesystem::exists(files.checkpoint());
    if (record && runs::is_finished(record->status)) {
      if (o.skip_finished || o.resume)
        actions[i] = kSkipFinished;
      else if (!o.overwrite)
        finished.push_back(fmt::format("  {} ({})", files.path().string(), to_string(record->status)));
    } else if (checkpointed && o.resume) {
      actions[i] = kResume;  // --resume continues what has a checkpoint and starts the rest afresh
    } else if (checkpointed && !o.overwrite) {
      resumable.push_back(fmt::format("  {}: {}", files.path().string(), runs::unfinished_description(*record)));
    }
  }
  if (!finished.empty())
    refusal = fmt::format("{} run(s) already finished; pass --overwrite to replace them:\n{}", finished.size(),
                          join(finished, "\n"));
  if (!resumable.empty())
    refusal += fmt::format("{}{} unfinished run(s) with a checkpoint; continue them with --resume, or pass "
                           "--overwrite to discard them:\n{}",
                           refusal.empty() ? "" : "\n", resumable.size(), join(resumable, "\n"));
  return actions;
}

// Every rank's actions become rank 0's; a refusal on rank 0 stops all.
std::vector<int64_t> decide_runs(const std::vector<PlannedRun>& runs, const SweepOptions& o,
                                 const parallel::Group& group) {
  std::string refusal;
  std::vector<int64_t> actions =
      group.is_root() ? decide_from_folders(runs, o, refusal) : std::vector<int64_t>(runs.size(), kTrain);
  if (group.size() > 1) {
    actions.push_back(refusal.empty() ? 0 : 1);
    std::vector<torch::Tensor> shared = {torch::tensor(actions, torch::kInt64)};
    group.broadcast(shared, 0);
    actions.assign(shared[0].data_ptr<int64_t>(), shared[0].data_ptr<int64_t>() + shared[0].numel());
    const bool refused = actions.back() != 0;
    actions.pop_back();
    if (refused && !group.is_root())
      throw std::runtime_error("rank 0 refused to start: runs in the way (see rank 0's message)");
  }
  if (!refusal.empty()) throw std::runtime_error(refusal);
  return actions;
}

}  // namespace

std::vector<PlannedRun> runs_for_world_size(std::vector<PlannedRun> runs, int world_size, size_t* left_out) {
  std::vector<PlannedRun> kept;
  std::vector<std::string> other_sizes;
  for (auto& run : runs) {
    const int64_t wanted = run.config.dist.world_size;
    if (wanted == 0 || wanted == world_size)
      kept.push_back(std::move(run));
    else
      other_sizes.push_back(std::to_string(wanted));
  }
  if (kept.empty())
    throw std::invalid_argument(fmt::format(
        "no selected run is meant for world size {} (their dist.world_size: {}); start the job with that many "
        "processes, e.g. `bnlab launch --nproc {} -- run ...`",
        world_size, join(other_sizes, ", "), other_sizes.front()));
  if (left_out) *left_out = other_sizes.size();
  return kept;
}

std::vector<SweepEntry> run_sweep(std::vector<PlannedRun> plan, const SweepOptions& options,
                                  const std::shared_ptr<const parallel::Group>& group, std::ostream& log) {
  if (options.overwrite && (options.skip_finished || options.resume))
    throw std::invalid_argument("--overwrite contradicts --skip-finished and --resume");
  const bool root = group->is_root();
  size_t left_out = 0;
  const auto runs = runs_for_world_size(std::move(plan), group->size(), &left_out);
  if (root && left_out)
    log << fmt::format("{} run(s) meant for another world size skipped (this job: {} process{})\n", left_out,
                       group->size(), group->size() == 1 ? "" : "es");
  const std::vector<int64_t> actions = decide_runs(runs, options, *group);

  train::install_interrupt_handler();
  RunOptions run_options;
  run_options.overwrite = options.overwrite;
  run_options.save_checkpoint = options.save_checkpoint || options.resume;
  run_options.data_dir = options.data_dir;
  run_options.resume_cause = options.resume_cause;
  run_options.live_progress = options.live_progress;
  run_options.group = group;
  DatasetCache datasets;
  std::vector<SweepEntry> done;
  const size_t to_run =
      size_t(std::count_if(actions.begin(), actions.end(), [](int64_t a) { return a != kSkipFinished; }));
  std::vector<double> run_seconds;  // of the runs finished so far, for the time left
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    if (actions[i] == kSkipFinished) {
      if (root)
        log << fmt::format("== {} / {} / seed {}: already finished in {}, skipped\n", run.experiment, run.variant,
                           run.seed, run.dir.string());
      done.push_back({run, root ? summary_from_record(run.dir) : RunSummary{}, true});
      continue;
    }
    run_options.resume = actions[i] == kResume;
    if (root && to_run > 1) log << "-- " << sweep_progress_line(run_seconds.size(), to_run, run_seconds) << "\n";
    const auto started = std::chrono::steady_clock::now();
    done.push_back({run, execute_run(run, run_options, datasets, log), false});
    run_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    const auto status = done.back().summary.status;
    if (status == runs::RunStatus::kInterrupted) break;
    if (status == runs::RunStatus::kFailed && group->size() > 1) {
      log.flush();
      std::cerr << fmt::format("rank {}: run {} / {} / seed {} failed: {}\n", group->rank(), run.experiment,
                               run.variant, run.seed, done.back().summary.error);
      break;
    }
  }
  return done;
}

}  // namespace bnlab::sweep
