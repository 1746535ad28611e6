#pragma once
// run.json, a run's record: who it is, how it was configured, where it ran,
// and how it ended. The one place that names its fields, for writers and
// readers alike.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "runs/metrics.h"

namespace bnlab::runs {

enum class RunStatus { kRunning, kCompleted, kDiverged, kInterrupted, kFailed };
const char* to_string(RunStatus status);
// Throws std::invalid_argument naming the text.
RunStatus parse_run_status(const std::string& text);
// Completed or diverged: a result, which only --overwrite may replace.
bool is_finished(RunStatus status);

struct RunRecord {
  std::string experiment, variant;
  int64_t seed = 0;
  RunStatus status = RunStatus::kRunning;
  std::string started_at;  // UTC, ISO 8601
  std::optional<std::string> resumed_at, ended_at;
  int64_t epochs_completed = 0;
  std::optional<int64_t> diverged_epoch;
  std::optional<std::string> stopped_in_stage;  // staged runs that did not complete
  std::optional<std::string> error;             // failed: why
  nlohmann::json config;                        // the first stage's resolved config, key by key
  nlohmann::json stages;                        // every stage: name, action, trainable, bn_stats, config
  // Where it ran.
  std::string bnlab_version, bnlab_commit, libtorch, blas, host;
  std::string cpu, kernel_copy;  // core/cpu.h's cpu_description(), and the kernels' compiled copy in use
  int threads = 1;
  std::string denormals;  // "flush" or "keep" (core/denormals.h); empty in records from before it was kept
  int64_t pid = 0;
  nlohmann::json data_parallel;  // world size, batch sizes, master; rank_ms_per_step at the end
  nlohmann::json model;          // parameters and layers, once built (null before)
  // Every resume, oldest first: at (UTC), the checkpoint's stage, epoch and
  // global_step it continued from, and its cause ("--resume", or the
  // launcher's restart and why).
  nlohmann::json resumes = nlohmann::json::array();
  // How it ended.
  std::optional<EpochMetrics> final_metrics;
  std::optional<double> best_val_accuracy;
  // From the start of this attempt at the run (its folder taken) to the end
  // of its first optimiser step: data loading, model building, first-step
  // allocations; what a user waits before training starts.
  std::optional<double> seconds_to_first_step;
};

nlohmann::json to_json(const RunRecord& record);
// Throws std::runtime_error naming `file` and the field that is missing or wrong.
RunRecord record_from_json(const nlohmann::json& json, const std::filesystem::path& file);

// The record of a run folder, or nullopt when it has no run.json. Throws
// naming the file when run.json is not valid JSON or not a run record.
std::optional<RunRecord> read_run_record(const std::filesystem::path& run_dir);

// Writes run.json atomically (temporary file, then rename).
void write_run_record(const std::filesystem::path& run_dir, const RunRecord& record);

// The status of a folder that holds a finished run; nullopt otherwise.
std::optional<RunStatus> finished_run_status(const std::filesystem::path& run_dir);

}  // namespace bnlab::runs
