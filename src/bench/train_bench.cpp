#include "bench/train_bench.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>

#include "core/threads.h"
#include "data/catalog.h"
#include "data/synthetic.h"
#include "experiments/catalog.h"
#include "experiments/model_options.h"
#include "models/model.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace bnlab::bench {
namespace {

// A bench row's norm beyond model.norm's values: bnlab's BN with its reference kernels.
const std::string kCustomReference = "custom-reference";

// norm: a model.norm value (custom: fused kernels) or custom-reference.
experiments::RunConfig config_for(const std::string& experiment, const std::string& norm, int64_t batch_size) {
  const auto loaded = experiments::load_experiment(experiment);
  const bool reference = norm == kCustomReference;
  experiments::Overrides overrides = {{"model.norm", reference ? std::string("custom") : norm},
                                      {"train.batch_size", batch_size},
                                      {"bn.kernels", std::string(reference ? "reference" : "fused")}};
  return loaded.config_for(loaded.variants.front(), overrides);
}

// One configuration under test with its own model, optimizer and place in
// the data, so that configurations can take turns.
class Trainee {
 public:
  Trainee(const experiments::RunConfig& config, const data::Dataset& dataset)
      : model_(seeded_model(config)),
        optimizer_(train::make_optimizer(config.train, model_->parameters())),
        batches_(dataset.train, data::epoch_order(dataset.train.size(), 0, 1), config.train.batch_size) {
    train::apply_schedule(*optimizer_, config.train, 0);  // the first epoch's rate, as training starts
    model_->train();
  }

  void step() {
    train::train_step(model_, *optimizer_, batches_[next_], running_);
    next_ = (next_ + 1) % (batches_.count() - 1);  // skip the remainder batch
  }
  torch::nn::Sequential& model() { return model_; }

 private:
  static torch::nn::Sequential seeded_model(const experiments::RunConfig& config) {
    torch::manual_seed(0);
    return models::build_model(experiments::model_options(config));
  }

  torch::nn::Sequential model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  data::Batches batches_;
  train::RunningMetrics running_;
  int64_t next_ = 0;
};

// Step times of each trainee. They take turns, in rounds whose order
// rotates, so that a slow spell of the machine (these VMs have them) falls
// on every configuration alike; timed one after another, a spell once put
// a single row at 1.4x its usual median. A turn is a block of steps of about
// kTurnMs (steady state, as in training), the first of them untimed: it
// finds the caches as another model left them, which training never does.
// Each trainee gets about seconds_per_case of timed steps, in at least
// kMinRounds turns.
std::vector<std::vector<double>> sample_in_turns(const std::vector<std::function<void()>>& trainees,
                                                 double seconds_per_case) {
  constexpr double kTurnMs = 50;
  constexpr int kMinRounds = 5;
  const double turn_ms = std::min(kTurnMs, 1e3 * seconds_per_case / kMinRounds);
  const int rounds = std::max(kMinRounds, static_cast<int>(1e3 * seconds_per_case / turn_ms));
  std::vector<int> steps_per_turn;
  for (auto& trainee : trainees) {
    double warmup_ms = 0;
    for (int i = 0; i < 20; ++i) warmup_ms += time_ms(trainee);
    steps_per_turn.push_back(std::clamp(static_cast<int>(turn_ms / std::max(warmup_ms / 20, 1e-3)), 1, 1000));
  }
  std::vector<std::vector<double>> ms(trainees.size());
  for (int r = 0; r < rounds; ++r)
    for (size_t k = 0; k < trainees.size(); ++k) {
      const size_t i = (r + k) % trainees.size();
      trainees[i]();
      for (int s = 0; s < steps_per_turn[i]; ++s) ms[i].push_back(time_ms(trainees[i]));
    }
  return ms;
}

}  // namespace

TrainBenchResult bench_training(const TrainBenchOptions& options) {
  const int threads_before = at::get_num_threads();
  // As many rows as MNIST's training split: a batch's rows then come from as
  // far down the memory hierarchy as in `bnlab run` (8192 rows, 6 MB, stayed
  // in cache, and keras-mlp ran 1.13x slower in real runs than here).
  const auto dataset = data::make_synthetic_dataset(data::find_dataset("mnist").train_count, 16, 0);
  const auto image_shape = dataset.train.pixels.sizes().slice(1).vec();  // (1, 28, 28)
  TrainBenchResult result;
  const size_t cases = options.experiments.size() * options.batch_sizes.size() * options.threads.size();
  size_t index = 0;
  for (const auto& experiment : options.experiments)
    for (int64_t batch : options.batch_sizes)
      for (int threads : options.threads) {
        if (options.on_case)
          options.on_case(index++, cases, fmt::format("{} batch {}, {} thread(s)", experiment, batch, threads));
        apply_thread_count(threads);
        std::vector<Trainee> trainees;
        trainees.reserve(options.norms.size());
        for (const auto& norm : options.norms) trainees.emplace_back(config_for(experiment, norm, batch), dataset);
        // The floor: the GEMMs and convolutions of the model without norms, in turn with the steps.
        const auto plain = config_for(experiment, "none", batch);
        Trainee plain_model(plain, dataset);
        GemmStep gemms(plain_model.model(), image_shape, batch);
        std::vector<std::function<void()>> turns;
        for (auto& trainee : trainees) turns.push_back([&trainee] { trainee.step(); });
        turns.push_back([&gemms] { gemms.run(); });
        const auto ms = sample_in_turns(turns, options.seconds_per_case);

        TrainBenchFloor floor{experiment, batch, threads, {}};
        floor.floor.gemm_ms = summarize(ms.back()).median;
        floor.floor.optimizer = optimizer_traffic(plain.train, models::count_parameters(*plain_model.model()));
        floor.floor.optimizer_gbps = copy_bandwidth_gbps(floor.floor.optimizer.working_set_bytes);
        result.floors.push_back(floor);
        double none_ms = 0;
        for (size_t i = 0; i < options.norms.size(); ++i) {
          TrainBenchRow row{experiment, batch, options.norms[i], threads, summarize(ms[i])};
          if (row.norm == "none") none_ms = row.timing.median;
          row.ratio_to_none = none_ms > 0 ? row.timing.median / none_ms : 0;
          row.x_floor = row.timing.median / floor.floor.total_ms();
          result.rows.push_back(row);
        }
      }
  apply_thread_count(threads_before);
  return result;
}

}  // namespace bnlab::bench
