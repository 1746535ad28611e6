// The Adam update loop, compiled once per instruction set (adam_kernel_avx2.cpp,
// adam_kernel_portable.cpp define BNLAB_ISA first) and free of LibTorch for the
// same reason as bn/fused_kernels_impl.h: an inline function shared with other
// files could be linked into code that runs on a CPU without AVX2.
#include <cmath>
#include <cstdint>

#include "train/adam_kernel_isa.h"

namespace bnlab::train::adam_kernel::BNLAB_ISA {

// Two loops so that each vectorises without a per-element test. One sqrt and
// one division per element: they share the CPU's divider, which bounds the
// loop (three of them made it 73 us for keras-mlp's 109k parameters on an
// Intel Xeon, with its data in cache; two, 52 us), so the division by
// sqrt(1 - beta2^t) is a multiplication by its reciprocal, taken once.
template <typename T>
void update(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, double beta1_d, double beta2_d, double eps_d,
            double weight_decay_d, double step_size_d, double bias_correction2_sqrt_d) {
  const T beta1 = T(beta1_d), beta2 = T(beta2_d), eps = T(eps_d), weight_decay = T(weight_decay_d);
  const T one_minus_beta1 = T(1 - beta1_d), one_minus_beta2 = T(1 - beta2_d);
  const T step_size = T(step_size_d), inv_bias_correction2_sqrt = T(1 / bias_correction2_sqrt_d);
  if (!vmax) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const T g = grad[i] + weight_decay * p[i];
      m[i] = m[i] * beta1 + one_minus_beta1 * g;
      v[i] = v[i] * beta2 + one_minus_beta2 * g * g;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_bias_correction2_sqrt + eps);
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i] + weight_decay * p[i];
    m[i] = m[i] * beta1 + one_minus_beta1 * g;
    v[i] = v[i] * beta2 + one_minus_beta2 * g * g;
    vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
    p[i] -= step_size * m[i] / (std::sqrt(vmax[i]) * inv_bias_correction2_sqrt + eps);
  }
}

template void update<float>(float*, const float*, float*, float*, float*, int64_t, double, double, double, double,
                             double, double);
template void update<double>(double*, const double*, double*, double*, double*, int64_t, double, double, double,
                             double, double, double);

}  // namespace bnlab::train::adam_kernel::BNLAB_ISA
