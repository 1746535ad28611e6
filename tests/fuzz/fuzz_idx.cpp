// The IDX reader (data/idx.h) on arbitrary bytes, as images (rank 3) and as labels (rank 1).
#include "data/idx.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = bnlab::fuzz::input_file(data, size, "input.idx");
  for (int64_t rank : {1, 3}) {
    try {
      const auto values = bnlab::data::read_idx_u8(file, rank);
      if (values.dim() != rank) __builtin_trap();  // the reader promised this rank
    } catch (const std::exception&) {
    }
  }
  return 0;
}
