#include "bn/equivalence.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <random>

#include "bn/batch_norm.h"
#include "dist/group.h"

namespace bnlab::bn {
namespace {

using torch::Tensor;

// What one forward/backward step produced, from either implementation.
struct StepOutputs {
  Tensor y, dx, dweight, dbias, running_mean, running_var, num_batches_tracked;
};

// A BatchNorm module (ours or native) driven through identical steps.
class Runner {
 public:
  Runner(std::shared_ptr<torch::nn::Module> module, std::function<Tensor(const Tensor&)> forward)
      : module_(std::move(module)), forward_(std::move(forward)) {}

  torch::nn::Module& module() { return *module_; }

  // x_base is the step's input, or, for a non-contiguous case, a tensor whose
  // every other element along the last dimension is the input.
  StepOutputs step(const Tensor& x_base, bool non_contiguous, const Tensor& dy, bool train) {
    module_->train(train);
    auto leaf = x_base.detach().clone().requires_grad_(true);
    auto x = non_contiguous ? leaf.slice(-1, 0, c10::nullopt, 2) : leaf;
    auto y = forward_(x);

    std::vector<Tensor> inputs = {x};
    auto params = module_->named_parameters(/*recurse=*/false);
    if (params.contains("weight")) inputs.push_back(params["weight"]);
    if (params.contains("bias")) inputs.push_back(params["bias"]);
    auto grads = torch::autograd::grad({y}, inputs, {dy});

    StepOutputs out;
    out.y = y.detach();
    out.dx = grads[0];
    if (grads.size() > 1) out.dweight = grads[1];
    if (grads.size() > 2) out.dbias = grads[2];
    auto buffers = module_->named_buffers(/*recurse=*/false);
    if (buffers.contains("running_mean")) {
      out.running_mean = buffers["running_mean"].clone();
      out.running_var = buffers["running_var"].clone();
      out.num_batches_tracked = buffers["num_batches_tracked"].clone();
    }
    return out;
  }

  // Copies parameters and buffers by name from `source`, converting dtype.
  void copy_state_from(torch::nn::Module& source) {
    torch::NoGradGuard no_grad;
    auto params = module_->named_parameters(false);
    for (const auto& item : source.named_parameters(false)) params[item.key()].copy_(item.value());
    auto buffers = module_->named_buffers(false);
    for (const auto& item : source.named_buffers(false)) buffers[item.key()].copy_(item.value());
  }

