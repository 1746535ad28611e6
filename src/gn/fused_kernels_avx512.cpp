// The fused GroupNorm loops for CPUs with AVX-512 F/BW/VL/DQ (chosen at run time by fused_kernels.cpp).
#define BNLAB_ISA avx512
#include "gn/fused_kernels_impl.h"
