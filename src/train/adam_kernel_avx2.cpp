// The Adam loop for CPUs with AVX2 and FMA (chosen at run time by fused_adam.cpp).
#define BNLAB_ISA avx2
#include "train/adam_kernel_impl.h"
