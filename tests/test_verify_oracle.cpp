// The equivalence harness (src/verify) is the oracle behind the suite and
// `bnlab verify`. An oracle is only trusted once it has been seen to fail:
// here it is handed BatchNorms built from tensor ops, one correct and two
// with a deliberate fault each, and must pass the first and name the fault
// of the others.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "verify/equivalence.h"

using bnlab::verify::Candidate;
using bnlab::verify::CaseReport;
using bnlab::verify::EquivalenceCase;
using torch::Tensor;

namespace {

enum class Fault {
  kNone,
  kDetachedMean,      // dx misses the term through the batch mean: -gamma*invstd*mean(dy)
  kBiasedRunningVar,  // running_var takes the biased batch variance (no n/(n-1))
  kFiniteRunningVar,  // running_var drops NaN and Inf of the batch (what the fused kernels once did)
  kContiguousOutput,  // y comes back NCHW-contiguous for channels-last input
  kAveragePool,       // the case's max-pool taken as an average
};

// BatchNorm in tensor ops with autograd, parameters and buffers named as native's.
class TensorOpBatchNormImpl : public torch::nn::Module {
 public:
  TensorOpBatchNormImpl(int64_t channels, double momentum, Fault fault, bool max_pool)
      : momentum_(momentum), fault_(fault), max_pool_(max_pool) {
    weight = register_parameter("weight", torch::ones({channels}));
    bias = register_parameter("bias", torch::zeros({channels}));
    running_mean = register_buffer("running_mean", torch::zeros({channels}));
    running_var = register_buffer("running_var", torch::ones({channels}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kInt64));
  }

  Tensor forward(const Tensor& x) {
    std::vector<int64_t> dims = {0}, shape(x.dim(), 1);
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    shape[1] = x.size(1);
    Tensor mean, var;
    if (is_training()) {
      mean = x.mean(dims);
      var = (x - mean.view(shape)).pow(2).mean(dims);  // biased
      update_running(mean, var, x.numel() / x.size(1));
      if (fault_ == Fault::kDetachedMean) mean = mean.detach();
    } else {
      mean = running_mean;
      var = running_var;
    }
    const auto xhat = (x - mean.view(shape)) / (var.view(shape) + kEps).sqrt();
    const auto y = xhat * weight.view(shape) + bias.view(shape);
    if (max_pool_) return fault_ == Fault::kAveragePool ? torch::avg_pool2d(y, {2, 2}) : torch::max_pool2d(y, {2, 2});
    return fault_ == Fault::kContiguousOutput ? y.contiguous() : y;
  }

  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  static constexpr double kEps = 1e-5;  // BatchNorm's default, as the harness's native BN has

  void update_running(const Tensor& mean, const Tensor& var, int64_t count) {
    torch::NoGradGuard no_grad;
    const double correction = fault_ == Fault::kBiasedRunningVar ? 1.0 : double(count) / double(count - 1);
    running_mean.mul_(1 - momentum_).add_(momentum_ * mean);
    const auto batch_var = fault_ == Fault::kFiniteRunningVar ? var.nan_to_num(0, 0, 0) : var;
    running_var.mul_(1 - momentum_).add_(momentum_ * correction * batch_var);
    num_batches_tracked.add_(1);
  }

  double momentum_;
  Fault fault_;
  bool max_pool_;
};
TORCH_MODULE(TensorOpBatchNorm);

bnlab::verify::CandidateFactory candidate(Fault fault) {
  return [fault](const EquivalenceCase& c) {
    TensorOpBatchNorm layer(c.shape[1], *c.momentum, fault, c.max_pool);
    layer->to(c.dtype);
    return Candidate{layer.ptr(), [layer](const Tensor& x) mutable { return layer(x); }};
  };
}

std::vector<std::string> failing(const CaseReport& report) {
  std::vector<std::string> names;
  for (const auto& q : report.quantities)
    if (!q.pass) names.push_back(q.name);
  return names;
}

}  // namespace

TEST_CASE("the equivalence harness fails deliberately broken BatchNorms, naming what is wrong", "[bn][oracle]") {
  EquivalenceCase c;
  c.shape = GENERATE(std::vector<int64_t>{16, 5}, std::vector<int64_t>{6, 3, 4, 4});
  c.dtype = torch::kFloat64;  // float64 tolerance 1e-10: a fault is many orders of magnitude above it
  c.steps = 3;
  CAPTURE(c.describe());

  SECTION("a correct BatchNorm in tensor ops passes: the faults below are what fails") {
    const auto report = bnlab::verify::compare_with_native(c, 5, candidate(Fault::kNone));
    CHECK(failing(report).empty());
    CHECK(report.pass());
  }
  SECTION("a dx without the batch mean's term fails on dx alone") {
    const auto report = bnlab::verify::compare_with_native(c, 5, candidate(Fault::kDetachedMean));
    CHECK_FALSE(report.pass());
    CHECK(failing(report) == std::vector<std::string>{"dx"});
    CHECK(report.find("dx")->max_abs > 1e-3);
  }
  SECTION("a running variance without Bessel's correction fails on running_var alone") {
    const auto report = bnlab::verify::compare_with_native(c, 5, candidate(Fault::kBiasedRunningVar));
    CHECK_FALSE(report.pass());
    CHECK(failing(report) == std::vector<std::string>{"running_var"});
    CHECK_THAT(report.failure_summary(), Catch::Matchers::Contains("running_var"));
  }
}

TEST_CASE("the equivalence harness fails a BatchNorm that hides NaN or loses the memory format", "[bn][oracle]") {
  EquivalenceCase c;
  c.dtype = torch::kFloat64;
  c.steps = 2;
  SECTION("NaN and Inf inputs: the correct one passes, a finite running_var fails") {
    c.shape = {16, 5};
    c.input = bnlab::verify::InputKind::kNonFinite;
    CHECK(bnlab::verify::compare_with_native(c, 5, candidate(Fault::kNone)).pass());
    const auto report = bnlab::verify::compare_with_native(c, 5, candidate(Fault::kFiniteRunningVar));
    CHECK(failing(report) == std::vector<std::string>{"running_var"});
  }
  SECTION("channels-last input: the correct one passes, an NCHW-contiguous output fails") {
    c.shape = {6, 3, 4, 4};
    c.channels_last = true;
    CHECK(bnlab::verify::compare_with_native(c, 5, candidate(Fault::kNone)).pass());
    const auto report = bnlab::verify::compare_with_native(c, 5, candidate(Fault::kContiguousOutput));
    CHECK(failing(report) == std::vector<std::string>{"y_channels_last"});
  }
}

TEST_CASE("the equivalence harness compares the max-pool after BatchNorm", "[bn][oracle][pool]") {
  EquivalenceCase c;
  c.shape = {6, 3, 6, 5};
  c.dtype = torch::kFloat64;
  c.steps = 2;
  c.max_pool = true;
  CHECK(bnlab::verify::compare_with_native(c, 5, candidate(Fault::kNone)).pass());
  const auto report = bnlab::verify::compare_with_native(c, 5, candidate(Fault::kAveragePool));
  // dbias = the sum of BN's output gradient, which either pool's backward
  // preserves (all of each window's gradient, to one value or spread over four).
  CHECK(failing(report) == std::vector<std::string>{"y", "dx", "dweight"});
}
