// bnlab data fetch|verify|info [DATASET...]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "core/progress_line.h"
#include "data/catalog.h"
#include "data/data_dir.h"
#include "data/dataset.h"
#include "data/fetch.h"

namespace bnlab::cli {
namespace {

struct DataOptions {
  std::string action;                 // fetch, verify, info
  std::vector<std::string> datasets;  // empty or "all": every data set
  data::DataDir data_dir;
};

std::vector<const data::DatasetSpec*> selected(const std::vector<std::string>& names) {
  try {
    return data::select_datasets(names);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
}

void print_data_dir(const data::DataDir& dir) {
  std::cout << fmt::format("data dir: {} (from {})\n", dir.path.string(), dir.origin);
}

int fetch(const DataOptions& options) {
  print_data_dir(options.data_dir);
  const auto specs = selected(options.datasets);
  ProgressLine progress(std::cout, ProgressLine::stderr_is_terminal(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    progress.begin(i, "data fetch " + specs[i]->name);
    data::fetch_dataset(*specs[i], options.data_dir.path, progress.log());
  }
  return kExitOk;
}

// Prints one line per file; returns true when every file verified.
bool report_check(const data::DatasetCheck& check) {
  for (const auto& file : check.files)
    std::cout << fmt::format("  {:<26} {:<6} {}\n", file.spec->filename,
                             file.state == data::FileState::kOk ? "OK" : "FAIL", file.detail);
  if (check.ok()) {
    std::cout << fmt::format("{}: verified\n", check.spec->name);
    return true;
  }
  std::cout << fmt::format("{}: NOT verified; run `{}`\n", check.spec->name,
                           check.spec->fetch_command());
  return false;
}

int verify(const DataOptions& options) {
  print_data_dir(options.data_dir);
  bool all_ok = true;
  for (const auto* spec : selected(options.datasets)) {
    std::cout << fmt::format("{} ({})\n", spec->name,
                             data::dataset_path(*spec, options.data_dir.path).string());
    all_ok = report_check(data::verify_dataset(*spec, options.data_dir.path)) && all_ok;
  }
  return all_ok ? kExitOk : kExitFailure;
}

int info(const DataOptions& options) {
  print_data_dir(options.data_dir);
  for (const auto* spec : selected(options.datasets)) {
    const auto check = data::verify_dataset(*spec, options.data_dir.path);
    std::cout << fmt::format("\n{}: {}\n  folder: {}\n  splits: {} train / {} test, {} classes\n",
                             spec->name, spec->summary,
                             data::dataset_path(*spec, options.data_dir.path).string(),
                             spec->train_count, spec->test_count, spec->num_classes);
    if (!check.ok()) {
      std::cout << fmt::format("  status: not verified; run `{}`\n", spec->fetch_command());
      continue;
    }
    const auto stats =
        data::describe_split(data::load_dataset(spec->name, options.data_dir.path).train, spec->num_classes);
    std::cout << fmt::format(
        "  status: verified\n  train pixels: mean {:.4f}, std {:.4f}\n  train labels per class: {}\n", stats.pixel_mean,
        stats.pixel_std, fmt::join(stats.labels_per_class, " "));
  }
  return kExitOk;
}

}  // namespace

int run_data(const Args& args) {
  cxxopts::Options parser("bnlab data",
                          "Fetch, verify and describe data sets.\n\n"
                          "  bnlab data fetch  [mnist|fashion-mnist|all]   get and verify (default all)\n"
                          "  bnlab data verify [mnist|fashion-mnist|all]   check sizes and MD5s\n"
                          "  bnlab data info   [mnist|fashion-mnist|all]   describe what is there\n");
  parser.add_options()
      ("data-dir", "Data directory (default: $BNLAB_DATA_DIR, else data/ in the bnlab source tree)",
       cxxopts::value<std::string>(), "DIR")
      ("action", "fetch, verify or info", cxxopts::value<std::string>())
      ("datasets", "data sets", cxxopts::value<std::vector<std::string>>());
  parser.parse_positional({"action", "datasets"});
  parser.positional_help("fetch|verify|info [DATASET...]");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;

  DataOptions options;
  if (!parsed->count("action")) throw UsageError("missing action: fetch, verify or info");
  options.action = (*parsed)["action"].as<std::string>();
  if (parsed->count("datasets")) options.datasets = (*parsed)["datasets"].as<std::vector<std::string>>();
  options.data_dir = data::resolve_data_dir(
      parsed->count("data-dir") ? std::optional<std::string>((*parsed)["data-dir"].as<std::string>())
                                : std::nullopt);
  if (options.action == "fetch") return fetch(options);
  if (options.action == "verify") return verify(options);
  if (options.action == "info") return info(options);
  throw UsageError(fmt::format("unknown action '{}': expected fetch, verify or info", options.action));
}

}  // namespace bnlab::cli
