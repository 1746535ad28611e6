#pragma once
// What the CPU running us can do, for code compiled twice (portable and
// -mavx2 -mfma) that picks its copy at run time.

namespace bnlab {

// True when the CPU has AVX2 and FMA (checked once), unless the environment
// sets BNLAB_ISA=portable: then the portable copies run everywhere, so that
// they can be tested (and compared) on a machine with AVX2.
bool cpu_has_avx2_fma();

}  // namespace bnlab

// Code compiled twice lives in namespaces NS::avx2 and NS::portable (its
// *_impl.h defines BNLAB_ISA as one of them). Callers declare both copies
// with BNLAB_DECLARE_ISA_COPIES(NS, declarations...) and take the one for
// this CPU with BNLAB_ISA_COPY(NS, name): BNLAB_ISA_COPY(ns, f<float>)(args).
#define BNLAB_DECLARE_ISA_COPIES(NS, ...) \
  namespace NS::avx2 {                    \
  __VA_ARGS__                             \
  }                                       \
  namespace NS::portable {                \
  __VA_ARGS__                             \
  }
#define BNLAB_ISA_COPY(NS, name) (::bnlab::cpu_has_avx2_fma() ? NS::avx2::name : NS::portable::name)
