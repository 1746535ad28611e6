#pragma once
// `bnlab bench train`: ms per training step of the tutorial models, with no
// BN, native BN and bnlab's BN, at several batch sizes and thread counts.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/step_floor.h"
#include "bench/timing.h"

namespace bnlab::bench {

struct TrainBenchRow {
  std::string experiment;  // keras-mlp, keras-cnn
  int64_t batch_size = 0;
  std::string norm;        // none, native, custom (fused kernels), custom-reference
  int threads = 1;
  Timing timing;           // ms per step
  double ratio_to_none = 0;
  double x_floor = 0;  // median over the case's floor (StepFloor::total_ms)
};

// The floor of one case (experiment, batch size, threads): every norm's step shares it.
struct TrainBenchFloor {
  std::string experiment;
  int64_t batch_size = 0;
  int threads = 1;
  StepFloor floor;
};

struct TrainBenchResult {
  std::vector<TrainBenchRow> rows;
  std::vector<TrainBenchFloor> floors;
};

struct TrainBenchOptions {
  std::vector<std::string> experiments = {"keras-mlp", "keras-cnn"};
  std::vector<int64_t> batch_sizes = {32, 128};
  std::vector<std::string> norms = {"none", "native", "custom", "custom-reference"};
  std::vector<int> threads = {1, 2};
  double seconds_per_case = 1.5;  // timed steps per row (after warm-up; the rows of a case take turns)
  // Told before each case (experiment, batch, threads) is timed: its index, the count, what it is.
  std::function<void(size_t, size_t, const std::string&)> on_case;
};

// Steps on a generated MNIST-shaped data set (no download), with the same
// step code as training (train::train_step), and each case's floor
// (step_floor.h) timed in turns with them. Restores the thread count.
TrainBenchResult bench_training(const TrainBenchOptions& options);

}  // namespace bnlab::bench
