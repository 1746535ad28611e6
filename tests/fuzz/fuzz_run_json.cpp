// The run.json reader (status, config, stages, final metrics, every field's type).
#include "fuzz/fuzz_input.h"
#include "runs/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bnlab::fuzz::input_file(data, size, "run.json");
  try {
    bnlab::runs::read_run_record(bnlab::fuzz::private_folder());
  } catch (const std::exception&) {
  }
  return 0;
}
