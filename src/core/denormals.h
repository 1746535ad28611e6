#pragma once
// Denormal (subnormal) floats: flushed to zero, or kept as IEEE 754 says.
//
// On Intel CPUs every vector instruction that reads or produces a denormal
// takes a microcode assist of ~100 cycles. Training produces them: Adam's
// second moment of near-zero gradients, small activations of a model without
// BatchNorm. Intel Xeon family 6 model 207, one epoch, 1 thread: keras-mlp
// bn-custom 0.60-0.62 -> 0.51 ms/step with denormals flushed, keras-cnn
// plain 4.74-4.82 -> 3.95-3.98, final accuracy the same to four digits
// (AMD's cores take no such penalty). TensorFlow flushes them on CPU too. So
// bnlab flushes by default; --denormals keep restores IEEE behaviour.
#include <string>

#include "core/enum_names.h"

namespace bnlab {

enum class Denormals { kFlush, kKeep };
const EnumNames<Denormals>& enum_names(Denormals);  // "flush", "keep"

// Sets the calling thread's floating-point mode (x86 MXCSR FTZ and DAZ:
// results and inputs below the smallest normal float are zero). Threads
// started afterwards inherit it (LibTorch's OpenMP pool starts on first use);
// OpenBLAS's own threads, started when it was loaded, do not, so with
// --threads above 1 its workers keep denormals. Returns false where the CPU
// has no such mode (then denormals are kept).
bool set_denormals(Denormals mode);

// The calling thread's mode, read back from the CPU.
Denormals current_denormals();

}  // namespace bnlab
