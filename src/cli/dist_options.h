#pragma once
// Options of the commands that can run as one rank of a data-parallel job
// (`run`, `verify --sync-bn`): --world-size, --rank, --master-addr,
// --master-port (or torchrun's WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT,
// which `bnlab launch` sets) and --dist-timeout.
#include <memory>

#include "cli/cxxopts.h"
#include "parallel/group.h"

namespace bnlab::cli {

void add_dist_options(cxxopts::Options& options);

// The job the options and environment describe (world size 1 when they
// describe none); bad values are UsageErrors. parallel::Group::join joins it
// (a failed rendezvous is a parallel::DistError).
parallel::GroupOptions group_options(const cxxopts::ParseResult& parsed);

}  // namespace bnlab::cli
