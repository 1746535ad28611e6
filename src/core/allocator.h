#pragma once
#include <cstddef>
#include <string>

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

// Backs CPU tensors of kHugePageTensorBytes or more with transparent huge
// pages: installs a LibTorch CPU allocator that aligns such blocks to 2 MB and
// advises them MADV_HUGEPAGE (Debian's default THP mode, "madvise", gives
// huge pages only to memory so advised); smaller blocks are allocated as
// LibTorch's default allocator does. A pass over an 8 MB tensor otherwise
// walks 2048 4 KB pages and misses the TLB on most of them: on (4096,512)
// BatchNorm forward+backward, native went 2.68 -> 2.10 ms and ours
// 3.19 -> 2.27 ms with huge pages (medians of three interleaved runs).
// Called once, at start-up, before the tensors it should cover are allocated.
void use_huge_pages_for_large_tensors();

constexpr std::size_t kHugePageTensorBytes = std::size_t(4) << 20;

// The kernel's THP mode ("always", "madvise", "never", or "unknown") and
// whether large tensors are advised: for `bnlab version`.
std::string huge_page_description();

}  // namespace bnlab
