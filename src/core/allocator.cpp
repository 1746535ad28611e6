#include "core/allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/alignment.h>
#include <fmt/format.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>

namespace bnlab {

void keep_freed_memory_for_reuse() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}

namespace {

// The whole pages inside [data, data + bytes), advised MADV_HUGEPAGE. The
// kernel gives huge pages to the 2 MB-aligned stretches of that range when
// they are first touched (freed memory reused later keeps them). The advice
// is a hint: a failure (old kernel, THP off) leaves ordinary pages.
void advise_huge_pages(void* data, std::size_t bytes) {
  static const std::uintptr_t page = std::uintptr_t(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// LibTorch's CPU allocator, with large blocks on huge pages: posix_memalign
// as LibTorch's default allocator does (64-byte alignment), and blocks of
// kHugePageTensorBytes or more aligned to a huge page and advised, so that
// all of such a block, not only its 2 MB-aligned middle, can get huge pages.
// Every block is freed with free(). (Unlike LibTorch's default allocator it
// does not report to LibTorch's memory profiler, which bnlab does not use.)
class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t bytes) const override {
    constexpr std::size_t kHugePage = std::size_t(2) << 20;
    const bool large = bytes >= kHugePageTensorBytes;
    void* data = nullptr;
    if (bytes > 0 && posix_memalign(&data, large ? kHugePage : c10::gAlignment, bytes) != 0)
      throw std::bad_alloc();
    if (large) advise_huge_pages(data, bytes);
    return {data, data, raw_deleter(), c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &std::free; }
};

bool huge_pages_advised = false;

}  // namespace

void use_huge_pages_for_large_tensors() {
  if (huge_pages_advised) return;
  static HugePageAllocator allocator;
  // Priority above the default registration's (0), so a later registration
  // at the default priority cannot silently drop the advice.
  c10::SetAllocator(c10::DeviceType::CPU, &allocator, /*priority=*/1);
  huge_pages_advised = true;
}

std::string huge_page_description() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(file, line);  // the mode in brackets: "always [madvise] never"
  const auto open = line.find('['), close = line.find(']');
  const std::string mode =
      open != std::string::npos && close != std::string::npos && close > open ? line.substr(open + 1, close - open - 1)
                                                                              : "unknown";
  if (!huge_pages_advised) return mode;
  if (mode == "never") return mode + " (large tensors are advised, but the kernel ignores the advice)";
  return fmt::format("{}, advised for tensors of {} MB or more", mode, kHugePageTensorBytes >> 20);
}

}  // namespace bnlab
