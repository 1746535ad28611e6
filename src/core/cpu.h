#pragma once
// What the CPU running us can do, for code compiled twice (portable and
// -mavx2 -mfma) that picks its copy at run time.

namespace bnlab {

// True when the CPU has AVX2 and FMA (checked once).
bool cpu_has_avx2_fma();

}  // namespace bnlab
