// The 2x2 max-pooling loops for any CPU, from the same source.
#define BNLAB_ISA portable
#include "pool/max_pool_kernels_impl.h"
