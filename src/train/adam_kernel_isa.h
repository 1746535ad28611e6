// Declaration of the Adam update loop of one compiled copy, namespace
// bnlab::train::adam_kernel::BNLAB_ISA (the per-ISA mechanism of core/cpu.h).
// No include guard on purpose.
#include <cstdint>

#ifndef BNLAB_ISA
#error "define BNLAB_ISA (the namespace of this copy of the kernel)"
#endif

namespace bnlab::train::adam_kernel::BNLAB_ISA {

// See fused_adam.h for the update; vmax is null unless amsgrad.
template <typename T>
void update(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, double beta1, double beta2, double eps,
            double weight_decay, double step_size, double bias_correction2_sqrt);

}  // namespace bnlab::train::adam_kernel::BNLAB_ISA
