#include "bn/fused_kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <stdexcept>
#include <vector>

#include "bn/kernels.h"
#include "core/cpu.h"
#include "bn/reference_kernels.h"

// The two compiled copies of fused_kernels_impl.h.
#define BNLAB_DECLARE_ISA(ISA)                                                                                    \
  namespace bnlab::bn::fused::ISA {                                                                              \
  template <typename T>                                                                                         \
  void moments(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, double*, double*, double*, double*, T*,  \
               T*);                                                                                              \
  template <typename T>                                                                                         \
  void normalize(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*,      \
                 const T*, const T*, T*, T*, T*);                                                                \
  template <typename T>                                                                                         \
  void grad_sums(const T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*, \
                 double*, double*, T*, T*, T*);                                                                  \
  template <typename T>                                                                                         \
  void backward_batch_stats(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, \
                            const double*, const T*, const double*, const double*, double, T*, T*, T*, T*);      \
  template <typename T>                                                                                         \
  void backward_fixed_stats(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const T*, \
                            T*);                                                                                 \
  }
BNLAB_DECLARE_ISA(avx2)
BNLAB_DECLARE_ISA(portable)
#undef BNLAB_DECLARE_ISA

namespace bnlab::bn::fused {
namespace {

struct Shape {
  int64_t N, C, S;
  explicit Shape(const torch::Tensor& x) : N(x.size(0)), C(x.size(1)), S(x.size(2)) {}
};

// Channels are independent: split them across threads, each chunk large
// enough (~64k values) that dispatching it pays off; small layers stay serial.
template <typename Body>
void over_channels(const Shape& shape, Body&& body) {
  constexpr int64_t kValuesPerTask = 1 << 16;
  const int64_t grain = std::max<int64_t>(1, kValuesPerTask / std::max<int64_t>(1, shape.N * shape.S));
  at::parallel_for(0, shape.C, grain, body);
}

torch::Tensor per_channel(const Shape& shape, const torch::Tensor& like, torch::ScalarType type) {
  return torch::empty({shape.C}, like.options().dtype(type));
}

// Per-channel coefficients the kernels compute before their element loops.
// A buffer reused by the calling thread rather than a tensor per call: for
// small layers an allocation costs as much as the arithmetic. One call at a
// time uses it (the kernels do not nest); worker threads of parallel_for
// write disjoint channel ranges of it.
template <typename T>
T* scratch(int64_t count) {
  thread_local std::vector<double> buffer;
  const size_t doubles = (size_t(count) * sizeof(T) + sizeof(double) - 1) / sizeof(double);
  if (buffer.size() < doubles) buffer.resize(doubles);
  return reinterpret_cast<T*>(buffer.data());
}

template <typename T>
const T* data_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

void check_contiguous(const torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous() && t.dim() == 3, "fused BatchNorm kernels take contiguous (N,C,S) tensors, got ",
              t.sizes(), t.is_contiguous() ? "" : " (non-contiguous)");
}

// Calls the AVX2 or the portable copy of a kernel.
#define BNLAB_FUSED_CALL(kernel, T, ...) \
  (cpu_has_avx2_fma() ? avx2::kernel<T>(__VA_ARGS__) : portable::kernel<T>(__VA_ARGS__))

}  // namespace

std::pair<torch::Tensor, torch::Tensor> batch_moments(const torch::Tensor& x) {
  check_contiguous(x);
  const Shape s(x);
  auto mean = per_channel(s, x, torch::kFloat64), var = per_channel(s, x, torch::kFloat64);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_fused_moments", [&] {
    // 2C doubles of totals, then 2C values of run sums.
    double* totals = scratch<double>(4 * s.C);
    scalar_t* runs = reinterpret_cast<scalar_t*>(totals + 2 * s.C);
    over_channels(s, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(moments, scalar_t, x.data_ptr<scalar_t>(), s.N, s.C, s.S, c0, c1, mean.data_ptr<double>(),
                       var.data_ptr<double>(), totals, totals + s.C, runs, runs + s.C);
    });
  });
  return {mean, var};
}

