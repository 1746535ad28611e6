// The fused kernels for CPUs with AVX-512 F/BW/VL/DQ (compiled with those
// flags and 512-bit vectors; chosen at run time by fused_kernels.cpp).
#define BNLAB_ISA avx512
#include "bn/fused_kernels_impl.h"
#include "bn/pooled_kernels_impl.h"
