#include "bn/fused_kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <stdexcept>
#include <vector>

#include "bn/kernels.h"
#include "core/cpu.h"

// The compiled copies of fused_kernels_impl.h.
#define BNLAB_ISA_DECLARATIONS "bn/fused_kernels_isa.h"
#include "core/isa_copies.h"

namespace bnlab::bn::fused {
namespace {

using Shape = NcsShape;

// Channels are independent: split them across threads, each chunk large
// enough (~64k values) that dispatching it pays off; small layers stay serial.
template <typename Body>
void over_channels(const Shape& shape, Body&& body) {
  constexpr int64_t kValuesPerTask = 1 << 16;
  const int64_t grain = std::max<int64_t>(1, kValuesPerTask / std::max<int64_t>(1, shape.N * shape.S));
  at::parallel_for(0, shape.C, grain, body);
}

// Runs body(c0, c1) over [r0, r1) in blocks of `block` channels.
template <typename Body>
void in_channel_blocks(int64_t r0, int64_t r1, int64_t block, Body&& body) {
  for (int64_t c0 = r0; c0 < r1; c0 += block) body(c0, std::min(c0 + block, r1));
}

torch::Tensor per_channel(const Shape& shape, const torch::Tensor& like, torch::ScalarType type) {
  return torch::empty({shape.C}, like.options().dtype(type));
}

// The kernels' working memory (see fused_kernels_isa.h): 3C doubles and 4C
// values of T, and 2C doubles (sums) for an entry point's own per-channel
// results, in a buffer reused by the calling thread rather than a tensor per
// call (for small layers an allocation costs as much as the arithmetic). One
// call at a time uses it (the kernels do not nest); worker threads of
// parallel_for touch disjoint channel ranges of it.
template <typename T>
struct Workspace {
  double* d;
  double* sums;
  T* t;
  explicit Workspace(int64_t C) {
    thread_local std::vector<double> buffer;
    const size_t doubles = size_t(5 * C) + (size_t(4 * C) * sizeof(T) + sizeof(double) - 1) / sizeof(double);
    if (buffer.size() < doubles) buffer.resize(doubles);
    d = buffer.data();
    sums = buffer.data() + 3 * C;
    t = reinterpret_cast<T*>(buffer.data() + 5 * C);
  }
};

// Runs body(T{}, work, c0, c1) over the channel ranges of x's shape, T being
// x's dtype and work the kernels' working memory: the frame of every entry
// point below.
template <typename Body>
void for_channel_ranges(const torch::Tensor& x, const Shape& s, const Body& body) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_fused_kernels", [&] {
    const Workspace<scalar_t> work(s.C);
    over_channels(s, [&](int64_t c0, int64_t c1) { body(scalar_t{}, work, c0, c1); });
  });
}

// Whole-layer kernels write y / dx with non-temporal stores when the layer
// is too large for its output to be read back from cache anyway: then the
// stores skip a read of every output line and do not evict the inputs the
// pass is still reading.
//
// y: when x, y and their gradients (4x) exceed the L3 the OS reports. Below
// that the next layer (a max-pool, a convolution) reads y right away, from
// cache if it was written plainly: Intel Xeon family 6 model 207 (L3 260
// MiB), keras-cnn at batch 128 (11 MB per tensor), our BN with y streamed
// 16.4 ms/step, written plainly 15.0-15.8 (two alternating runs; BN alone,
// without a reader of y, got slower, bench bn (256,32,26,26) 0.42 -> 0.47
// of native, and bench bn is not what a user runs). Above it, AMD EPYC
// family 25 model 1 (L3 32 MiB), the same model and batch: y streamed
// 1.01 / 1.03 / 0.99x the step without BN, written plainly 1.13 / 1.04 /
// 1.07x (three alternating runs, docs/performance.md).
bool streams_y(const torch::Tensor& x) { return 4 * x.numel() * int64_t(x.element_size()) > l3_cache_bytes(); }

