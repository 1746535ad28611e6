// The fused kernels for CPUs with AVX2 and FMA (compiled with -mavx2 -mfma;
// chosen at run time by fused_kernels.cpp).
#define BNLAB_ISA avx2
#include "bn/fused_kernels_impl.h"
#include "bn/pooled_kernels_impl.h"
