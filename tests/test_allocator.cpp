#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/allocator.h"

namespace {

std::uintptr_t address(const torch::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()); }

// The VmFlags line of the mapping of /proc/self/smaps that holds address a.
std::string vm_flags_at(std::uintptr_t a) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-') inside = begin <= a && a < end;
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

}  // namespace

TEST_CASE("allocator: large tensors are huge-page aligned and advised, small ones as LibTorch's", "[memory]") {
  bnlab::use_huge_pages_for_large_tensors();
  constexpr std::uintptr_t kHugePage = 2 << 20;
  const int64_t large_floats = int64_t(bnlab::kHugePageTensorBytes / sizeof(float));

  auto large = torch::arange(large_floats, torch::kFloat32);
  CHECK(address(large) % kHugePage == 0);
  // Sum of 0..n-1 is exact in double for n = 2^20.
  CHECK(large.sum(torch::kFloat64).item<double>() == double(large_floats) * double(large_floats - 1) / 2);
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    // "hg": the mapping carries MADV_HUGEPAGE (kernels with THP support).
    CHECK_THAT(vm_flags_at(address(large) + kHugePage / 2), Catch::Matchers::Contains(" hg"));
  }

  auto small = torch::ones({3, 5});
  CHECK(address(small) % 64 == 0);
  CHECK(small.sum().item<float>() == 15.0f);
  CHECK(torch::empty({0}).numel() == 0);

  // Blocks are freed and reused without trouble, growing and shrinking.
  for (int64_t floats : {large_floats, 3 * large_floats, int64_t(17), large_floats + 1}) {
    auto t = torch::full({floats}, 2.0f);
    CHECK(t.sum(torch::kFloat64).item<double>() == 2.0 * double(floats));
  }
}
