// bnlab launch --nproc N [--master-port P] [--dist-timeout S] -- <command> [args...]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "parallel/launcher.h"

namespace bnlab::cli {
namespace {

struct LaunchCommandOptions {
  parallel::LaunchOptions launch;
};

// The words after "--" are the command every rank runs.
std::pair<Args, Args> split_at_separator(const Args& args) {
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] == "--") return {Args(args.begin(), args.begin() + i), Args(args.begin() + i + 1, args.end())};
  return {args, {}};
}

LaunchCommandOptions read_options(const cxxopts::ParseResult& parsed, Args command) {
  LaunchCommandOptions o;
  if (command.empty())
    throw UsageError("missing the command to run after `--`, e.g. `bnlab launch --nproc 2 -- run keras-mlp`");
  if (command[0] == "launch") throw UsageError("`bnlab launch -- launch ...` would start jobs inside jobs");
  o.launch.processes = parsed["nproc"].as<int>();
  if (parsed.count("master-port")) o.launch.master_port = parsed["master-port"].as<int>();
  if (parsed.count("dist-timeout")) o.launch.timeout_seconds = parsed["dist-timeout"].as<double>();
  o.launch.grace_seconds = parsed["grace"].as<double>();
  o.launch.program = "/proc/self/exe";  // the very binary that was launched
  o.launch.arguments = std::move(command);
  try {
    parallel::check_launch_options(o.launch);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  return o;
}

}  // namespace

int run_launch(const Args& args) {
  cxxopts::Options parser("bnlab launch",
                          "Start a data-parallel job of N local processes (ranks), each running\n"
                          "`bnlab <command>` with WORLD_SIZE, RANK and its rendezvous set, e.g.\n"
                          "  bnlab launch --nproc 2 -- run keras-mlp --variant bn-custom\n"
                          "Output is forwarded with a [rank r] prefix; the exit code is non-zero when any\n"
                          "rank fails. For several hosts run `bnlab run ... --world-size N --rank R\n"
                          "--master-addr HOST --master-port P` on each (README, docs/distributed.md).");
  parser.add_options()("nproc", "Number of processes (ranks)", cxxopts::value<int>()->default_value("2"), "N")(
      "master-port",
      "Rank 0 serves a TCP rendezvous store on this port, on every interface (default: no store "
      "socket: the ranks meet through a file in a private folder)",
      cxxopts::value<int>(), "PORT")(
      "dist-timeout", "Seconds the ranks wait to join and for each collective (default 60)", cxxopts::value<double>(),
      "S")("grace", "Seconds the other ranks get to stop after one fails, before SIGTERM",
           cxxopts::value<double>()->default_value("10"), "S");
  auto [own, command] = split_at_separator(args);
  auto parsed = parse_command(parser, own);
  if (!parsed) return kExitOk;
  const LaunchCommandOptions o = read_options(*parsed, std::move(command));
  return parallel::launch_local_job(o.launch, std::cout, std::cerr, std::cerr);
}

}  // namespace bnlab::cli
