// The `--set key=value` parser: key lookup, value conversion, the key's checks.
#include <string>

#include "experiments/resolve.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    bnlab::experiments::RunConfig config;
    const auto parsed = bnlab::experiments::parse_override(text);
    bnlab::experiments::apply_overrides(config, {parsed});
  } catch (const std::exception&) {
  }
  return 0;
}
