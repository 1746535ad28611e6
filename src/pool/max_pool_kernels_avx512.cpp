// The 2x2 max-pooling loops for CPUs with AVX-512 F/BW/VL/DQ (chosen at run time by max_pool.cpp).
#define BNLAB_ISA avx512
#include "pool/max_pool_kernels_impl.h"
