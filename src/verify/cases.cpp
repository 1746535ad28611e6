#include <fmt/format.h>

#include <random>

#include "verify/equivalence.h"

// The tables of equivalence cases: the suite's fixed grid, verify's random
// cases, and the sync table.
namespace bnlab::verify {
namespace {

// The dtype asked for, or both.
std::vector<torch::Dtype> dtypes_of(std::optional<torch::Dtype> dtype) {
  if (dtype) return {*dtype};
  return {torch::kFloat32, torch::kFloat64};
}

std::string describe_renorm(const bn::RenormOptions& r) {
  const bool scheduled = r.warmup_steps() || r.rmax_steps() || r.dmax_steps();
  return fmt::format(" renorm(r<={}{},d<={}{}{})", r.rmax(), r.rmin() ? fmt::format(",r>={}", *r.rmin()) : "", r.dmax(),
                     r.averages() == bn::RenormAverages::kSeparate ? ",separate" : "",
                     scheduled ? fmt::format(",sched {}/{}/{}", r.warmup_steps(), r.rmax_steps(), r.dmax_steps()) : "");
}

}  // namespace

std::string EquivalenceCase::describe() const {
  const char* input_text = input == InputKind::kNonFinite ? " nan+inf" : input == InputKind::kExtreme ? " extreme" : "";
  const std::string family_text = family == NormFamily::kGroup      ? fmt::format("group={} ", groups)
                                  : family == NormFamily::kLayer    ? "layer "
                                  : family == NormFamily::kInstance ? "instance "
                                                                    : "";
  if (family != NormFamily::kBatch)
    return fmt::format("{}{} ({}) {} affine={} steps={}{}{}{}", family_text, kernels_text(), fmt::join(shape, ","),
                       dtype == torch::kFloat64 ? "f64" : "f32", affine ? 1 : 0, steps,
                       non_contiguous ? " non-contig" : "",
                       offset != 0 || spread != 1 ? fmt::format(" x~{}+{}*N(0,1)", offset, spread) : "",
                       channels_last ? " channels-last" : "");
  return fmt::format(
      "{} ({}) {} momentum={} affine={} track={} {} steps={}{}{}{}{}{}{}{}{}{}", kernels_text(), fmt::join(shape, ","),
      dtype == torch::kFloat64 ? "f64" : "f32", momentum ? fmt::format("{}", *momentum) : "none", affine ? 1 : 0,
      track_running_stats ? 1 : 0, training ? "train" : "eval", steps, relu_input ? " relu+" : "", relu ? " +relu" : "",
      max_pool ? " +pool" : "", non_contiguous ? " non-contig" : "",
      offset != 0 || spread != 1 ? fmt::format(" x~{}+{}*N(0,1)", offset, spread) : "", input_text,
      channels_last ? " channels-last" : "", virtual_batch_size ? fmt::format(" ghost={}", virtual_batch_size) : "",
      renorm ? describe_renorm(*renorm) : "");
}

std::vector<int64_t> EquivalenceCase::output_shape() const {
  if (!max_pool) return shape;
  return {shape[0], shape[1], shape[2] / 2, shape[3] / 2};
}

std::string EquivalenceCase::kernels_text() const {
  if (kernels != Kernels::kFused) return "ref";
  return isa ? "fused/" + to_name(*isa) : "fused";
}

bool EquivalenceCase::renorm_is_identity() const {
  return renorm && renorm->rmax() == 1 && renorm->dmax() == 0 && renorm->rmin().value_or(1) == 1;
}

std::vector<EquivalenceCase> sync_cases() {
  // Batch sizes that 2 and 3 ranks split unevenly, every input rank, both
  // dtypes, the switches, several steps, and the ill-conditioned offset.
  std::vector<EquivalenceCase> cases;
  const std::vector<std::vector<int64_t>> shapes = {{7, 5}, {13, 4, 6}, {11, 3, 5, 5}, {5, 16}};
  int variant = 0;
  for (const auto& shape : shapes)
    for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64}) {
      EquivalenceCase c;
      c.shape = shape;
      c.dtype = dtype;
      c.momentum = variant % 3 == 2 ? std::nullopt : std::optional<double>(0.1);
      c.affine = variant % 4 != 1;
      c.track_running_stats = variant % 5 != 3;
      c.training = variant % 4 != 3;
      c.non_contiguous = variant % 3 == 1;
      c.relu = variant % 4 == 2;
      c.relu_input = variant % 4 == 1;
      c.steps = 3;
      // In eval without running statistics each rank normalises its own
      // batch (as torch.nn.SyncBatchNorm does): nothing to compare there.
      if (!c.training) c.track_running_stats = true;
      cases.push_back(c);
      ++variant;
    }
  cases.push_back(large_offset_case({61, 8}));
  // Batch Renormalization synced: r and d from the whole batch's statistics.
  auto renorm = cases[2];
  renorm.renorm = bn::RenormOptions().rmax(1.1).dmax(0.1);
  renorm.track_running_stats = true;
  renorm.training = true;
  cases.push_back(renorm);
  return cases;
}

