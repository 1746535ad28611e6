// The Adam loop for CPUs with AVX-512 F/BW/VL/DQ (chosen at run time by fused_adam.cpp).
#define BNLAB_ISA avx512
#include "train/adam_kernel_impl.h"
