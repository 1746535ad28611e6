#pragma once
// One run's folder: results/<experiment>/<variant>/seed-<s>/ holding
// metrics.csv, steps.csv (when evaluating every K steps) and run.json.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace bnlab::train {

class RunDirectory {
 public:
  enum class Mode {
    kNew,        // refuse a finished run; replace an unfinished one
    kOverwrite,  // replace whatever is there
    kResume,     // keep an unfinished run's files to continue it; refuse otherwise
  };
  // Creates the folder and takes its lock. Refuses (std::runtime_error, with
  // the reason) when another process holds the lock, or as `mode` says. A
  // finished run is completed or diverged; an unfinished one interrupted,
  // failed, or running but unlocked (its process died). Replacing leaves a
  // note in replaced_note().
  RunDirectory(const std::filesystem::path& path, Mode mode);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path metrics_csv() const { return path_ / "metrics.csv"; }
  std::filesystem::path steps_csv() const { return path_ / "steps.csv"; }
  std::filesystem::path run_json() const { return path_ / "run.json"; }
  std::filesystem::path bn_stats_csv() const { return path_ / "bn_stats.csv"; }
  std::filesystem::path checkpoint() const { return path_ / "checkpoint.pt"; }
  std::filesystem::path stage_model(const std::string& stage) const {
    return path_ / (stage.empty() ? std::string("model.pt") : "stage-" + stage + ".pt");
  }
  const std::string& replaced_note() const { return replaced_note_; }

  // Writes run.json atomically (temporary file, then rename).
  void write_record(const nlohmann::json& record) const;

 private:
  void release();

  std::filesystem::path path_;
  int lock_fd_ = -1;
  std::string replaced_note_;
};

// "completed" or "diverged" when the folder holds a finished run (which only
// --overwrite may replace); nullopt otherwise.
std::optional<std::string> finished_run_status(const std::filesystem::path& run_dir);

// The parsed run.json of a folder, or null when there is none. Throws naming
// the file when it is not valid JSON.
nlohmann::json read_run_record(const std::filesystem::path& run_dir);

}  // namespace bnlab::train
