#pragma once
// What the CPU running us can do, for code compiled twice (portable and
// -mavx2 -mfma) that picks its copy at run time.

namespace bnlab {

// True when the CPU has AVX2 and FMA (checked once), unless the environment
// sets BNLAB_ISA=portable: then the portable copies run everywhere, so that
// they can be tested (and compared) on a machine with AVX2.
bool cpu_has_avx2_fma();

}  // namespace bnlab

// Code compiled once per instruction set, one mechanism for every kernel family:
//   NAME_isa.h      its declarations, in namespace NS::BNLAB_ISA, without an
//                   include guard (it is included once per copy);
//   NAME_impl.h     the definitions; it includes NAME_isa.h, so the two
//                   cannot drift apart;
//   NAME_avx2.cpp, NAME_portable.cpp
//                   #define BNLAB_ISA avx2 | portable, then include
//                   NAME_impl.h; CMake compiles each with its ISA's flags.
// The caller declares every copy with
//   #define BNLAB_ISA_DECLARATIONS "path/NAME_isa.h"
//   #include "core/isa_copies.h"
// and calls the copy for this CPU with BNLAB_ISA_COPY(NS, name):
// BNLAB_ISA_COPY(ns, f<float>)(args).
#define BNLAB_ISA_COPY(NS, name) (::bnlab::cpu_has_avx2_fma() ? NS::avx2::name : NS::portable::name)
