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

// Joins the job the options and environment describe (a one-process group
// when they describe none). Bad values are
// UsageErrors; a failed rendezvous is a parallel::DistError.
std::shared_ptr<parallel::Group> join_group(const cxxopts::ParseResult& parsed);

}  // namespace bnlab::cli
