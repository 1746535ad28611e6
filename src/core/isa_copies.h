// Declares the avx512, avx2 and portable copies of a kernel family: include
// it with BNLAB_ISA_DECLARATIONS naming the family's NAME_isa.h (core/cpu.h).
// No include guard on purpose: each family includes it once.
#ifndef BNLAB_ISA_DECLARATIONS
#error "define BNLAB_ISA_DECLARATIONS (the kernel family's NAME_isa.h) first"
#endif
#define BNLAB_ISA avx512
#include BNLAB_ISA_DECLARATIONS
#undef BNLAB_ISA
#define BNLAB_ISA avx2
#include BNLAB_ISA_DECLARATIONS
#undef BNLAB_ISA
#define BNLAB_ISA portable
#include BNLAB_ISA_DECLARATIONS
#undef BNLAB_ISA
#undef BNLAB_ISA_DECLARATIONS
