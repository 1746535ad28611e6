// bnlab show NAME | bnlab show --keys
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "experiments/catalog.h"
#include "experiments/config_keys.h"

namespace bnlab::cli {
namespace {

void print_keys() {
  const experiments::RunConfig defaults;
  std::cout << "Config keys (experiment files and --set key=value):\n\n";
  for (const auto& key : experiments::config_keys()) {
    std::cout << fmt::format("  {:<22} {:<18} default {}\n", key.name, experiments::type_name(key.type),
                             experiments::to_string(key.get(defaults)));
    std::cout << fmt::format("  {:<22} {}{}\n", "", key.help,
                             key.choices.empty() ? "" : fmt::format(" [{}]", fmt::join(key.choices, "|")));
  }
}

// One column per variant, one row per key; keys that differ across
// variants are marked so the contrast of the experiment stands out.
void print_configs(const experiments::Experiment& experiment) {
  std::vector<std::vector<std::pair<std::string, std::string>>> columns;
  for (const auto& variant : experiment.variants)
    columns.push_back(experiments::describe(experiment.config_for(variant)));
  const auto& keys = columns.front();
  size_t width = 12;
  for (const auto& variant : experiment.variants) width = std::max(width, variant.name.size() + 2);
  for (const auto& column : columns)
    for (const auto& [key, value] : column) width = std::max(width, value.size() + 2);

  std::cout << fmt::format("  {:<24}", "key");
  for (const auto& variant : experiment.variants) std::cout << fmt::format("{:<{}}", variant.name, width);
  std::cout << "\n";
  for (size_t row = 0; row < keys.size(); ++row) {
    bool differs = false;
    for (const auto& column : columns) differs = differs || column[row].second != columns[0][row].second;
    std::cout << fmt::format("{} {:<24}", differs ? "*" : " ", keys[row].first);
    for (const auto& column : columns) std::cout << fmt::format("{:<{}}", column[row].second, width);
    std::cout << "\n";
  }
  std::cout << "\n* differs between variants\n";
}

}  // namespace

int run_show(const Args& args) {
  cxxopts::Options parser("bnlab show", "Show an experiment's resolved configs, or every config key.");
  parser.add_options()
      ("keys", "List every config key with its type, default and meaning")
      ("name", "Experiment name or .toml path", cxxopts::value<std::string>());
  parser.parse_positional({"name"});
  parser.positional_help("NAME");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;

  if (parsed->count("keys")) {
    print_keys();
    return kExitOk;
  }
  if (!parsed->count("name")) throw UsageError("missing experiment name (see `bnlab list`), or --keys");
  experiments::Experiment experiment;
  try {
    experiment = experiments::load_experiment((*parsed)["name"].as<std::string>());
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  std::cout << fmt::format("{} ({})\n\n{}\n\nseeds: {}\n\n", experiment.name, experiment.file.string(),
                           experiment.description, fmt::join(experiment.seeds, ", "));
  print_configs(experiment);
  return kExitOk;
}

}  // namespace bnlab::cli
