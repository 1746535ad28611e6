#include "cli/dist_options.h"

#include "cli/errors.h"

namespace bnlab::cli {

void add_dist_options(cxxopts::Options& options) {
  options.add_options("Data-parallel (defaults from WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT)")
      ("world-size", "Processes in the job (default 1: no job)", cxxopts::value<int>(), "N")
      ("rank", "This process's rank, 0..N-1; rank 0 serves the rendezvous store and writes the results",
       cxxopts::value<int>(), "R")
      ("master-addr", "Host of rank 0 (default 127.0.0.1)", cxxopts::value<std::string>(), "HOST")
      ("master-port", "Port of rank 0's rendezvous store (default 29500)", cxxopts::value<int>(), "PORT")
      ("dist-timeout", "Seconds to wait for every rank to join and for each collective (default 60)",
       cxxopts::value<double>(), "S");
}

parallel::GroupOptions group_options(const cxxopts::ParseResult& parsed) {
  parallel::GroupFlags flags;
  if (parsed.count("world-size")) flags.world_size = parsed["world-size"].as<int>();
  if (parsed.count("rank")) flags.rank = parsed["rank"].as<int>();
  if (parsed.count("master-addr")) flags.master_addr = parsed["master-addr"].as<std::string>();
  if (parsed.count("master-port")) flags.master_port = parsed["master-port"].as<int>();
  if (parsed.count("dist-timeout")) flags.timeout_seconds = parsed["dist-timeout"].as<double>();
  parallel::GroupOptions options;
  try {
    options = parallel::resolve_group_options(flags);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  return options;
}

}  // namespace bnlab::cli