std::vector<EquivalenceCase> for_each_kernels(const std::vector<EquivalenceCase>& cases,
                                              const std::vector<Kernels>& kernels, const std::vector<Isa>& isas) {
  std::vector<EquivalenceCase> out;
  for (Kernels k : kernels) {
    // The reference kernels are plain C++ compiled once; the fused ones once per copy.
    std::vector<std::optional<Isa>> copies = {std::nullopt};
    if (k == Kernels::kFused) copies.assign(isas.begin(), isas.end());
    for (const auto& isa : copies)
      for (auto c : cases) {
        c.kernels = k;
        c.isa = isa;
        out.push_back(c);
      }
  }
  return out;
}

EquivalenceCase large_offset_case(std::vector<int64_t> shape) {
  EquivalenceCase c;
  c.shape = std::move(shape);
  c.offset = 1e4;
  c.spread = 1e-2;
  c.steps = 2;
  return c;
}

std::vector<EquivalenceCase> edge_cases() {
  std::vector<EquivalenceCase> cases;
  auto add = [&](std::vector<int64_t> shape, InputKind input, bool channels_last, bool relu, bool relu_input = false) {
    for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64})
      for (bool training : {true, false}) {
        // float32 eval on extreme values: a running_var of ~1e75 does not fit
        // the float buffer (native's overflows to inf as ours does), and with
        // it eval output means nothing (native: NaN, ours: the bias). Those
        // are compared in training, where the batch statistics hold.
        if (input == InputKind::kExtreme && dtype == torch::kFloat32 && !training) continue;
        EquivalenceCase c;
        c.shape = shape;
        c.dtype = dtype;
        c.training = training;
        c.input = input;
        c.channels_last = channels_last;
        c.relu = relu;
        c.relu_input = relu_input;
        c.steps = 2;
        cases.push_back(c);
      }
  };
  for (auto shape : std::vector<std::vector<int64_t>>{{8, 4}, {5, 3, 7}, {4, 3, 5, 5}, {64, 16}}) {
    add(shape, InputKind::kNonFinite, false, false);
    add(shape, InputKind::kNonFinite, false, false, /*relu_input=*/true);
    add(shape, InputKind::kExtreme, false, shape.size() == 2, /*relu_input=*/shape.size() == 3);
  }
  for (auto shape : std::vector<std::vector<int64_t>>{{0, 4}, {0, 3, 5}, {0, 3, 5, 5}, {4, 3, 0}, {4, 3, 0, 5}})
    add(shape, InputKind::kNormal, false, shape[0] == 0, /*relu_input=*/shape[0] != 0);
  for (auto shape : std::vector<std::vector<int64_t>>{{4, 3, 5, 5}, {2, 16, 7, 7}, {3, 8, 1, 1}, {0, 3, 4, 4}}) {
    add(shape, InputKind::kNormal, true, false);
    add(shape, InputKind::kNormal, true, true);
    add(shape, InputKind::kNormal, true, false, /*relu_input=*/true);
  }
  add({4, 3, 5, 5}, InputKind::kNonFinite, true, false);
  add({4, 3, 5, 5}, InputKind::kExtreme, true, false);
  // The max-pool after BN: non-finite values (a NaN wins its window), the
  // ReLU blocking whole windows, channels-last input, an empty batch.
  const size_t before_pool = cases.size();
  add({4, 3, 5, 5}, InputKind::kNonFinite, false, true);
  add({4, 3, 6, 7}, InputKind::kNormal, false, false, /*relu_input=*/true);
  add({4, 3, 5, 5}, InputKind::kNormal, true, true);
  add({0, 3, 4, 4}, InputKind::kNormal, false, true);
  for (size_t i = before_pool; i < cases.size(); ++i) cases[i].max_pool = true;
  return cases;
}

