#pragma once
// The BLAS LibTorch's GEMMs run on: which library and kernels, and the
// choice of OpenBLAS kernels where OpenBLAS does not know the CPU.
#include <string>

namespace bnlab {

// A function of the loaded BLAS by name, or null. LibTorch links the generic
// libblas.so.3 that Debian's alternatives resolve, so OpenBLAS's own API
// (threads, configuration) is found at run time.
void* blas_function(const char* name);

// OpenBLAS (DYNAMIC_ARCH) picks its kernels when it is loaded, by the CPU's
// vendor, family and model; a model newer than its table gets the Prescott
// (SSE3) kernels. Debian 12's OpenBLAS 0.3.21 does that on Intel Xeon family 6
// model 207: sgemm 33 GFLOPS against 151 with its SkylakeX kernels, one core.
// Where OpenBLAS fell back to Prescott on a CPU that runs AVX2 (or AVX-512)
// and OPENBLAS_CORETYPE is unset, this sets OPENBLAS_CORETYPE to Haswell (or
// SkylakeX), inherited by child processes, and reruns OpenBLAS's kernel
// selection, as if the variable had been set before the process started.
// Call before any BLAS call, from one thread (the start of main). Does
// nothing where OpenBLAS is not the BLAS or chose other kernels itself.
void choose_blas_kernels();

// "OpenBLAS 0.3.21 ... SkylakeX ..., 1 thread(s)" when OpenBLAS serves BLAS
// calls (with a note when choose_blas_kernels overrode OpenBLAS's choice),
// otherwise a warning that the slow reference BLAS is in use.
std::string blas_description();

}  // namespace bnlab
