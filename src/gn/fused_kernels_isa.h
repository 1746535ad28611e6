// Declarations of the fused GroupNorm loops of one compiled copy, namespace
// bnlab::gn::fused::BNLAB_ISA (the per-ISA mechanism of core/cpu.h).
// fused_kernels_impl.h defines them; fused_kernels.cpp declares every copy
// through core/isa_copies.h. No include guard on purpose.
//
// One sample at a time: x_n, y_n, dy_n, dx_n point at its C * S values,
// (C, S) contiguous, G groups of Cg = C / G channels; per-group arrays hold
// G entries, per-channel ones C. work holds 2 * C values of T, work_d 2 * C doubles.
#include <cstdint>

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::gn::fused::BNLAB_ISA {

// mean and invstd = 1 / sqrt(biased var + eps) of each group.
template <typename T>
void sample_moments(const T* x_n, int64_t G, int64_t K, double eps, double* mean, double* invstd);

// y = (x - mean) * invstd * gamma_c + beta_c; gamma, beta may be null.
template <typename T>
void sample_normalize(const T* x_n, T* y_n, int64_t G, int64_t Cg, int64_t S, const double* mean, const double* invstd,
                      const T* gamma, const T* beta, T* work);

// This sample's dgamma_c and dbeta_c added to dgamma, dbeta (C each), and
// dx when dx_n is not null.
template <typename T>
void sample_backward(const T* dy_n, const T* x_n, T* dx_n, int64_t G, int64_t Cg, int64_t S, const double* mean,
                     const double* invstd, const T* gamma, double* dgamma, double* dbeta, T* work, double* work_d);

}  // namespace bnlab::gn::fused::BNLAB_ISA