std::vector<EquivalenceCase> standard_cases() {
  const std::vector<std::vector<int64_t>> shapes = {{2, 3},    {7, 5},       {32, 16},     {2, 3, 1},   {5, 3, 7},
                                                    {4, 6, 9}, {2, 3, 5, 5}, {3, 4, 7, 5}, {2, 8, 1, 1}};
  const std::vector<std::optional<double>> momenta = {0.1, 0.5, std::nullopt};
  std::vector<EquivalenceCase> cases;
  int variant = 0;
  for (const auto& shape : shapes)
    for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64})
      for (const auto& momentum : momenta) {
        // Cycle the boolean switches across the grid, so every shape and
        // dtype meets each setting of each switch without a full product.
        EquivalenceCase c;
        c.shape = shape;
        c.dtype = dtype;
        c.momentum = momentum;
        c.affine = variant % 2 == 0;
        c.track_running_stats = variant % 3 != 2;
        c.training = variant % 4 != 3;
        c.non_contiguous = variant % 5 == 1;
        c.relu = variant % 7 < 2;
        c.relu_input = variant % 7 == 3 || variant % 7 == 4;
        c.max_pool = shape.size() == 4 && shape[2] >= 2 && variant % 3 != 1;
        c.steps = 3;
        cases.push_back(c);
        ++variant;
      }
  return cases;
}

std::vector<EquivalenceCase> random_cases(int count, uint64_t seed, std::optional<torch::Dtype> dtype) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const std::vector<std::optional<double>> momenta = {0.1, 0.5, 0.01, std::nullopt};
  std::vector<EquivalenceCase> cases;
  for (int i = 0; i < count; ++i) {
    EquivalenceCase c;
    const int64_t rank = pick(2, 4);
    c.shape = {pick(2, 32), pick(1, 24)};
    if (rank >= 3) c.shape.push_back(pick(1, 17));
    if (rank == 4) c.shape.push_back(pick(1, 13));
    c.dtype = dtype ? *dtype : (pick(0, 1) ? torch::kFloat64 : torch::kFloat32);
    c.momentum = momenta[pick(0, momenta.size() - 1)];
    c.affine = pick(0, 3) != 0;
    c.track_running_stats = pick(0, 3) != 0;
    c.training = pick(0, 2) != 0;
    c.non_contiguous = pick(0, 3) == 0;
    c.relu = pick(0, 3) == 0;
    c.relu_input = pick(0, 3) == 0;  // with relu too at times: ReLU-BN-ReLU
    c.steps = static_cast<int>(pick(1, 3));
    c.max_pool = rank == 4 && c.shape[2] >= 2 && c.shape[3] >= 2 && pick(0, 1) == 0;
    cases.push_back(c);
  }
  return cases;
}

std::vector<EquivalenceCase> ghost_cases(std::optional<torch::Dtype> dtype) {
  // (shape, V): V dividing N, remainders of several samples and of one
  // sample with H*W values per channel, V = 1 on images, and N <= V (one
  // virtual batch: plain BatchNorm).
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> table = {
      {{64, 16}, 16},     {{70, 8}, 16},     {{30, 6, 9}, 8}, {{12, 4, 5, 5}, 4},
      {{13, 4, 5, 5}, 4}, {{8, 3, 4, 4}, 1}, {{16, 8}, 32}};
  std::vector<EquivalenceCase> cases;
  int variant = 0;
  for (const auto& [shape, virtual_batch] : table)
    for (torch::Dtype type : dtypes_of(dtype)) {
      EquivalenceCase c;
      c.shape = shape;
      c.dtype = type;
      c.virtual_batch_size = virtual_batch;
      c.steps = 3;  // the running statistics compound over virtual batches and steps
      c.momentum = variant % 4 == 3 ? std::nullopt : std::optional<double>(0.1);
      c.affine = variant % 5 != 2;
      c.track_running_stats = variant % 6 != 4;
      c.training = variant % 3 != 2;  // else: eval after the training steps
      c.relu = variant % 4 == 1;
      c.relu_input = variant % 4 == 2;
      c.channels_last = shape.size() == 4 && variant % 2 == 0;
      c.non_contiguous = !c.channels_last && variant % 7 == 5;
      c.max_pool = shape.size() == 4 && shape[2] >= 2 && variant % 3 == 0;  // pooled per virtual batch, then joined
      cases.push_back(c);
      ++variant;
    }
  return cases;
}

std::vector<EquivalenceCase> verify_cases(int count, uint64_t seed, std::optional<torch::Dtype> dtype,
                                          const std::vector<Kernels>& kernels, const std::vector<Isa>& isas) {
  auto cases = random_cases(count, seed, dtype);
  // The numerically hard case always runs when float32 is in the table.
  if (!dtype || *dtype == torch::kFloat32) {
    cases.push_back(large_offset_case({64, 8}));
    cases.push_back(large_offset_case({16, 8, 10, 10}));
  }
  for (const auto& c : edge_cases())
    if (!dtype || c.dtype == *dtype) cases.push_back(c);
  return for_each_kernels(cases, kernels, isas);
}

