// The Adam loop for any CPU, from the same source.
#define BNLAB_ISA portable
#include "train/adam_kernel_impl.h"
