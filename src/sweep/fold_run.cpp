#include "sweep/fold_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "core/input_error.h"
#include "models/fold.h"
#include "runs/layout.h"
#include "sweep/datasets.h"
#include "sweep/finished_run.h"
#include "train/checkpoint.h"

namespace bnlab::sweep {
namespace {

namespace fs = std::filesystem;

// (N, classes) logits of the whole split in batches, and the median ms per batch.
std::pair<torch::Tensor, double> logits_and_ms(torch::nn::Sequential& model, const data::Split& split, int64_t batch) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<torch::Tensor> parts;
  std::vector<double> ms;
  for (int64_t start = 0; start < split.size(); start += batch) {
    const auto images = split.images(start, std::min(start + batch, split.size()));
    const auto begin = std::chrono::steady_clock::now();
    parts.push_back(model->forward(images));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return {torch::cat(parts), ms[ms.size() / 2]};
}

double accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
}

}  // namespace

FoldRunReport fold_run(const FoldRunOptions& options) {
  const runs::RunFiles files(options.run_dir);
  if (fs::exists(files.folded_model()) && !options.overwrite)
    throw InputError(fmt::format("{}: exists; pass --overwrite to replace it", files.folded_model().string()));
  const FinishedRun run = finished_run(options.run_dir, "fold");
  DatasetCache datasets;
  const data::Dataset& dataset = datasets.get(run.config.data, options.data_dir);
  auto [model_options, model] = load_trained_model(run);

  FoldRunReport report;
  models::FoldResult folded;
  try {
    folded = models::fold_batch_norms(model, model_options);
  } catch (const models::FoldError& error) {
    throw InputError(fmt::format("{}: cannot fold: {}", options.run_dir.string(), error.what()));
  }
  report.steps = folded.steps;
  // Twice each, alternating, the first pass discarded: warm caches and allocator for both.
  logits_and_ms(model, dataset.test, options.eval_batch);
  logits_and_ms(folded.model, dataset.test, options.eval_batch);
  const auto [before, ms_before] = logits_and_ms(model, dataset.test, options.eval_batch);
  const auto [after, ms_after] = logits_and_ms(folded.model, dataset.test, options.eval_batch);
  const auto difference = (after.to(torch::kFloat64) - before.to(torch::kFloat64)).abs();
  const auto magnitude = before.to(torch::kFloat64).abs();
  report.max_abs_logit_difference = difference.max().item<double>();
  report.max_relative_logit_difference =
      report.max_abs_logit_difference / magnitude.max().clamp_min(1e-30).item<double>();
  report.accuracy_unfolded = accuracy(before, dataset.test.labels);
  report.accuracy_folded = accuracy(after, dataset.test.labels);
  report.ms_per_batch_unfolded = ms_before;
  report.ms_per_batch_folded = ms_after;
  report.test_samples = dataset.test.size();
  // float32 logits of O(10) computed in another order: a few ulps; 1e-5
  // relative (plus 1e-5 absolute for logits near zero) is ~100 ulps.
  if (!(difference <= 1e-5 * (magnitude + 1)).all().item<bool>() || report.accuracy_unfolded != report.accuracy_folded)
    throw std::runtime_error(fmt::format(
        "{}: the folded model differs from the unfolded one (max |logit difference| {:.3g}, accuracy {} vs {}); "
        "nothing written",
        options.run_dir.string(), report.max_abs_logit_difference, report.accuracy_folded, report.accuracy_unfolded));
  train::save_model(files.folded_model(), *folded.model);
  report.written = files.folded_model();
  return report;
}

}  // namespace bnlab::sweep
