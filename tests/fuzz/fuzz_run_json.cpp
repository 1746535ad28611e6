// The run.json reader (status, config, stages, final metrics, every field's
// type and range), then each config in it read back as a run's config.
#include "fuzz/fuzz_input.h"
#include "runs/config_json.h"
#include "runs/record.h"

namespace {

void read_config(const nlohmann::json& config) {
  try {
    bnlab::runs::config_from_json(config);
  } catch (const std::exception&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bnlab::fuzz::input_file(data, size, "run.json");
  try {
    const auto record = bnlab::runs::read_run_record(bnlab::fuzz::private_folder());
    if (!record) return 0;
    read_config(record->config);
    if (!record->stages.is_array()) return 0;
    for (const auto& stage : record->stages)
      if (stage.is_object() && stage.contains("config")) read_config(stage["config"]);
  } catch (const std::exception&) {
  }
  return 0;
}
