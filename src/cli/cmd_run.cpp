// bnlab run NAME [--variant V]... [--seed S]... [--set key=value]... [--epochs N]
//                [--out DIR] [--dry-run] [--overwrite] [--data-dir DIR]
//                [--world-size N --rank R --master-addr H --master-port P]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/errors.h"
#include "core/text.h"
#include "data/data_dir.h"
#include "dist/group.h"
#include "experiments/run_plan.h"
#include "train/interrupt.h"
#include "train/progress.h"
#include "train/run_directory.h"
#include "train/runner.h"

namespace bnlab::cli {
namespace {

struct RunCommandOptions {
  std::string experiment;
  experiments::RunRequest request;
  std::vector<std::string> set_texts;  // as typed, for --dry-run
  std::optional<int64_t> epochs;
  std::optional<std::string> out, data_dir;
  bool dry_run = false, overwrite = false, skip_finished = false, resume = false, save_checkpoint = false;
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

std::string dry_run_command(const RunCommandOptions& o, const experiments::PlannedRun& run) {
  std::vector<std::string> words = {"bnlab", "run", o.experiment, "--variant", run.variant, "--seed",
                                    std::to_string(run.seed)};
  for (const auto& set : o.set_texts) words.insert(words.end(), {"--set", set});
  if (o.epochs) words.insert(words.end(), {"--epochs", std::to_string(*o.epochs)});
  if (o.out) words.insert(words.end(), {"--out", *o.out});
  if (o.data_dir) words.insert(words.end(), {"--data-dir", *o.data_dir});
  if (o.overwrite) words.push_back("--overwrite");
  if (o.skip_finished) words.push_back("--skip-finished");
  if (o.save_checkpoint) words.push_back("--save-checkpoint");
  if (o.resume) words.push_back("--resume");
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
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0)
      throw UsageError(fmt::format("--set: expected key=value, got '{}'", text));
    const std::string name = text.substr(0, equals);
    try {
      const auto& key = experiments::find_config_key(name);
      sets.emplace_back(name, experiments::parse_config_value(key, text.substr(equals + 1)));
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
      const int64_t value = parse_int(seed, "--seed");
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
  o.request.results_root = o.out ? std::filesystem::path(*o.out) : experiments::default_results_root();
  o.dry_run = parsed.count("dry-run") > 0;
  o.overwrite = parsed.count("overwrite") > 0;
  o.skip_finished = parsed.count("skip-finished") > 0;
  o.resume = parsed.count("resume") > 0;
  o.save_checkpoint = parsed.count("save-checkpoint") > 0 || o.resume;
  if (o.overwrite && (o.skip_finished || o.resume))
    throw UsageError("--overwrite contradicts --skip-finished and --resume");
  o.threads = parsed["threads"].as<std::string>();
  return o;
}

void print_summary(const std::vector<std::pair<experiments::PlannedRun, train::RunSummary>>& done) {
  std::cout << fmt::format("\n{:<28} {:>5}  {:<11} {:>6} {:>9} {:>9} {:>9}\n", "variant", "seed", "status",
                           "epochs", "val_acc", "best", "ms/step");
  for (const auto& [run, summary] : done) {
    const auto& last = summary.last_epoch;
    std::cout << fmt::format("{:<28} {:>5}  {:<11} {:>6} {:>9} {:>9} {:>9}\n", run.variant, run.seed,
                             summary.status, last ? std::to_string(last->epoch) : "-",
                             last ? fmt::format("{:.4f}", last->val_accuracy) : "-",
                             last ? fmt::format("{:.4f}", summary.best_val_accuracy) : "-",
                             last ? fmt::format("{:.3f}", last->ms_per_step) : "-");
    if (!summary.error.empty()) std::cout << fmt::format("    error: {}\n", summary.error);
  }
}

// A data-parallel job runs the runs meant for its world size (dist.world_size
// 0 means any).
std::vector<experiments::PlannedRun> runs_for_world_size(std::vector<experiments::PlannedRun> runs, int world_size,
                                                         bool speak) {
  std::vector<experiments::PlannedRun> kept;
  std::vector<std::string> other_sizes;
  for (auto& run : runs) {
    const int64_t wanted = run.config.dist.world_size;
    if (wanted == 0 || wanted == world_size) kept.push_back(std::move(run));
    else other_sizes.push_back(std::to_string(wanted));
  }
  if (kept.empty())
    throw UsageError(fmt::format("no selected run is meant for world size {} (their dist.world_size: {}); start the "
                                 "job with that many processes, e.g. `bnlab launch --nproc {} -- run ...`",
                                 world_size, join(other_sizes, ", "), other_sizes.front()));
  if (speak && !other_sizes.empty())
    std::cout << fmt::format("{} run(s) meant for another world size skipped (this job: {} process{})\n",
                             other_sizes.size(), world_size, world_size == 1 ? "" : "es");
  return kept;
}

// What to do with each run: rank 0 looks at the results folders (the other
// ranks may be on hosts without them) and tells the others.
enum RunAction : int64_t { kTrain = 0, kSkipFinished = 1 };

std::vector<int64_t> decide_runs(const std::vector<experiments::PlannedRun>& runs, const RunCommandOptions& o,
                                 const dist::Group& group) {
  std::vector<int64_t> actions(runs.size(), kTrain);
  std::string refusal;
  if (group.is_root()) {
    std::vector<std::string> finished;
    for (size_t i = 0; i < runs.size(); ++i)
      if (auto status = train::finished_run_status(runs[i].dir)) {
        if (o.skip_finished || o.resume) actions[i] = kSkipFinished;
        else if (!o.overwrite) finished.push_back(fmt::format("  {} ({})", runs[i].dir.string(), *status));
      }
    if (!finished.empty())
      refusal = fmt::format("{} run(s) already finished; pass --overwrite to replace them:\n{}", finished.size(),
                            join(finished, "\n"));
  }
  if (group.size() > 1) {
    actions.push_back(refusal.empty() ? 0 : 1);
    std::vector<torch::Tensor> shared = {torch::tensor(actions, torch::kInt64)};
    group.broadcast(shared, 0);
    actions.assign(shared[0].data_ptr<int64_t>(), shared[0].data_ptr<int64_t>() + shared[0].numel());
    const bool refused = actions.back() != 0;
    actions.pop_back();
    if (refused && !group.is_root())
      throw std::runtime_error("rank 0 refused to start: finished runs in the way (see rank 0's message)");
  }
  // Refuse before training anything, naming every finished run in the way.
  if (!refusal.empty()) throw std::runtime_error(refusal);
  return actions;
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

  std::vector<experiments::PlannedRun> runs;
  try {
    runs = experiments::plan_runs(experiments::load_experiment(o.experiment), o.request);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  if (o.dry_run) {
    for (const auto& run : runs) std::cout << dry_run_command(o, run) << "\n";
    return kExitOk;
  }

  const auto group = join_group(*parsed);
  const bool root = group->is_root();
  if (group->size() > 1 && (o.resume || o.save_checkpoint))
    throw UsageError("--save-checkpoint and --resume are not supported in data-parallel jobs");
  runs = runs_for_world_size(std::move(runs), group->size(), root);
  const std::vector<int64_t> actions = decide_runs(runs, o, *group);

  train::install_interrupt_handler();
  train::RunOptions options;
  options.overwrite = o.overwrite;
  options.save_checkpoint = o.save_checkpoint;
  options.data_dir = data::resolve_data_dir(o.data_dir).path;
  options.live_progress = train::ConsoleProgress::stdout_is_terminal();
  options.group = group;
  train::DatasetCache datasets;
  std::vector<std::pair<experiments::PlannedRun, train::RunSummary>> done;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    if (actions[i] == kSkipFinished) {
      if (root)
        std::cout << fmt::format("== {} / {} / seed {}: already finished in {}, skipped\n", run.experiment,
                                 run.variant, run.seed, run.dir.string());
      train::RunSummary skipped;
      skipped.status = "skipped";
      done.emplace_back(run, root ? train::summary_from_record(run.dir) : skipped);
      continue;
    }
    // --resume continues what has a checkpoint and starts the rest afresh.
    options.resume = o.resume && std::filesystem::exists(run.dir / "checkpoint.pt") &&
                     std::filesystem::exists(run.dir / "run.json");
    done.emplace_back(run, train::execute_run(run, options, datasets, std::cout));
    const std::string& status = done.back().second.status;
    if (status == "interrupted") break;
    // A failed rank leaves the others mid-collective: the job ends here.
    if (status == "failed" && group->size() > 1) {
      std::cerr << fmt::format("rank {}: run {} / {} / seed {} failed: {}\n", group->rank(), run.experiment,
                               run.variant, run.seed, done.back().second.error);
      break;
    }
  }
  if (root) print_summary(done);

  bool failed = false;
  for (const auto& [run, summary] : done) {
    if (summary.status == "interrupted") {
      std::cout << "interrupted: completed epochs are in metrics.csv; run.json says status interrupted\n";
      return kExitInterrupted;
    }
    failed = failed || summary.status == "failed";
  }
  return failed ? kExitFailure : kExitOk;
}

}  // namespace bnlab::cli