// dx (streams_dx below): x's bytes times the tensors its dx pass reads and
// writes (pass_tensors: x, dy and dx; x, dx and the quarter-sized pooled dy).
bool streams_dx_of(const torch::Tensor& x, double pass_tensors, bool dx_read_next) {
  const int64_t bytes = x.numel() * int64_t(x.element_size());
  return streams_dx(bytes, int64_t(pass_tensors * double(bytes)), dx_read_next, l3_cache_bytes());
}

template <typename T>
const T* data_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// A bool tensor's storage as the kernels' mask bytes (0 or 1), or null.
uint8_t* mask_bytes(const torch::Tensor& mask) {
  return mask.defined() ? reinterpret_cast<uint8_t*>(mask.data_ptr<bool>()) : nullptr;
}

void check_contiguous(const torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous() && t.dim() >= 2, "fused BatchNorm kernels take contiguous (N,C,*) tensors, got ",
              t.sizes(), t.is_contiguous() ? "" : " (non-contiguous)");
}

void check_poolable(const torch::Tensor& x) {
  check_contiguous(x);
  TORCH_CHECK(x.dim() == 4 && x.size(2) >= 2 && x.size(3) >= 2,
              "fused BatchNorm kernels with max-pool take (N,C,H,W) tensors with H and W >= 2, got ", x.sizes());
}

// (N,C,H/2,W/2): a 2x2 max-pool's output for x (N,C,H,W).
std::vector<int64_t> pooled_size_of(const torch::Tensor& x) {
  return {x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2};
}

// H*W values of T for the pooled kernels' plane, the calling thread's own
// (kept between calls, as Workspace's buffer).
template <typename T>
T* plane_buffer(int64_t S) {
  thread_local std::vector<double> buffer;
  const size_t doubles = (size_t(S) * sizeof(T) + sizeof(double) - 1) / sizeof(double);
  if (buffer.size() < doubles) buffer.resize(doubles);
  return reinterpret_cast<T*>(buffer.data());
}

// One block of channels of a backward whole-layer kernel: [c0, c1) and
// where its per-channel sums go, in double.
struct Block {
  int64_t c0, c1;
  double *sum_dy, *sum_dy_xhat;
};

// Runs kernel(T{}, work, Block) over x's channels in blocks sized for the
// L2 (channels_per_block, `reread` tensors the size of x read twice), and returns
// the sums the kernel wrote, as (C) tensors in x's dtype: what backward
// returns as dbeta and dgamma, so that a small layer pays for no further
// tensors (~0.5 us each).
template <typename Kernel>
std::pair<torch::Tensor, torch::Tensor> gradient_sums_in_blocks(const torch::Tensor& x, const Shape& s, int64_t reread,
                                                                const Kernel& kernel) {
  auto sum_dy = per_channel(s, x, x.scalar_type()), sum_dy_xhat = per_channel(s, x, x.scalar_type());
  const int64_t block = channels_per_block(s.N, s.C, s.S, x.element_size(), reread, l2_cache_bytes() / 4);
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t r0, int64_t r1) {
    using T = decltype(type);
    double *sum_dy_d = work.sums, *sum_dy_xhat_d = work.sums + s.C;  // (C) the kernels' sums, in double
    in_channel_blocks(r0, r1, block, [&](int64_t c0, int64_t c1) {
      kernel(type, work, Block{c0, c1, sum_dy_d, sum_dy_xhat_d});
    });
    T *out_dy = sum_dy.data_ptr<T>(), *out_dy_xhat = sum_dy_xhat.data_ptr<T>();
    for (int64_t c = r0; c < r1; ++c) {
      out_dy[c] = T(sum_dy_d[c]);
      out_dy_xhat[c] = T(sum_dy_xhat_d[c]);
    }
  });
  return {sum_dy, sum_dy_xhat};
}

// Calls the AVX2 or the portable copy of a kernel.
#define BNLAB_FUSED_CALL(kernel, T, ...) BNLAB_ISA_COPY(bnlab::bn::fused, kernel<T>)(__VA_ARGS__)

}  // namespace

