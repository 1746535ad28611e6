// bnlab run NAME [--variant V]... [--seed S]... [--set key=value]... [--epochs N]
//                [--out DIR] [--dry-run] [--overwrite] [--data-dir DIR]
//                [--world-size N --rank R --master-addr H --master-port P]
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "cli/errors.h"
#include "core/text.h"
#include "data/data_dir.h"
#include "experiments/catalog.h"
#include "parallel/launcher.h"
#include "runs/layout.h"
#include "sweep/sweep.h"
#include "train/progress.h"

namespace bnlab::cli {
namespace {

struct RunCommandOptions {
  std::string experiment;
  sweep::RunRequest request;
  sweep::SweepOptions sweep;
  std::vector<std::string> set_texts;  // as typed, for --dry-run
  std::optional<int64_t> epochs;
  std::optional<std::string> out, data_dir;
  bool dry_run = false;
  std::string threads = "1";  // as typed: a number or auto
};

std::string shell_quote(const std::string& word) {
  if (word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+") ==
      std::string::npos)
    return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string dry_run_command(const RunCommandOptions& o, const sweep::PlannedRun& run) {
  std::vector<std::string> words = {"bnlab", "run", o.experiment, "--variant", run.variant, "--seed",
                                    std::to_string(run.seed)};
  for (const auto& set : o.set_texts) words.insert(words.end(), {"--set", set});
  if (o.epochs) words.insert(words.end(), {"--epochs", std::to_string(*o.epochs)});
  if (o.out) words.insert(words.end(), {"--out", *o.out});
  if (o.data_dir) words.insert(words.end(), {"--data-dir", *o.data_dir});
  if (o.sweep.overwrite) words.push_back("--overwrite");
  if (o.sweep.skip_finished) words.push_back("--skip-finished");
  if (o.sweep.save_checkpoint) words.push_back("--save-checkpoint");
  if (o.sweep.resume) words.push_back("--resume");
  if (o.threads != "1") words.insert(words.end(), {"--threads", o.threads});
  // A run meant for a data-parallel job is started as one.
  if (run.config.dist.world_size > 1)
    words.insert(words.begin() + 1, {"launch", "--nproc", std::to_string(run.config.dist.world_size), "--"});
  for (auto& word : words) word = shell_quote(word);
  return join(words, " ");
}

experiments::Overrides parse_sets(const std::vector<std::string>& texts) {
  experiments::Overrides sets;
  for (const auto& text : texts) {
    try {
      sets.push_back(experiments::parse_override(text));
    } catch (const std::invalid_argument& error) {
      throw UsageError(fmt::format("--set {}: {}", text, error.what()));
    }
  }
  return sets;
}

RunCommandOptions read_options(const cxxopts::ParseResult& parsed) {
  RunCommandOptions o;
  if (!parsed.count("name")) throw UsageError("missing experiment name (see `bnlab list`)");
  o.experiment = parsed["name"].as<std::string>();
  if (parsed.count("variant")) o.request.variants = parsed["variant"].as<std::vector<std::string>>();
  if (parsed.count("seed"))
    for (const auto& seed : parsed["seed"].as<std::vector<std::string>>()) {
      int64_t value = 0;
      try {
        value = parse_int(seed, "--seed");
      } catch (const std::invalid_argument& error) {
        throw UsageError(error.what());
      }
      if (value < 0) throw UsageError(fmt::format("--seed must be >= 0, got {}", value));
      o.request.seeds.push_back(value);
    }
  if (parsed.count("set")) o.set_texts = parsed["set"].as<std::vector<std::string>>();
  o.request.sets = parse_sets(o.set_texts);
  if (parsed.count("epochs")) {
    o.epochs = parsed["epochs"].as<int64_t>();
    if (*o.epochs < 1) throw UsageError(fmt::format("--epochs must be >= 1, got {}", *o.epochs));
    o.request.sets.emplace_back("train.epochs", *o.epochs);
  }
  if (parsed.count("out")) o.out = parsed["out"].as<std::string>();
  if (parsed.count("data-dir")) o.data_dir = parsed["data-dir"].as<std::string>();
  o.request.results_root = o.out ? std::filesystem::path(*o.out) : runs::default_results_root();
  o.dry_run = parsed.count("dry-run") > 0;
  o.sweep.overwrite = parsed.count("overwrite") > 0;
  o.sweep.skip_finished = parsed.count("skip-finished") > 0;
  o.sweep.resume = parsed.count("resume") > 0;
  o.sweep.save_checkpoint = parsed.count("save-checkpoint") > 0 || o.sweep.resume;
  if (o.sweep.overwrite && (o.sweep.skip_finished || o.sweep.resume))
    throw UsageError("--overwrite contradicts --skip-finished and --resume");
  o.sweep.data_dir = data::resolve_data_dir(o.data_dir).path;
  o.sweep.live_progress = train::ConsoleProgress::stdout_is_terminal();
  o.sweep.resume_cause = parallel::restart_cause_from_environment();
  o.threads = parsed["threads"].as<std::string>();
  return o;
}

void print_summary(const std::vector<sweep::SweepEntry>& done) {
  // The variant column is as wide as the longest name (grid names run long).
  size_t width = 28;
  for (const auto& entry : done) width = std::max(width, entry.run.variant.size());
  std::cout << fmt::format("\n{:<{}} {:>5}  {:<11} {:>6} {:>9} {:>9} {:>9}\n", "variant", width, "seed", "status",
                           "epochs", "val_acc", "best", "ms/step");
  for (const auto& [run, summary, skipped] : done) {
    const auto& last = summary.last_epoch;
    std::cout << fmt::format("{:<{}} {:>5}  {:<11} {:>6} {:>9} {:>9} {:>9}\n", run.variant, width, run.seed,
                             runs::to_string(summary.status), last ? std::to_string(last->epoch) : "-",
                             last ? fmt::format("{:.4f}", last->val_accuracy) : "-",
                             last ? fmt::format("{:.4f}", summary.best_val_accuracy) : "-",
                             last ? fmt::format("{:.3f}", last->ms_per_step) : "-");
    if (!summary.error.empty()) std::cout << fmt::format("    error: {}\n", summary.error);
  }
}

int exit_code_of(const std::vector<sweep::SweepEntry>& done) {
  bool failed = false;
  for (const auto& entry : done) {
    if (entry.summary.status == runs::RunStatus::kInterrupted) {
      std::cout << "interrupted: completed epochs are in metrics.csv; run.json says status interrupted\n";
      return kExitInterrupted;
    }
    failed = failed || entry.summary.status == runs::RunStatus::kFailed;
  }
  return failed ? kExitFailure : kExitOk;
}

}  // namespace

int run_run(const Args& args) {
  cxxopts::Options parser("bnlab run",
                          "Run a named experiment: every variant x seed, or those selected. Each run\n"
                          "writes results/<experiment>/<variant>/seed-<s>/{metrics.csv,run.json}.");
  parser.add_options()
      ("variant", "Run only this variant (repeatable)", cxxopts::value<std::vector<std::string>>(), "V")
      ("seed", "Run only this seed (repeatable)", cxxopts::value<std::vector<std::string>>(), "S")
      ("set", "Override a config key, e.g. train.lr=0.01 (repeatable; `bnlab show --keys`)",
       cxxopts::value<std::vector<std::string>>(), "KEY=VALUE")
      ("epochs", "Shorthand for --set train.epochs=N", cxxopts::value<int64_t>(), "N")
      ("out", "Results root (default: results/ or $BNLAB_RESULTS_DIR)", cxxopts::value<std::string>(), "DIR")
      ("data-dir", "Data directory (default: $BNLAB_DATA_DIR, else data/)", cxxopts::value<std::string>(), "DIR")
      ("dry-run", "Print one `bnlab run` command per run instead of running")
      ("overwrite", "Replace finished (completed or diverged) runs")
      ("skip-finished", "Keep finished runs and report them from their run.json")
      ("save-checkpoint", "Write checkpoint.pt (model, optimiser, position) after every epoch")
      ("resume", "Continue interrupted runs from checkpoint.pt; skip finished runs, start missing ones")
      ("name", "Experiment name or .toml path", cxxopts::value<std::string>());
  add_dist_options(parser);
  parser.parse_positional({"name"});
  parser.positional_help("NAME");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  const RunCommandOptions o = read_options(*parsed);

  std::vector<sweep::PlannedRun> runs;
  try {
    runs = sweep::plan_runs(experiments::load_experiment(o.experiment), o.request);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  if (o.dry_run) {
    for (const auto& run : runs) std::cout << dry_run_command(o, run) << "\n";
    return kExitOk;
  }
  const auto job = group_options(*parsed);
  try {
    sweep::runs_for_world_size(runs, job.world_size);  // before joining: every rank refuses alike
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  const auto group = parallel::Group::join(job);
  std::vector<sweep::SweepEntry> done;
  try {
    done = sweep::run_sweep(std::move(runs), o.sweep, group, std::cout);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  if (group->is_root()) print_summary(done);
  return exit_code_of(done);
}

}  // namespace bnlab::cli
