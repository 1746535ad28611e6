// The fused GroupNorm loops for any x86-64 CPU (and the forced BNLAB_ISA=portable path).
#define BNLAB_ISA portable
#include "gn/fused_kernels_impl.h"
