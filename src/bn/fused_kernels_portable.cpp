// The fused kernels for any x86-64 (or other) CPU, from the same source.
#define BNLAB_ISA portable
#include "bn/fused_kernels_impl.h"
#include "bn/pooled_kernels_impl.h"