std::vector<EquivalenceCase> renorm_cases(std::optional<torch::Dtype> dtype) {
  using bn::RenormOptions;
  // The reference's starting state is random (running_var in [0.5, 1.5),
  // running_mean ~ 0.2 N(0,1)), so with unit inputs r ~ 0.8-1.4 and
  // |d| ~ 0-0.5 per channel: rmax 1.1 / dmax 0.1 clip some channels and not
  // others, rmax 3 / dmax 5 none; offset inputs push d to its bound.
  const RenormOptions tight = RenormOptions().rmax(1.1).dmax(0.1);
  const RenormOptions loose = RenormOptions().rmax(3).dmax(5);
  const RenormOptions scheduled = RenormOptions().rmax(1.5).dmax(0.5).warmup_steps(2).rmax_steps(5).dmax_steps(4);
  const RenormOptions separate =
      RenormOptions().rmax(1.2).rmin(0.9).dmax(0.2).averages(bn::RenormAverages::kSeparate).momentum(0.3);
  const RenormOptions identity = RenormOptions().rmax(1).dmax(0);
  struct Row {
    std::vector<int64_t> shape;
    RenormOptions renorm;
    double offset;
  };
  const std::vector<Row> table = {
      {{32, 8}, tight, 0},         {{32, 8}, loose, 0},      {{16, 4, 6}, tight, 0.5},      {{8, 6, 5, 5}, tight, 0},
      {{8, 6, 5, 5}, separate, 0}, {{24, 5}, separate, 0.3}, {{12, 4, 4, 4}, scheduled, 0}, {{40, 6}, scheduled, 0.2},
      {{8, 6, 5, 5}, identity, 0}, {{32, 8}, identity, 0}};
  std::vector<EquivalenceCase> cases;
  int variant = 0;
  for (const auto& row : table)
    for (torch::Dtype type : dtypes_of(dtype)) {
      EquivalenceCase c;
      c.shape = row.shape;
      c.dtype = type;
      c.renorm = row.renorm;
      c.offset = row.offset;
      c.steps = row.renorm.warmup_steps() ? 7 : 4;  // the schedule crosses warmup and relaxation
      c.momentum = variant % 5 == 3 ? std::nullopt : std::optional<double>(0.1);
      c.affine = variant % 6 != 2;
      c.training = variant % 4 != 3;  // else: eval after the training steps
      c.relu = variant % 3 == 1;
      c.relu_input = variant % 3 == 2;
      c.channels_last = row.shape.size() == 4 && variant % 2 == 0;
      c.non_contiguous = !c.channels_last && variant % 7 == 5;
      c.max_pool = row.shape.size() == 4 && variant % 3 == 0;  // pooled outside the kernels: renorm has no pooled pass
      cases.push_back(c);
      ++variant;
    }
  return cases;
}

std::vector<EquivalenceCase> group_family_cases(NormFamily family, std::optional<torch::Dtype> dtype) {
  // (shape, groups): the MLP's Dense layers (128, 64, 100, 32, 16 features),
  // the CNN's conv outputs with 1-3 conv layers (32 or 64 channels at 26x26,
  // 11x11, 3x3) and its Dense layer, at batch 8 (the statistics are per
  // sample: N only repeats them); groups as auto gives them (16, 8, 10, 4,
  // 2 on Dense layers, 32 on conv layers) and explicit counts.
  struct Row {
    std::vector<int64_t> shape;
    int64_t groups;
  };
  const std::vector<Row> dense = {{{8, 128}, 16}, {{8, 64}, 8}, {{8, 100}, 10}, {{8, 32}, 4}, {{8, 16}, 2}};
  const std::vector<Row> conv = {
      {{8, 32, 26, 26}, 32}, {{8, 64, 11, 11}, 32}, {{8, 64, 3, 3}, 8}, {{8, 32, 26, 26}, 4}, {{6, 12, 20}, 3}};
  std::vector<Row> table = conv;
  if (family != NormFamily::kInstance) table.insert(table.end(), dense.begin(), dense.end());
  std::vector<EquivalenceCase> cases;
  int variant = 0;
  for (const auto& row : table)
    for (torch::Dtype type : dtypes_of(dtype)) {
      EquivalenceCase c;
      c.family = family;
      c.groups = row.groups;
      c.shape = row.shape;
      c.dtype = type;
      c.steps = 3;
      c.affine = variant % 5 != 2;
      c.channels_last = row.shape.size() == 4 && variant % 3 == 1;
      c.non_contiguous = !c.channels_last && variant % 4 == 3;
      c.offset = variant % 3 == 2 ? 2.0 : 0.0;
      cases.push_back(c);
      ++variant;
    }
  return cases;
}

}  // namespace bnlab::verify
