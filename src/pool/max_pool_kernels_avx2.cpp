// The 2x2 max-pooling loops for CPUs with AVX2 and FMA (chosen at run time by max_pool.cpp).
#define BNLAB_ISA avx2
#include "pool/max_pool_kernels_impl.h"