 private:
  std::shared_ptr<torch::nn::Module> module_;
  std::function<Tensor(const Tensor&)> forward_;
};

template <typename NativeOptions>
NativeOptions native_options(const EquivalenceCase& c) {
  return NativeOptions(c.shape[1])
      .momentum(c.momentum ? c10::optional<double>(*c.momentum) : c10::nullopt)
      .affine(c.affine)
      .track_running_stats(c.track_running_stats);
}

Runner make_native(const EquivalenceCase& c, torch::Dtype dtype, std::string& name) {
  const bool relu = c.relu;
  auto then_relu = [relu](const Tensor& y) { return relu ? torch::relu(y) : y; };
  if (c.shape.size() == 4) {
    name = relu ? "torch::nn::BatchNorm2d + torch::relu" : "torch::nn::BatchNorm2d";
    torch::nn::BatchNorm2d bn(native_options<torch::nn::BatchNormOptions>(c));
    bn->to(dtype);
    return Runner(bn.ptr(), [bn, then_relu](const Tensor& x) mutable { return then_relu(bn(x)); });
  }
  name = relu ? "torch::nn::BatchNorm1d + torch::relu" : "torch::nn::BatchNorm1d";
  torch::nn::BatchNorm1d bn(native_options<torch::nn::BatchNormOptions>(c));
  bn->to(dtype);
  return Runner(bn.ptr(), [bn, then_relu](const Tensor& x) mutable { return then_relu(bn(x)); });
}

Runner make_ours(const EquivalenceCase& c, bool sync = false) {
  BatchNorm bn(BatchNormOptions(c.shape[1])
                   .momentum(c.momentum ? c10::optional<double>(*c.momentum) : c10::nullopt)
                   .affine(c.affine)
                   .track_running_stats(c.track_running_stats)
                   .kernels(c.kernels)
                   .sync(sync)
                   .relu(c.relu));
  bn->to(c.dtype);
  return Runner(bn.ptr(), [bn](const Tensor& x) mutable { return bn(x); });
}

// Non-default starting state, so that eval steps and the momentum update are
// exercised away from the trivial weight 1 / bias 0 / mean 0 / var 1.
void randomize_state(torch::nn::Module& module, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(false)) {
    auto& t = item.value();
    t.copy_(item.key() == "weight" ? 1 + 0.5 * torch::randn(t.sizes(), gen, t.options())
                                   : 0.5 * torch::randn(t.sizes(), gen, t.options()));
  }
  for (auto& item : module.named_buffers(false)) {
    auto& t = item.value();
    if (item.key() == "running_mean") t.copy_(0.2 * torch::randn(t.sizes(), gen, t.options()));
    if (item.key() == "running_var") t.copy_(0.5 + torch::rand(t.sizes(), gen, t.options()));
  }
}

Tensor make_input_base(const EquivalenceCase& c, at::Generator& gen) {
  auto shape = c.shape;
  if (c.non_contiguous) shape.back() *= 2;
  return c.offset + c.spread * torch::randn(shape, gen, torch::TensorOptions().dtype(c.dtype));
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Folds one step's comparison of `ours` against `native` into `into` (which
// keeps the maximum over steps).
void accumulate(QuantityError& into, const Tensor& ours, const Tensor& native) {
  if (!ours.defined() && !native.defined()) return;
  if (ours.defined() != native.defined()) {
    into.within_tolerance = false;
    into.max_abs = into.max_rel = std::numeric_limits<double>::infinity();
    return;
  }
  ++into.compared_steps;
  auto a = ours.to(torch::kFloat64), b = native.to(torch::kFloat64);
  auto diff = (a - b).abs();
  into.max_abs = std::max(into.max_abs, diff.max().item<double>());
  into.max_rel = std::max(into.max_rel, (diff / b.abs().clamp_min(1e-30)).max().item<double>());
  const auto bound = into.tolerance.atol + into.tolerance.rtol * b.abs();
  into.within_tolerance = into.within_tolerance && (diff <= bound).all().item<bool>();
}

// Folds the distances of ours and native to the float64 truth into `into`.
void accumulate_truth(QuantityError& into, const Tensor& ours, const Tensor& native,
                      const Tensor& truth) {
  if (!ours.defined() || !native.defined() || !truth.defined()) return;
  into.ours_vs_float64 = std::max(into.ours_vs_float64.value_or(0), max_abs_difference(ours, truth));
  into.native_vs_float64 =
      std::max(into.native_vs_float64.value_or(0), max_abs_difference(native, truth));
}

const std::vector<std::string> kQuantities = {"y",           "dx",          "dweight",
                                              "dbias",       "running_mean", "running_var",
                                              "num_batches_tracked"};

std::vector<Tensor StepOutputs::*> quantity_members() {
  return {&StepOutputs::y,           &StepOutputs::dx,          &StepOutputs::dweight,
          &StepOutputs::dbias,       &StepOutputs::running_mean, &StepOutputs::running_var,
          &StepOutputs::num_batches_tracked};
}

}  // namespace

std::string EquivalenceCase::describe() const {
  return fmt::format("{} ({}) {} momentum={} affine={} track={} {} steps={}{}{}{}",
                     kernels == Kernels::kFused ? "fused" : "ref", fmt::join(shape, ","),
                     dtype == torch::kFloat64 ? "f64" : "f32", momentum ? fmt::format("{}", *momentum) : "none",
                     affine ? 1 : 0, track_running_stats ? 1 : 0, training ? "train" : "eval", steps,
                     relu ? " +relu" : "", non_contiguous ? " non-contig" : "",
                     offset != 0 || spread != 1 ? fmt::format(" x~{}+{}*N(0,1)", offset, spread) : "");
}

Tolerance default_tolerance(torch::Dtype dtype) {
  // float32: values are O(1) after normalisation and both sides reduce over
  // at most a few thousand values per channel in different orders, so
  // differences of a few dozen ulps (eps = 1.2e-7) are expected; 1e-5 is
  // ~80 ulps relative, plus the same absolute slack for entries near zero.
  // float64: the same argument with eps = 2.2e-16 leaves ample room at 1e-10.
  return dtype == torch::kFloat64 ? Tolerance{1e-10, 1e-10} : Tolerance{1e-5, 1e-5};
}

bool CaseReport::pass() const {
  for (const auto& q : quantities)
    if (!q.pass) return false;
  return true;
}

const QuantityError* CaseReport::find(const std::string& name) const {
  for (const auto& q : quantities)
    if (q.name == name) return &q;
  return nullptr;
}

std::string CaseReport::failure_summary() const {
  std::string text;
  for (const auto& q : quantities)
    if (!q.pass)
      text += fmt::format(
          "{} {}: max abs {:.3g}, max rel {:.3g} (atol {:.1g}, rtol {:.1g}) vs {}{}\n",
          test_case.describe(), q.name, q.max_abs, q.max_rel, q.tolerance.atol, q.tolerance.rtol,
          reference,
          q.ours_vs_float64 ? fmt::format("; distance to float64 truth: ours {:.3g}, native {:.3g}",
                                          *q.ours_vs_float64, *q.native_vs_float64)
                            : "");
  return text;
}

CaseReport compare_with_native(const EquivalenceCase& c, uint64_t seed) {
  TORCH_CHECK(c.shape.size() >= 2 && c.shape.size() <= 4, "equivalence case: bad shape");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);

