#pragma once
// `bnlab fold RUN_DIR`: a finished run's model with its BatchNorm layers
// folded (models/fold.h), checked against the unfolded model on the test
// split and written beside it.
#include <filesystem>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace bnlab::sweep {

struct FoldRunOptions {
  std::filesystem::path run_dir;
  std::filesystem::path data_dir;
  bool overwrite = false;     // replace an existing model-folded.pt
  int64_t eval_batch = train::kEvalBatchRows;  // test-split batch for the check and the timing (evaluate's)
};

struct FoldRunReport {
  std::vector<std::string> steps;  // one line per folded layer
  double max_abs_logit_difference = 0;
  double max_relative_logit_difference = 0;  // max |a - b| / max |b|: relative to the largest logit
  double accuracy_unfolded = 0, accuracy_folded = 0;
  double ms_per_batch_unfolded = 0, ms_per_batch_folded = 0;  // medians, eval mode, no gradients
  int64_t test_samples = 0;
  std::filesystem::path written;
};

// Throws InputError (core/input_error.h) for a folder that is not a finished run or a
// refused model (models::FoldError: the layer named), with nothing written;
// std::runtime_error when the folded model's logits differ beyond
// 1e-5 * (|logit| + 1) or its accuracy differs (nothing written either).
FoldRunReport fold_run(const FoldRunOptions& options);

}  // namespace bnlab::sweep
