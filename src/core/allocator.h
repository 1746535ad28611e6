#pragma once

namespace bnlab {

// Keeps memory freed by tensors in the process's heap for the next step
// instead of returning it to the kernel. glibc serves blocks above a dynamic
// threshold (128 KB at first) with mmap and gives them back on free, and trims
// the heap's top above 128 KB; a training step allocates the same
// activation-sized tensors every step, so each step page-faulted them in again
// (the kernel zeroing every page). Raises the mmap threshold to glibc's
// maximum (32 MB) and the trim threshold to 1 GB: the heap stays at the peak
// of one step. Leaves glibc alone when the user set MALLOC_MMAP_THRESHOLD_ or
// MALLOC_TRIM_THRESHOLD_. Called once, at start-up.
void keep_freed_memory_for_reuse();

}  // namespace bnlab
