#pragma once
// Compares bnlab's BatchNorm with torch::nn::BatchNorm1d/2d on one case: the
// same parameters, the same inputs and upstream gradients, several steps.
// Shared by the Catch2 equivalence suite and `bnlab verify`.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bn/kernels.h"
#include "bn/renorm.h"
#include "core/cpu.h"
#include "parallel/group.h"

namespace bnlab::verify {

using bn::Kernels;

// What the inputs hold besides offset + spread * N(0, 1).
enum class InputKind {
  kNormal,
  kNonFinite,  // NaN in channel 0 and +Inf in channel 1 of the first sample
  kExtreme,    // magnitudes up to the float maximum (make_input_base says which)
};

// Which normalisation a case tests, and so its reference: BatchNorm (with
// the switches below) against native BatchNorm; group, layer and instance,
// bnlab's GroupNorm against torch::nn::GroupNorm, at::layer_norm
// (gn::NativeLayerNorm) and torch::nn::InstanceNorm1d/2d.
enum class NormFamily { kBatch, kGroup, kLayer, kInstance };

// allclose semantics: |ours - native| <= atol + rtol * |native|, elementwise.
struct Tolerance {
  double atol = 0, rtol = 0;
};

struct EquivalenceCase {
  NormFamily family = NormFamily::kBatch;
  int64_t groups = 0;                   // kGroup: G
  std::vector<int64_t> shape = {8, 4};  // (N,C), (N,C,L) or (N,C,H,W); N or a spatial size may be 0
  torch::Dtype dtype = torch::kFloat32;
  std::optional<double> momentum = 0.1;  // nullopt: cumulative average
  bool affine = true;
  bool track_running_stats = true;
  bool training = true;  // false: `steps` training steps, then one eval step is compared
  int steps = 1;         // consecutive forward/backward steps, each compared
  bool non_contiguous = false;
  double offset = 0.0;  // inputs are offset + spread * N(0, 1)
  double spread = 1.0;
  Kernels kernels = Kernels::kFused;
  std::optional<Isa> isa;  // fused kernels: the compiled copy to run (nullopt: the one in use)
  bool relu = false;  // ours with BatchNormOptions::relu against native BN then torch::relu
  bool relu_input = false;  // ours with BatchNormOptions::relu_input against torch::relu then native BN
  // ours with BatchNormOptions::max_pool_2x2 against native BN (and its
  // ReLUs) then torch::max_pool2d(2); (N,C,H,W) shapes with H, W >= 2 only.
  bool max_pool = false;
  InputKind input = InputKind::kNormal;
  bool channels_last = false;  // 4D input in channels-last memory format
  // Ghost BatchNorm: ours with BatchNormOptions::virtual_batch_size, native
  // applied to each virtual batch in turn in training. 0: off.
  int64_t virtual_batch_size = 0;
  // Batch Renormalization: ours with BatchNormOptions::renorm against the
  // tensor-op reference (renorm_reference.h), or against native BatchNorm
  // when the bounds are rmax = rmin = 1, dmax = 0 (renorm is then BatchNorm).
  std::optional<bn::RenormOptions> renorm;
  // dweight and dbias's tolerance, when not default_tolerance(dtype): sums
  // over a channel's N*S values, whose float32 rounding grows with the count.
  std::optional<Tolerance> sum_tolerance;

