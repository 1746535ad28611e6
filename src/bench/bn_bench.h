#pragma once
// `bnlab bench bn`: forward+backward time of native BatchNorm, bnlab's
// reference kernels and bnlab's fused kernels on a table of shapes; with
// relu, of BatchNorm followed by a ReLU (native: torch::relu after it; ours:
// BatchNormOptions::relu); with relu_before, of a ReLU followed by BatchNorm
// (native: torch::relu before it; ours: BatchNormOptions::relu_input).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/bandwidth.h"
#include "bench/timing.h"
#include "core/enum_names.h"

namespace bnlab::bench {

struct BnBenchRow {
  std::vector<int64_t> shape;
  std::string layout;  // contiguous, or channels_last (4D BatchNorm: x and dy NHWC, read in place)
  std::string impl;    // native, reference, fused
  Timing timing;     // forward + backward, ms
  double ratio_to_native = 0;
  double gbps = 0;   // 8 tensor passes (3 forward, 5 backward) / time
};

// Which normalisation `bench bn` times: BatchNorm, or bnlab's GroupNorm with
// the group counts gn.groups = 0 (auto) gives, LayerNorm, InstanceNorm (4D
// shapes only) against LibTorch's GroupNorm, layer_norm, InstanceNorm2d.
enum class BenchNorm { kBatch, kGroup, kLayer, kInstance };
const EnumNames<BenchNorm>& enum_names(BenchNorm);  // batch, group, layer, instance
// "BatchNorm", "GroupNorm", "LayerNorm", "InstanceNorm"
std::string display_name(BenchNorm norm);

struct BnBenchOptions {
  BenchNorm norm = BenchNorm::kBatch;
  std::vector<std::vector<int64_t>> shapes;  // empty: the default table
  double seconds_per_case = 0.4;             // timing budget per shape and implementation
  bool relu = false;                         // time BatchNorm followed by a ReLU (batch only)
  bool relu_before = false;                  // time a ReLU followed by BatchNorm (batch only)
  bool channels_last = true;                 // BatchNorm: also every 4D shape in channels-last layout
  // Told before each shape is timed: its index, the shapes' count, the shape.
  std::function<void(size_t, size_t, const std::string&)> on_case;
};

std::vector<std::vector<int64_t>> default_bn_shapes();

std::vector<BnBenchRow> bench_batch_norm(const BnBenchOptions& options);

}  // namespace bnlab::bench
