// The fused GroupNorm kernel set: the per-sample loops of this CPU's copy
// (fused_kernels_impl.h), samples split across threads.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <vector>

#include "core/cpu.h"
#include "gn/group_norm_kernels.h"

#define BNLAB_ISA_DECLARATIONS "gn/fused_kernels_isa.h"
#include "core/isa_copies.h"

namespace bnlab::gn::fused {
namespace {

// Samples per task: whole samples, enough values per task that a thread's
// start-up (~microseconds) is paid back.
int64_t grain(int64_t values_per_sample) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, values_per_sample));
}

template <typename T>
const T* data_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

std::pair<torch::Tensor, torch::Tensor> moments(const torch::Tensor& x3, int64_t G, double eps) {
  const int64_t N = x3.size(0), C = x3.size(1), S = x3.size(2), K = C / G * S;
  auto [mean, invstd] = empty_group_statistics(x3, G);  // (N, G) each
  double *m = mean.data_ptr<double>(), *r = invstd.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x3.scalar_type(), "gn_fused_moments", [&] {
    const scalar_t* x = x3.data_ptr<scalar_t>();
    auto* sample_moments = BNLAB_ISA_COPY(fused, sample_moments<scalar_t>);
    at::parallel_for(0, N, grain(C * S), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) sample_moments(x + n * C * S, G, K, eps, m + n * G, r + n * G);
    });
  });
  return {mean, invstd};
}

torch::Tensor normalize(const torch::Tensor& x3, const torch::Tensor& mean, const torch::Tensor& invstd,
                        const torch::Tensor& gamma, const torch::Tensor& beta) {
  const int64_t N = x3.size(0), C = x3.size(1), S = x3.size(2), G = mean.size(1);
  auto y3 = torch::empty_like(x3);
  const double *m = mean.data_ptr<double>(), *r = invstd.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x3.scalar_type(), "gn_fused_normalize", [&] {
    const scalar_t* x = x3.data_ptr<scalar_t>();
    scalar_t* y = y3.data_ptr<scalar_t>();
    const scalar_t *w = data_or_null<scalar_t>(gamma), *b = data_or_null<scalar_t>(beta);
    auto* sample_normalize = BNLAB_ISA_COPY(fused, sample_normalize<scalar_t>);
    at::parallel_for(0, N, grain(C * S), [&](int64_t n0, int64_t n1) {
      std::vector<scalar_t> work(2 * C);
      for (int64_t n = n0; n < n1; ++n)
        sample_normalize(x + n * C * S, y + n * C * S, G, C / G, S, m + n * G, r + n * G, w, b, work.data());
    });
  });
  return y3;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward(const torch::Tensor& dy3, const torch::Tensor& x3,
                                                                 const torch::Tensor& mean, const torch::Tensor& invstd,
                                                                 const torch::Tensor& gamma, bool need_dx,
                                                                 bool need_affine) {
  const int64_t N = x3.size(0), C = x3.size(1), S = x3.size(2), G = mean.size(1);
  auto dx3 = need_dx ? torch::empty_like(x3) : torch::Tensor();
  // dgamma and dbeta per task, summed over the tasks afterwards: threads
  // never share an accumulator, and the sum's order is the tasks' (not
  // their finishing order), so results do not depend on timing. Tasks start
  // at multiples of a chunk size of at least the grain, so n0 / grain
  // numbers them.
  const int64_t task_grain = grain(2 * C * S), tasks = (N + task_grain - 1) / task_grain;
  auto per_task = torch::zeros({tasks, 2, C}, x3.options().dtype(torch::kFloat64));
  double* partial = per_task.data_ptr<double>();
  const double *m = mean.data_ptr<double>(), *r = invstd.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x3.scalar_type(), "gn_fused_backward", [&] {
    const scalar_t *x = x3.data_ptr<scalar_t>(), *dy = dy3.data_ptr<scalar_t>();
    scalar_t* dx = need_dx ? dx3.data_ptr<scalar_t>() : nullptr;
    const scalar_t* w = data_or_null<scalar_t>(gamma);
    auto* sample_backward = BNLAB_ISA_COPY(fused, sample_backward<scalar_t>);
    at::parallel_for(0, N, task_grain, [&](int64_t n0, int64_t n1) {
      std::vector<scalar_t> work(2 * C);
      std::vector<double> work_d(2 * C);
      double* dgamma = partial + (n0 / task_grain) * 2 * C;  // (C), then dbeta (C)
      for (int64_t n = n0; n < n1; ++n)
        sample_backward(dy + n * C * S, x + n * C * S, dx ? dx + n * C * S : nullptr, G, C / G, S, m + n * G, r + n * G,
                        w, dgamma, dgamma + C, work.data(), work_d.data());
    });
  });
  if (!need_affine) return {dx3, torch::Tensor(), torch::Tensor()};
  const auto sums = per_task.sum(0);  // (2, C): over tasks, in float64
  return {dx3, sums[0], sums[1]};
}

}  // namespace

const GroupNormKernelSet& kernel_set() {
  static const GroupNormKernelSet set = {"fused", moments, normalize, backward};
  return set;
}

}  // namespace bnlab::gn::fused
