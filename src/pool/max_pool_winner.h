#pragma once
// The winner byte MaxPool2x2 keeps per output for its backward: the place
// of the window's maximum, 0 top-left, 1 top-right, 2 bottom-left, 3
// bottom-right; or kNoWinner, which sends the window's gradient nowhere
// (BatchNorm's fused ReLU and max-pool mark so the windows whose every value
// the ReLU blocked: bn/pooled_kernels_impl.h). Free of LibTorch: the
// per-ISA kernels include it.
#include <cstdint>

namespace bnlab::pool {

constexpr uint8_t kNoWinner = 4;

}  // namespace bnlab::pool
