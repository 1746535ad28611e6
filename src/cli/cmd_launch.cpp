// bnlab launch --nproc N [--master-port P] [--dist-timeout S] [--grace S] [--max-restarts N]
//              -- <command> [args...]
#include <fmt/format.h>

#include <algorithm>
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

bool has(const Args& args, const std::string& flag) { return std::find(args.begin(), args.end(), flag) != args.end(); }

// A restartable job is a `run` that checkpoints every epoch; its restarts
// resume (skipping the runs already finished, continuing the one cut short).
void set_restarts(LaunchCommandOptions& o, int max_restarts) {
  o.launch.max_restarts = max_restarts;
  if (max_restarts <= 0) return;  // a negative count is refused with the other options
  Args& first = o.launch.arguments;
  if (first[0] != "run")
    throw UsageError(fmt::format("--max-restarts restarts `run` jobs from their checkpoints; `{}` has none", first[0]));
  if (has(first, "--overwrite"))
    throw UsageError(
        "--max-restarts cannot be used with --overwrite: a restart resumes the runs, which --overwrite "
        "would replace; remove the old results first");
  if (!has(first, "--save-checkpoint") && !has(first, "--resume")) first.push_back("--save-checkpoint");
  o.launch.restart_arguments = first;
  if (!has(first, "--resume")) o.launch.restart_arguments.push_back("--resume");
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
  set_restarts(o, parsed["max-restarts"].as<int>());
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
           cxxopts::value<double>()->default_value("10"),
           "S")("max-restarts",
                "When a rank fails, stop the others and restart the job from its last checkpoint, up to N times "
                "(`run` only: adds --save-checkpoint, and --resume to restarts)",
                cxxopts::value<int>()->default_value("0"), "N");
  auto [own, command] = split_at_separator(args);
  auto parsed = parse_command(parser, own);
  if (!parsed) return kExitOk;
  const LaunchCommandOptions o = read_options(*parsed, std::move(command));
  return parallel::launch_local_job(o.launch, std::cout, std::cerr, std::cerr);
}

}  // namespace bnlab::cli