std::pair<torch::Tensor, torch::Tensor> batch_moments(const torch::Tensor& x) {
  check_contiguous(x);
  const Shape s(x);
  auto mean = per_channel(s, x, torch::kFloat64), var = per_channel(s, x, torch::kFloat64);
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t c0, int64_t c1) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(moments, T, x.data_ptr<T>(), s.N, s.C, s.S, c0, c1, mean.data_ptr<double>(),
                     var.data_ptr<double>(), work.d, work.t);
  });
  return {mean, var};
}

torch::Tensor normalize_forward(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
                                const torch::Tensor& gamma, const torch::Tensor& beta) {
  check_contiguous(x);
  const Shape s(x);
  auto y = torch::empty_like(x);
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t c0, int64_t c1) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(normalize, T, x.data_ptr<T>(), y.data_ptr<T>(), s.N, s.C, s.S, c0, c1, mean.data_ptr<double>(),
                     invstd.data_ptr<double>(), data_or_null<T>(gamma), data_or_null<T>(beta), work.d, work.t);
  });
  return y;
}

BatchStatsForward forward_batch_stats(const torch::Tensor& x, const torch::Tensor& gamma, const torch::Tensor& beta,
                                      double eps, bool relu, bool relu_input) {
  check_contiguous(x);
  const Shape s(x);
  BatchStatsForward out{torch::empty_like(x), per_channel(s, x, torch::kFloat64), per_channel(s, x, torch::kFloat64),
                        relu ? torch::empty_like(x, x.options().dtype(torch::kBool)) : torch::Tensor(),
                        torch::Tensor()};
  const int64_t block = channels_per_block(s.N, s.C, s.S, x.element_size(), 1, l2_cache_bytes() / 4);
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t r0, int64_t r1) {
    using T = decltype(type);
    in_channel_blocks(r0, r1, block, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(forward_batch_stats, T, x.data_ptr<T>(), out.y.data_ptr<T>(), s.N, s.C, s.S, c0, c1, eps,
                       data_or_null<T>(gamma), data_or_null<T>(beta), out.mean.data_ptr<double>(),
                       out.var.data_ptr<double>(), streams_y(x), mask_bytes(out.relu_mask), relu_input, work.d, work.t);
    });
  });
  return out;
}

std::pair<torch::Tensor, torch::Tensor> grad_sums(const torch::Tensor& dy, const torch::Tensor& x,
                                                  const torch::Tensor& mean, const torch::Tensor& invstd) {
  check_contiguous(x);
  check_contiguous(dy);
  const Shape s(x);
  auto sum_dy = per_channel(s, x, torch::kFloat64), sum_dy_xhat = per_channel(s, x, torch::kFloat64);
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t c0, int64_t c1) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(grad_sums, T, dy.data_ptr<T>(), x.data_ptr<T>(), s.N, s.C, s.S, c0, c1, mean.data_ptr<double>(),
                     invstd.data_ptr<double>(), sum_dy.data_ptr<double>(), sum_dy_xhat.data_ptr<double>(), work.d,
                     work.t);
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
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t c0, int64_t c1) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(backward_batch_stats, T, dy.data_ptr<T>(), x.data_ptr<T>(), dx.data_ptr<T>(), s.N, s.C, s.S, c0,
                     c1, mean.data_ptr<double>(), invstd.data_ptr<double>(), data_or_null<T>(gamma),
                     sum_dy.data_ptr<double>(), sum_dy_xhat.data_ptr<double>(), double(count), work.d, work.t);
  });
  return dx;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward_with_batch_stats(
    const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& invstd,
    const torch::Tensor& gamma, const torch::Tensor& relu_mask, bool relu_input, bool dx_read_next) {
  check_contiguous(x);
  check_contiguous(dy);
  if (relu_mask.defined()) {
    check_contiguous(relu_mask);
    TORCH_CHECK(relu_mask.sizes() == x.sizes() && relu_mask.scalar_type() == torch::kBool,
                "fused BatchNorm kernels: the ReLU mask must be a bool tensor shaped like x ", x.sizes(), ", got ",
                relu_mask.sizes(), " ", relu_mask.scalar_type());
  }
  const Shape s(x);
  auto dx = torch::empty_like(x);
  // Read twice: dy and x.
  auto [sum_dy, sum_dy_xhat] = gradient_sums_in_blocks(x, s, 2, [&](auto type, const auto& work, Block b) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(backward_with_batch_stats, T, dy.data_ptr<T>(), x.data_ptr<T>(), dx.data_ptr<T>(), s.N, s.C, s.S,
                     b.c0, b.c1, mean.data_ptr<double>(), invstd.data_ptr<double>(), data_or_null<T>(gamma), b.sum_dy,
                     b.sum_dy_xhat, streams_dx_of(x, 3, dx_read_next), mask_bytes(relu_mask), relu_input, work.d,
                     work.t);
  });
  return {dx, sum_dy, sum_dy_xhat};
}

