#pragma once
// Where results live, and what a run folder holds: every file name of the
// results tree is spelled here and nowhere else.
//
//   <root>/<experiment>/<variant>/seed-<s>/
//     metrics.csv   one row per epoch (metrics.h)
//     steps.csv     one row per K steps, with train.eval_every = K
//     bn_stats.csv  BatchNorm internals, with log.bn_stats_every = K
//     events.out.tfevents.*  TensorBoard's view of the same (tensorboard.h), unless log.tensorboard = false
//     run.json      the run's record (record.h)
//     checkpoint.pt model, optimiser and position, with --save-checkpoint
//     model.pt      the trained model (stage-<name>.pt per named stage)
//     model-folded.pt  the trained model with BatchNorm folded (bnlab fold)
//     .lock         held while a process writes the folder (run_folder.h)
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace bnlab::runs {

// results/ in the source tree, or $BNLAB_RESULTS_DIR.
std::filesystem::path default_results_root();

// <root>/<experiment>/<variant>/seed-<seed>
std::filesystem::path run_directory(const std::filesystem::path& root, const std::string& experiment,
                                    const std::string& variant, int64_t seed);

// "<variant>/seed-<seed>": a run's path within its experiment's folder, and
// its name in comparisons of experiments.
std::string run_label(const std::string& variant, int64_t seed);

// The seed of a run folder's name ("seed-3" -> 3); nullopt for other names.
std::optional<int64_t> seed_of_folder(const std::string& name);

// The files of one run folder.
class RunFiles {
  static constexpr const char* kEventFilePrefix = "events.out.tfevents.";

 public:
  explicit RunFiles(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path metrics_csv() const { return dir_ / "metrics.csv"; }
  std::filesystem::path steps_csv() const { return dir_ / "steps.csv"; }
  std::filesystem::path bn_stats_csv() const { return dir_ / "bn_stats.csv"; }
  std::filesystem::path run_json() const { return dir_ / "run.json"; }
  std::filesystem::path checkpoint() const { return dir_ / "checkpoint.pt"; }
  std::filesystem::path lock_file() const { return dir_ / ".lock"; }
  std::filesystem::path folded_model() const { return dir_ / "model-folded.pt"; }
  // One TensorBoard event file per attempt at the run (a resumed run adds
  // one); `sequence` tells apart the attempts of one process in one second.
  std::filesystem::path tensorboard_events(int64_t unix_seconds, const std::string& host, int64_t pid,
                                           int sequence) const {
    return dir_ / (std::string(kEventFilePrefix) + std::to_string(unix_seconds) + "." + host + "." +
                   std::to_string(pid) + "." + std::to_string(sequence));
  }
  static bool is_tensorboard_events(const std::filesystem::path& file) {
    return file.filename().string().rfind(kEventFilePrefix, 0) == 0;
  }
  // The model a stage hands on: model.pt for the unnamed stage of a
  // single-stage run, stage-<name>.pt for a named stage.
  std::filesystem::path stage_model(const std::string& stage) const {
    return dir_ / (stage.empty() ? std::string("model.pt") : "stage-" + stage + ".pt");
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace bnlab::runs