  std::string describe() const;
  std::string kernels_text() const;  // "ref", "fused" or "fused/avx512"
  std::vector<int64_t> output_shape() const;  // shape, or (N, C, H/2, W/2) with max_pool
  // Renorm whose bounds pin r = 1 and d = 0 at every step.
  bool renorm_is_identity() const;
};

// Default tolerances per dtype (reasoning in equivalence.cpp).
Tolerance default_tolerance(torch::Dtype dtype);

struct QuantityError {
  std::string name;  // y, dx, dweight, dbias, running_mean, running_var, num_batches_tracked
  // ours against native in the case's dtype, maximum over steps
  double max_abs = 0;
  double max_rel = 0;  // max |a-b| / max(|b|, tiny)
  Tolerance tolerance;
  bool within_tolerance = true;  // allclose at every step
  int compared_steps = 0;        // 0: absent on both sides (affine or tracking off)
  // float32 cases only: max abs distance of ours and of native to native BN
  // run in float64 on the same inputs and state (the "truth").
  std::optional<double> ours_vs_float64, native_vs_float64;
  // Every element no further from the truth than native's, give or take the
  // tolerance at the truth's magnitude (float32 cases, every step).
  bool as_close_to_truth = true;
  // Within tolerance of native, or (float32) element by element no further
  // from the float64 truth than float32 native is: where float32 native
  // rounds badly (large offsets, M = 2, magnitudes near the float maximum),
  // being more accurate is not a failure.
  bool pass = true;
  bool passed_by_accuracy() const { return pass && !within_tolerance; }
};

struct CaseReport {
  EquivalenceCase test_case;
  std::string reference;  // "torch::nn::BatchNorm1d" or "torch::nn::BatchNorm2d"
  std::vector<QuantityError> quantities;
  bool pass() const;
  const QuantityError* find(const std::string& name) const;
  std::string failure_summary() const;  // one line per failing quantity
};

// The BatchNorm under test: a module whose parameters (weight, bias) and
// buffers (running_mean, running_var, num_batches_tracked) are named as
// native's, in the case's dtype, and the forward to call it with.
struct Candidate {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
};
using CandidateFactory = std::function<Candidate(const EquivalenceCase&)>;

// bnlab's BatchNorm as the case configures it (kernels, relu, switches),
// synchronised over `sync_group` when given.
Candidate bnlab_batch_norm(const EquivalenceCase& test_case,
                           std::shared_ptr<const parallel::Group> sync_group = nullptr);
// bnlab's normalisation of the case's family: BatchNorm, or GroupNorm with
// the family's groups.
Candidate bnlab_norm(const EquivalenceCase& test_case);

// `ours` (bnlab's BatchNorm unless another candidate is given: the tests
// hand it deliberately broken ones, to see the harness fail them) against
// native BatchNorm, step by step.
CaseReport compare_with_native(const EquivalenceCase& test_case, uint64_t seed, const CandidateFactory& ours = {});

// The fixed table the test-suite runs (every switch, shape kind and dtype).
std::vector<EquivalenceCase> standard_cases();

// `count` random cases; dtype fixed when given, otherwise mixed.
std::vector<EquivalenceCase> random_cases(int count, uint64_t seed, std::optional<torch::Dtype> dtype = std::nullopt);

// Each case once per implementation: the reference kernels, and the fused
// kernels once per compiled copy in `isas` (by default every copy this CPU runs).
std::vector<EquivalenceCase> for_each_kernels(const std::vector<EquivalenceCase>& cases,
                                              const std::vector<Kernels>& kernels,
                                              const std::vector<Isa>& isas = supported_isas());

// `bnlab verify`'s table: `count` random cases, and the large-offset cases
// whenever float32 is in it, each once per kernel set (as for_each_kernels).
std::vector<EquivalenceCase> verify_cases(int count, uint64_t seed, std::optional<torch::Dtype> dtype,
                                          const std::vector<Kernels>& kernels,
                                          const std::vector<Isa>& isas = supported_isas());

// Inputs native answers in its own way: NaN and Inf, magnitudes up to the
// float maximum, empty batches, channels-last memory; both dtypes, train and
// eval. Part of the suite's table and of `bnlab verify`'s.
std::vector<EquivalenceCase> edge_cases();

// Ghost BatchNorm against native BatchNorm applied to each virtual batch in
// turn: virtual batches that divide the batch and that leave a remainder,
// every input rank, the switches, eval after training, relu, channels-last;
// `dtype` when given, else both.
std::vector<EquivalenceCase> ghost_cases(std::optional<torch::Dtype> dtype = std::nullopt);

// Batch Renormalization against its tensor-op reference (r and d detached):
// bounds that clip some channels and none, d clipped by offset inputs, the
// schedule crossing warmup and relaxation within the steps, separate
// averages, the switches, eval after training, relu, channels-last; and
// bounds rmax = 1, dmax = 0 against native BatchNorm. `dtype` when given,
// else both.
std::vector<EquivalenceCase> renorm_cases(std::optional<torch::Dtype> dtype = std::nullopt);

// bnlab's GroupNorm (family kGroup), LayerNorm (kLayer) or InstanceNorm
// (kInstance) against the native module: every shape the models use (the
// MLP's and the CNN's Dense layers, the CNN's conv layers with 1-3 convs),
// group counts that auto and explicit gn.groups give, no affine,
// channels-last and non-contiguous input, 3 steps each; `dtype` when
// given, else both.
std::vector<EquivalenceCase> group_family_cases(NormFamily family, std::optional<torch::Dtype> dtype = std::nullopt);

// The ill-conditioned case: mean 1e4, std 1e-2 in float32.
EquivalenceCase large_offset_case(std::vector<int64_t> shape);

// Sync BatchNorm against bnlab's one-process BatchNorm: every rank of `group`
// draws the same whole batch (N, C, *), runs the one-process layer on all of
// it and the sync layer on its shard of rows (uneven when N % world size != 0),
// and compares its rows of y and dx, the parameter gradients summed over
// ranks, and the running statistics. Errors are the maxima over ranks; every
// rank gets the same report. A collective: all ranks call it, case by case.
CaseReport compare_sync_with_single(const EquivalenceCase& test_case, uint64_t seed,
                                    const std::shared_ptr<const parallel::Group>& group);

// The table `bnlab verify --sync-bn` and the tests run (batch sizes that 2
// and 3 ranks split unevenly, every switch, the large-offset case).
std::vector<EquivalenceCase> sync_cases();

}  // namespace bnlab::verify
