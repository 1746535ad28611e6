// Declarations of the fused BatchNorm loops of one compiled copy, namespace
// bnlab::bn::fused::BNLAB_ISA (the per-ISA mechanism of core/cpu.h).
// fused_kernels_impl.h defines them; fused_kernels.cpp declares every copy
// through core/isa_copies.h. No include guard on purpose.
//
// Deliberately free of LibTorch and standard-library templates (see
// fused_kernels_impl.h). Arguments: x, dy, y, dx are contiguous (N, C, S);
// per-channel arrays hold C entries; [c0, c1) is the channel range to do;
// work_d (3C doubles) and work_t (4C values of T) are working memory of which
// only the range's entries are touched.
#include <cstdint>

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::bn::fused::BNLAB_ISA {

// mean, var: the batch mean and biased variance.
template <typename T>
void moments(const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double* mean, double* var,
             double* work_d, T* work_t);

// y = (x - mean) * invstd * gamma + beta; gamma, beta may be null.
template <typename T>
void normalize(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, const T* gamma, const T* beta, double* work_d, T* work_t);

// moments, then normalize with invstd = 1 / sqrt(var + eps); stream_y: write
// y with non-temporal stores. relu_mask (N*C*S bytes) or null: when given,
// y = max(0, BN(x)) and relu_mask = 1 where the ReLU passed its input.
// relu_input: BN of max(0, x) instead (a ReLU before BN; mean and var are
// max(0, x)'s).
template <typename T>
void forward_batch_stats(const T* x, T* y, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double eps,
                         const T* gamma, const T* beta, double* mean, double* var, bool stream_y, uint8_t* relu_mask,
                         bool relu_input, double* work_d, T* work_t);

// sum_dy = sum dy, sum_dy_xhat = sum dy * (x - mean) * invstd.
template <typename T>
void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, const double* mean,
               const double* invstd, double* sum_dy, double* sum_dy_xhat, double* work_d, T* work_t);

// dx of BN with batch statistics over a count of M values per channel.
template <typename T>
void backward_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* mean, const double* invstd, const T* gamma, const double* sum_dy,
                          const double* sum_dy_xhat, double M, double* work_d, T* work_t);

// grad_sums, then backward_batch_stats with M = N*S; stream_dx: write dx with
// non-temporal stores. relu_mask (from forward_batch_stats) or null: when
// given, dy is the gradient of the ReLU's output and is masked first; the
// sums are then those of the masked gradient. relu_input (as forward's): x
// is the ReLU's input, the sums are at max(0, x), and dx is the gradient
// reaching x (0 where the ReLU blocked).
template <typename T>
void backward_with_batch_stats(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                               const double* mean, const double* invstd, const T* gamma, double* sum_dy,
                               double* sum_dy_xhat, bool stream_dx, const uint8_t* relu_mask, bool relu_input,
                               double* work_d, T* work_t);

// BatchNorm followed by a 2x2 max-pool (pooled_kernels_impl.h), x (N, C, H,
// W) with H, W >= 2: forward_batch_stats's statistics (relu, relu_input as
// there), then out (N, C, H/2, W/2) = the max-pool of y and winner the
// place of each output's maximum in its window, as MaxPool2x2 writes it
// (pool/max_pool_kernels_isa.h), or kNoWinner where the ReLU after BN
// blocked the whole window. plane: H*W values of T, the calling thread's.
template <typename T>
void forward_batch_stats_pooled(const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t c0, int64_t c1, double eps, const T* gamma, const T* beta, double* mean,
                                double* var, bool relu, bool relu_input, T* plane, double* work_d, T* work_t);

// The same layer in eval mode: out and winner as above, y normalised with
// the given statistics (invstd = 1 / sqrt(running_var + eps)), as
// normalize_forward then MaxPool2x2.
template <typename T>
void forward_fixed_stats_pooled(const T* x, T* out, uint8_t* winner, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t c0, int64_t c1, const double* mean, const double* invstd, const T* gamma,
                                const T* beta, bool relu, bool relu_input, T* plane, T* work_t);

// backward_with_batch_stats of that layer from dout (N, C, H/2, W/2), the
// gradient of out, and forward's winner: dx (N, C, H, W).
template <typename T>
void backward_with_batch_stats_pooled(const T* dout, const uint8_t* winner, const T* x, T* dx, int64_t N, int64_t C,
                                      int64_t H, int64_t W, int64_t c0, int64_t c1, const double* mean,
                                      const double* invstd, const T* gamma, double* sum_dy, double* sum_dy_xhat,
                                      bool stream_dx, bool relu_input, T* plane, double* work_d, T* work_t);

// dx = dy * invstd * gamma (eval mode: the statistics are constants).
template <typename T>
void backward_fixed_stats(const T* dy, T* dx, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1,
                          const double* invstd, const T* gamma, double* work_d, T* work_t);

}  // namespace bnlab::bn::fused::BNLAB_ISA
