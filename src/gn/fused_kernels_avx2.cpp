// The fused GroupNorm loops for CPUs with AVX2 and FMA (chosen at run time by fused_kernels.cpp).
#define BNLAB_ISA avx2
#include "gn/fused_kernels_impl.h"