torch::Tensor normalize_forward(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
                                const torch::Tensor& gamma, const torch::Tensor& beta) {
  check_contiguous(x);
  const Shape s(x);
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_fused_normalize", [&] {
    scalar_t* sc = scratch<scalar_t>(3 * s.C);
    over_channels(s, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(normalize, scalar_t, x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), s.N, s.C, s.S, c0, c1,
                       mean.data_ptr<double>(), invstd.data_ptr<double>(), data_or_null<scalar_t>(gamma),
                       data_or_null<scalar_t>(beta), sc, sc + s.C, sc + 2 * s.C);
    });
  });
  return y;
}

std::pair<torch::Tensor, torch::Tensor> grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean, const torch::Tensor& invstd) {
  check_contiguous(x);
  check_contiguous(dy);
  const Shape s(x);
  auto sum_dy = per_channel(s, x, torch::kFloat64), sum_dy_xhat = per_channel(s, x, torch::kFloat64);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_fused_grad_sums", [&] {
    scalar_t* sc = scratch<scalar_t>(3 * s.C);
    over_channels(s, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(grad_sums, scalar_t, dy.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), s.N, s.C, s.S, c0, c1,
                       mean.data_ptr<double>(), invstd.data_ptr<double>(), sum_dy.data_ptr<double>(),
                       sum_dy_xhat.data_ptr<double>(), sc, sc + s.C, sc + 2 * s.C);
    });
  });
  return {sum_dy, sum_dy_xhat};
}

torch::Tensor normalize_backward_batch_stats(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean,
                                             const torch::Tensor& invstd, const torch::Tensor& gamma,
                                             const torch::Tensor& sum_dy, const torch::Tensor& sum_dy_xhat,
                                             int64_t count) {
  check_contiguous(x);
  check_contiguous(dy);
  const Shape s(x);
  auto dx = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_fused_backward", [&] {
    scalar_t* sc = scratch<scalar_t>(4 * s.C);
    over_channels(s, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(backward_batch_stats, scalar_t, dy.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                       dx.data_ptr<scalar_t>(), s.N, s.C, s.S, c0, c1, mean.data_ptr<double>(),
                       invstd.data_ptr<double>(), data_or_null<scalar_t>(gamma), sum_dy.data_ptr<double>(),
                       sum_dy_xhat.data_ptr<double>(), double(count), sc, sc + s.C, sc + 2 * s.C, sc + 3 * s.C);
    });
  });
  return dx;
}

torch::Tensor normalize_backward_fixed_stats(const torch::Tensor& dy, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma) {
  check_contiguous(dy);
  const Shape s(dy);
  auto dx = torch::empty_like(dy);
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "bnlab_fused_backward_fixed", [&] {
    scalar_t* sc = scratch<scalar_t>(s.C);
    over_channels(s, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(backward_fixed_stats, scalar_t, dy.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), s.N, s.C,
                       s.S, c0, c1, invstd.data_ptr<double>(), data_or_null<scalar_t>(gamma), sc);
    });
  });
  return dx;
}

}  // namespace bnlab::bn::fused

namespace bnlab::bn {

const KernelSet& kernel_set(Kernels which) {
  static const KernelSet reference_set = {
      "reference", reference::batch_moments, reference::normalize_forward, reference::grad_sums,
      reference::normalize_backward_batch_stats, reference::normalize_backward_fixed_stats};
  static const KernelSet fused_set = {"fused", fused::batch_moments, fused::normalize_forward, fused::grad_sums,
                                      fused::normalize_backward_batch_stats, fused::normalize_backward_fixed_stats};
  return which == Kernels::kFused ? fused_set : reference_set;
}

Kernels parse_kernels(const std::string& name) {
  if (name == "reference") return Kernels::kReference;
  if (name == "fused") return Kernels::kFused;
  throw std::invalid_argument("unknown BatchNorm kernels '" + name + "' (reference, fused)");
}

const char* to_string(Kernels which) { return which == Kernels::kFused ? "fused" : "reference"; }

const char* fused_isa() { return cpu_has_avx2_fma() ? "avx2" : "portable"; }

}  // namespace bnlab::bn
