#include "bench/train_bench.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <map>

#include "core/threads.h"
#include "data/synthetic.h"
#include "experiments/experiment.h"
#include "models/model.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace bnlab::bench {
namespace {

// norm: none, native, custom (fused kernels) or custom-reference.
experiments::RunConfig config_for(const std::string& experiment, const std::string& norm, int64_t batch_size) {
  const auto loaded = experiments::load_experiment(experiment);
  const bool reference = norm == "custom-reference";
  experiments::Overrides overrides = {{"model.norm", reference ? std::string("custom") : norm},
                                      {"train.batch_size", batch_size},
                                      {"bn.kernels", std::string(reference ? "reference" : "fused")}};
  return loaded.config_for(loaded.variants.front(), overrides);
}

Timing time_steps(const experiments::RunConfig& config, const data::Dataset& dataset, double seconds) {
  torch::manual_seed(0);
  auto model = models::build_model(config);
  auto optimizer = train::make_optimizer(config.train, model->parameters());
  model->train();
  const data::Batches batches(dataset.train, data::epoch_order(dataset.train.size(), 0, 1), config.train.batch_size);
  train::RunningMetrics running;
  int64_t next = 0;
  auto step = [&] {
    train::train_step(model, *optimizer, batches[next], running);
    next = (next + 1) % (batches.count() - 1);  // skip the remainder batch
  };
  double warmup_ms = 0;
  for (int i = 0; i < 20; ++i) warmup_ms += time_ms(step);
  const int steps = std::clamp(static_cast<int>(1e3 * seconds / std::max(warmup_ms / 20, 1e-3)), 30, 5000);
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) ms.push_back(time_ms(step));
  return summarize(ms);
}

}  // namespace

std::vector<TrainBenchRow> bench_training(const TrainBenchOptions& options) {
  const int threads_before = at::get_num_threads();
  const auto dataset = data::make_synthetic_dataset(8192, 16, 0);
  std::vector<TrainBenchRow> rows;
  for (const auto& experiment : options.experiments)
    for (int64_t batch : options.batch_sizes)
      for (int threads : options.threads) {
        apply_thread_count(threads);
        double none_ms = 0;
        for (const auto& norm : options.norms) {
          TrainBenchRow row{experiment, batch, norm, threads,
                            time_steps(config_for(experiment, norm, batch), dataset, options.seconds_per_case)};
          if (norm == "none") none_ms = row.timing.median;
          row.ratio_to_none = none_ms > 0 ? row.timing.median / none_ms : 0;
          rows.push_back(row);
        }
      }
  apply_thread_count(threads_before);
  return rows;
}

}  // namespace bnlab::bench