BatchStatsForward forward_batch_stats_pooled(const torch::Tensor& x, const torch::Tensor& gamma,
                                             const torch::Tensor& beta, double eps, bool relu, bool relu_input) {
  check_poolable(x);
  const Shape s(x);
  const int64_t H = x.size(2), W = x.size(3);
  const auto pooled_size = pooled_size_of(x);
  BatchStatsForward out{torch::empty(pooled_size, x.options()), per_channel(s, x, torch::kFloat64),
                        per_channel(s, x, torch::kFloat64), torch::Tensor(),
                        torch::empty(pooled_size, x.options().dtype(torch::kUInt8))};
  const int64_t block = channels_per_block(s.N, s.C, s.S, x.element_size(), 1, l2_cache_bytes() / 4);
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t r0, int64_t r1) {
    using T = decltype(type);
    T* plane = plane_buffer<T>(s.S);
    in_channel_blocks(r0, r1, block, [&](int64_t c0, int64_t c1) {
      BNLAB_FUSED_CALL(forward_batch_stats_pooled, T, x.data_ptr<T>(), out.y.data_ptr<T>(),
                       out.winner.data_ptr<uint8_t>(), s.N, s.C, H, W, c0, c1, eps, data_or_null<T>(gamma),
                       data_or_null<T>(beta), out.mean.data_ptr<double>(), out.var.data_ptr<double>(), relu, relu_input,
                       plane, work.d, work.t);
    });
  });
  return out;
}

