#pragma once
// The command-line layer: one file per command, each with its own options
// and a cxxopts parser; dispatch.cpp picks the command from the first word.
#include "cli/cxxopts.h"

#include <string>
#include <vector>

namespace bnlab::cli {

using Args = std::vector<std::string>;  // the words after the command name

struct Command {
  std::string name;
  std::string summary;
  int (*run)(const Args& args);  // returns the exit code; throws UsageError for bad usage
};

const std::vector<Command>& commands();

// Entry point of the bnlab binary: dispatches on argv[1], maps errors to
// messages and exit codes (usage 2, failure 1).
int dispatch(int argc, char** argv);

// Parses `args` with `options`, turning cxxopts' errors and stray positional
// words into UsageError. Prints help and returns nullopt for --help.
std::optional<cxxopts::ParseResult> parse_or_help(cxxopts::Options& options, const Args& args);

// What every command does first: add the global options (--threads, --help),
// parse, and apply them. nullopt when --help was printed (exit 0).
std::optional<cxxopts::ParseResult> parse_command(cxxopts::Options& options, const Args& args);

int run_bench(const Args& args);
int run_data(const Args& args);
int run_diff(const Args& args);
int run_plot(const Args& args);
int run_report(const Args& args);
int run_export(const Args& args);
int run_fold(const Args& args);
int run_launch(const Args& args);
int run_list(const Args& args);
int run_run(const Args& args);
int run_show(const Args& args);
int run_verify(const Args& args);
int run_version(const Args& args);

}  // namespace bnlab::cli
