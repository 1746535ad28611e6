#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "cli/global_options.h"
#include "core/allocator.h"
#include "core/blas.h"
#include "core/cpu.h"
#include "core/denormals.h"
#include "core/durable_file.h"
#include "core/input_error.h"
#include "core/threads.h"

namespace bnlab::cli {
namespace {

void print_usage(std::ostream& out) {
  out << "bnlab: Batch Normalization lab (hand-written BatchNorm, experiments, benchmarks)\n\n"
         "Usage: bnlab [--threads N] <command> [options]\n\nCommands:\n";
  for (const auto& command : commands())
    out << fmt::format("  {:<10} {}\n", command.name, command.summary);
  out << "\nRun `bnlab <command> --help` for a command's options.\n";
}

// `bnlab --threads 2 verify ...` is `bnlab verify --threads 2 ...`: global
// options before the command are moved after it, where its parser reads them.
Args normalise_global_options(Args words) {
  Args moved;
  const auto& globals = global_options_with_values();
  auto global_option = [&](const std::string& word) {  // "--threads" or "--threads=2"
    return std::any_of(globals.begin(), globals.end(), [&](const auto& name) { return word.rfind(name, 0) == 0; });
  };
  auto takes_next_word = [&](const std::string& word) {
    return std::find(globals.begin(), globals.end(), word) != globals.end();
  };
  while (!words.empty() && global_option(words[0])) {
    moved.push_back(words[0]);
    words.erase(words.begin());
    if (takes_next_word(moved.back()) && !words.empty()) {
      moved.push_back(words[0]);
      words.erase(words.begin());
    }
  }
  if (!words.empty()) words.insert(words.begin() + 1, moved.begin(), moved.end());
  return words;
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"run", "run a named experiment (variants x seeds) into results/", run_run},
      {"list", "list the named experiments", run_list},
      {"launch", "start a data-parallel job of N local ranks: bnlab launch --nproc N -- run NAME", run_launch},
      {"show", "show an experiment's resolved configs, or every config key", run_show},
      {"diff", "compare result CSVs, runs or experiments cell by cell (exit 0 equal, 1 different)", run_diff},
      {"plot", "training curves (SVG/PNG through gnuplot), mean over seeds with a min-max band", run_plot},
      {"report", "per-variant table and curves of an experiment, into results/<name>/report.md", run_report},
      {"fold", "fold a finished run's BatchNorm layers into its Linear/Conv layers, checked, into model-folded.pt",
       run_fold},
      {"export", "write a finished run's model as a state_dict PyTorch-Python loads (FILE.pth)", run_export},
      {"bench", "benchmarks: BatchNorm kernels (bn) and training steps (train)", run_bench},
      {"data", "fetch, verify and describe the MNIST and Fashion-MNIST data sets", run_data},
      {"verify", "compare bnlab's BatchNorm with torch::nn::BatchNorm1d/2d on random cases", run_verify},
      {"version", "versions, git commit, BLAS and thread settings", run_version},
  };
  return all;
}

std::optional<cxxopts::ParseResult> parse_or_help(cxxopts::Options& options, const Args& args) {
  std::vector<const char*> argv = {options.program().c_str()};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    auto result = options.parse(static_cast<int>(argv.size()), argv.data());
    if (result.count("help")) {
      std::cout << options.help();
      return std::nullopt;
    }
    if (!result.unmatched().empty())
      throw UsageError(fmt::format("unexpected argument '{}'", result.unmatched().front()));
    return result;
  } catch (const cxxopts::exceptions::exception& error) {
    throw UsageError(error.what());
  }
}

std::optional<cxxopts::ParseResult> parse_command(cxxopts::Options& options, const Args& args) {
  add_global_options(options);
  auto parsed = parse_or_help(options, args);
  if (parsed) apply_global_options(*parsed);
  return parsed;
}

int dispatch(int argc, char** argv) {
  Args words = normalise_global_options(Args(argv + 1, argv + argc));
  choose_blas_kernels();                // before any GEMM: OpenBLAS's fallback replaced where it took one
  apply_thread_count(kDefaultThreads);  // explicit, whatever the environment says
  set_denormals(Denormals::kFlush);     // the default of --denormals, before any thread starts
  keep_freed_memory_for_reuse();
  report_file_size_limit_as_error();
  use_huge_pages_for_large_tensors();
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_usage(words.empty() ? std::cerr : std::cout);
    return words.empty() ? kExitUsage : kExitOk;
  }
  try {
    check_cpu_environment();  // a bad BNLAB_ISA or cache size stops every command before it starts
  } catch (const InputError& error) {
    std::cerr << fmt::format("bnlab: error: {}\n", error.what());
    return kExitUsage;
  }
  for (const auto& command : commands()) {
    if (command.name != words[0]) continue;
    try {
      return command.run(Args(words.begin() + 1, words.end()));
    } catch (const UsageError& error) {
      std::cerr << fmt::format("bnlab {}: {}\nRun `bnlab {} --help` for usage.\n", command.name,
                               error.what(), command.name);
      return kExitUsage;
    } catch (const InputError& error) {
      // Bad input that is not a matter of the command line's form: the
      // message names the file or key and the value; the exit code is the
      // same as for a bad option.
      std::cerr << fmt::format("bnlab {}: error: {}\n", command.name, error.what());
      return kExitUsage;
    } catch (const c10::Error& error) {
      // LibTorch's what() carries a C++ backtrace; users need the message only.
      std::cerr << fmt::format("bnlab {}: error: {}\n", command.name,
                               error.what_without_backtrace());
      return kExitFailure;
    } catch (const std::exception& error) {
      std::cerr << fmt::format("bnlab {}: error: {}\n", command.name, error.what());
      return kExitFailure;
    }
  }
  std::cerr << fmt::format("bnlab: unknown command '{}'\n\n", words[0]);
  print_usage(std::cerr);
  return kExitUsage;
}

}  // namespace bnlab::cli