std::pair<torch::Tensor, torch::Tensor> forward_fixed_stats_pooled(const torch::Tensor& x, const torch::Tensor& mean,
                                                                   const torch::Tensor& invstd,
                                                                   const torch::Tensor& gamma,
                                                                   const torch::Tensor& beta, bool relu,
                                                                   bool relu_input) {
  check_poolable(x);
  const Shape s(x);
  const auto pooled_size = pooled_size_of(x);
  auto y = torch::empty(pooled_size, x.options()), winner = torch::empty(pooled_size, x.options().dtype(torch::kUInt8));
  for_channel_ranges(x, s, [&](auto type, const auto& work, int64_t c0, int64_t c1) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(forward_fixed_stats_pooled, T, x.data_ptr<T>(), y.data_ptr<T>(), winner.data_ptr<uint8_t>(), s.N,
                     s.C, x.size(2), x.size(3), c0, c1, mean.data_ptr<double>(), invstd.data_ptr<double>(),
                     data_or_null<T>(gamma), data_or_null<T>(beta), relu, relu_input, plane_buffer<T>(s.S), work.t);
  });
  return {y, winner};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward_with_batch_stats_pooled(
    const torch::Tensor& dy, const torch::Tensor& winner, const torch::Tensor& x, const torch::Tensor& mean,
    const torch::Tensor& invstd, const torch::Tensor& gamma, bool relu_input, bool dx_read_next) {
  check_poolable(x);
  const Shape s(x);
  const int64_t H = x.size(2), W = x.size(3);
  const auto pooled_size = pooled_size_of(x);
  TORCH_CHECK(dy.sizes() == pooled_size && winner.sizes() == pooled_size && dy.is_contiguous() &&
                  winner.is_contiguous() && winner.scalar_type() == torch::kUInt8,
              "fused BatchNorm kernels with max-pool: expected a contiguous gradient and uint8 winners of shape ",
              at::IntArrayRef(pooled_size), " for x ", x.sizes(), ", got ", dy.sizes(), " and ", winner.sizes(), " ",
              winner.scalar_type());
  auto dx = torch::empty_like(x);
  // Read twice: x (dy is a quarter of its size, the winners a sixteenth).
  auto [sum_dy, sum_dy_xhat] = gradient_sums_in_blocks(x, s, 1, [&](auto type, const auto& work, Block b) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(backward_with_batch_stats_pooled, T, dy.data_ptr<T>(), winner.data_ptr<uint8_t>(), x.data_ptr<T>(),
                     dx.data_ptr<T>(), s.N, s.C, H, W, b.c0, b.c1, mean.data_ptr<double>(), invstd.data_ptr<double>(),
                     data_or_null<T>(gamma), b.sum_dy, b.sum_dy_xhat, streams_dx_of(x, 2.25, dx_read_next), relu_input,
                     plane_buffer<T>(s.S), work.d, work.t);
  });
  return {dx, sum_dy, sum_dy_xhat};
}

torch::Tensor normalize_backward_fixed_stats(const torch::Tensor& dy, const torch::Tensor& invstd,
                                             const torch::Tensor& gamma) {
  check_contiguous(dy);
  const Shape s(dy);
  auto dx = torch::empty_like(dy);
  for_channel_ranges(dy, s, [&](auto type, const auto& work, int64_t c0, int64_t c1) {
    using T = decltype(type);
    BNLAB_FUSED_CALL(backward_fixed_stats, T, dy.data_ptr<T>(), dx.data_ptr<T>(), s.N, s.C, s.S, c0, c1,
                     invstd.data_ptr<double>(), data_or_null<T>(gamma), work.d, work.t);
  });
  return dx;
}

// dx: from 8 MB, when nothing reads it next ((4096,512), 8 MB, no reader:
// 1.25 -> 1.17 of native, median of 4 alternating runs) or when it would
// leave the cache before the layer below reads it. Streaming a dx that a
// convolution's backward reads next sends it to DRAM just before that read:
// keras-cnn at batch 128 took 1.18x the step without BN instead of 1.03x
// (Intel Xeon family 6 model 207, AVX2 copy; docs/batchnorm.md).
bool streams_dx(int64_t dx_bytes, int64_t pass_bytes, bool dx_read_next, int64_t l3_bytes) {
  constexpr int64_t kStreamBytes = 8 << 20;
  return dx_bytes >= kStreamBytes && (!dx_read_next || pass_bytes > l3_bytes);
}

int64_t channels_per_block(int64_t N, int64_t C, int64_t S, int64_t element_bytes, int64_t reread,
                           int64_t cache_budget) {
  const int64_t channel_bytes = N * S * element_bytes * reread;
  const bool whole_layer_fits = channel_bytes * C <= cache_budget;
  const bool channel_too_large = channel_bytes > cache_budget;
  if (S == 1 || cache_budget <= 0 || whole_layer_fits || channel_too_large) return C;
  return cache_budget / channel_bytes;
}

const KernelSet& kernel_set() {
  static const KernelSet set = {"fused",
                                batch_moments,
                                normalize_forward,
                                grad_sums,
                                normalize_backward_batch_stats,
                                normalize_backward_fixed_stats,
                                forward_batch_stats,
                                backward_with_batch_stats,
                                forward_batch_stats_pooled,
                                backward_with_batch_stats_pooled,
                                forward_fixed_stats_pooled};
  return set;
}

}  // namespace bnlab::bn::fused
