#pragma once
// The adapter from a run's config to the model it trains: models/ knows
// nothing of config keys, this is where the two meet.
#include <cstdint>
#include <memory>

#include "experiments/run_config.h"
#include "models/options.h"
#include "parallel/group.h"

namespace bnlab::experiments {

// The model of a resolved config (resolved(): placement and hidden sizes
// explicit) with `num_classes` outputs. With bn.mode = "sync", bnlab's
// BatchNorm layers synchronise over `job` (null, or one process: local).
models::ModelOptions model_options(const RunConfig& config, int64_t num_classes = 10,
                                   std::shared_ptr<const parallel::Group> job = nullptr);

}  // namespace bnlab::experiments