  CaseReport report{c, "", {}};
  Runner native = make_native(c, c.dtype, report.reference);
  randomize_state(native.module(), gen);
  Runner ours = make_ours(c);
  ours.copy_state_from(native.module());
  std::optional<Runner> truth;  // float32 cases: native BN in float64, same inputs and state
  if (c.dtype == torch::kFloat32) {
    std::string ignored;
    truth.emplace(make_native(c, torch::kFloat64, ignored));
    truth->copy_state_from(native.module());
  }

  const auto members = quantity_members();
  for (const auto& name : kQuantities) {
    QuantityError q;
    q.name = name;
    q.tolerance = default_tolerance(c.dtype);
    report.quantities.push_back(q);
  }

  const int total_steps = c.steps + (c.training ? 0 : 1);  // eval: train `steps`, then one eval step
  for (int step = 0; step < total_steps; ++step) {
    const bool train = c.training || step < c.steps;
    auto x_base = make_input_base(c, gen);
    auto dy = torch::randn(c.shape, gen, torch::TensorOptions().dtype(c.dtype));
    const StepOutputs from_native = native.step(x_base, c.non_contiguous, dy, train);
    const StepOutputs from_ours = ours.step(x_base, c.non_contiguous, dy, train);
    for (size_t q = 0; q < members.size(); ++q)
      accumulate(report.quantities[q], from_ours.*members[q], from_native.*members[q]);
    if (!truth) continue;
    const StepOutputs exact = truth->step(x_base.to(torch::kFloat64), c.non_contiguous,
                                          dy.to(torch::kFloat64), train);
    for (size_t q = 0; q < members.size(); ++q)
      accumulate_truth(report.quantities[q], from_ours.*members[q], from_native.*members[q],
                       exact.*members[q]);
  }

  for (auto& q : report.quantities)
    q.pass = q.within_tolerance ||
             (q.ours_vs_float64 && q.native_vs_float64 && *q.ours_vs_float64 <= *q.native_vs_float64);
  return report;
}

