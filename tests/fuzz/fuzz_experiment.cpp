// The experiment loader (TOML, keys, values, variants, stages), then every
// variant's stages resolved as a run would resolve them.
#include "experiments/experiment.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = bnlab::fuzz::input_file(data, size, "fuzzed.toml");
  try {
    const auto experiment = bnlab::experiments::load_experiment_file(file);
    for (const auto& variant : experiment.variants) {
      try {
        experiment.stages_for(variant);
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}
