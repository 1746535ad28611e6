// Declarations of the 2x2 max-pooling loops of one compiled copy, namespace
// bnlab::pool::max_pool_kernels::BNLAB_ISA (the per-ISA mechanism of
// core/cpu.h). No include guard on purpose.
#include <cstdint>

#include "pool/max_pool_winner.h"

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernels)"
#endif

namespace bnlab::pool::max_pool_kernels::BNLAB_ISA {

// One (H, W) plane: y (OH, OW) the maxima of x's 2x2 windows, winner the
// index (0..3) of each window's maximum.
template <typename T>
void pool_plane(const T* x, T* y, uint8_t* winner, int64_t W, int64_t OH, int64_t OW);

// dx (H, W) of one plane: each window's dy to its winner, zero elsewhere
// (and in every window whose winner byte is kNoWinner, max_pool_winner.h).
template <typename T>
void unpool_plane(const T* dy, const uint8_t* winner, T* dx, int64_t H, int64_t W, int64_t OH, int64_t OW);

}  // namespace bnlab::pool::max_pool_kernels::BNLAB_ISA