namespace {

// Over ranks: the largest error of each quantity, and whether every rank was
// within tolerance.
void reduce_over_ranks(std::vector<QuantityError>& quantities, const dist::Group& group) {
  std::vector<double> local;
  for (const auto& q : quantities)
    local.insert(local.end(), {q.max_abs, q.max_rel, q.within_tolerance ? 0.0 : 1.0, double(q.compared_steps)});
  const auto all = group.all_gather(torch::tensor(local, torch::kFloat64)).amax(0);  // (4 * quantities)
  for (size_t i = 0; i < quantities.size(); ++i) {
    auto& q = quantities[i];
    q.max_abs = all[4 * i].item<double>();
    q.max_rel = all[4 * i + 1].item<double>();
    q.within_tolerance = all[4 * i + 2].item<double>() == 0;
    q.compared_steps = int(all[4 * i + 3].item<double>());
    q.pass = q.within_tolerance;
  }
}

// A (N, *) tensor's rows of this rank's shard.
Tensor shard_rows(const Tensor& t, const dist::Shard& shard) { return t.slice(0, shard.begin, shard.end); }

}  // namespace

CaseReport compare_sync_with_single(const EquivalenceCase& c, uint64_t seed, const dist::Group& group) {
  TORCH_CHECK(c.shape.size() >= 2 && c.shape.size() <= 4, "sync equivalence case: bad shape");
  TORCH_CHECK(c.shape[0] >= group.size(), "sync equivalence case: batch ", c.shape[0], " is smaller than the ",
              group.size(), " ranks");
  // Every rank draws the same whole batch from the same seed, runs the
  // one-process BatchNorm on all of it, and sync BatchNorm on its rows.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  CaseReport report{c, "bnlab BatchNorm, one process, whole batch", {}};
  Runner single = make_ours(c);
  randomize_state(single.module(), gen);
  Runner synced = make_ours(c, /*sync=*/true);
  synced.copy_state_from(single.module());
  for (const auto& name : kQuantities) {
    QuantityError q;
    q.name = name;
    q.tolerance = default_tolerance(c.dtype);
    report.quantities.push_back(q);
  }
  const auto shard = dist::shard_of(c.shape[0], group.rank(), group.size());
  const auto members = quantity_members();
  const int total_steps = c.steps + (c.training ? 0 : 1);
  for (int step = 0; step < total_steps; ++step) {
    const bool train = c.training || step < c.steps;
    auto x_base = make_input_base(c, gen);
    auto dy = torch::randn(c.shape, gen, torch::TensorOptions().dtype(c.dtype));
    StepOutputs whole = single.step(x_base, c.non_contiguous, dy, train);
    StepOutputs mine = synced.step(shard_rows(x_base, shard), c.non_contiguous, shard_rows(dy, shard), train);
    whole.y = shard_rows(whole.y, shard);
    whole.dx = shard_rows(whole.dx, shard);
    // Parameter gradients are per-rank sums; training adds them over ranks.
    for (Tensor* grad : {&mine.dweight, &mine.dbias})
      if (grad->defined()) group.all_reduce_sum(*grad);
    for (size_t q = 0; q < members.size(); ++q) accumulate(report.quantities[q], mine.*members[q], whole.*members[q]);
  }
  reduce_over_ranks(report.quantities, group);
  return report;
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
      c.steps = 3;
      // In eval without running statistics each rank normalises its own
      // batch (as torch.nn.SyncBatchNorm does): nothing to compare there.
      if (!c.training) c.track_running_stats = true;
      cases.push_back(c);
      ++variant;
    }
  cases.push_back(large_offset_case({61, 8}));
  return cases;
}

std::vector<EquivalenceCase> for_each_kernels(const std::vector<EquivalenceCase>& cases,
                                              const std::vector<Kernels>& kernels) {
  std::vector<EquivalenceCase> out;
  for (Kernels k : kernels)
    for (auto c : cases) {
      c.kernels = k;
      out.push_back(c);
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

std::vector<EquivalenceCase> standard_cases() {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3}, {7, 5}, {32, 16}, {2, 3, 1}, {5, 3, 7}, {4, 6, 9}, {2, 3, 5, 5}, {3, 4, 7, 5}, {2, 8, 1, 1}};
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
        c.steps = 3;
        cases.push_back(c);
        ++variant;
      }
  return cases;
}

std::vector<EquivalenceCase> random_cases(int count, uint64_t seed, std::optional<torch::Dtype> dtype) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
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
    c.steps = static_cast<int>(pick(1, 3));
    cases.push_back(c);
  }
  return cases;
}

}  // namespace bnlab::bn
