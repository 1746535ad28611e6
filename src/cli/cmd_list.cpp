// bnlab list
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "experiments/catalog.h"

namespace bnlab::cli {

int run_list(const Args& args) {
  cxxopts::Options parser("bnlab list", "List the named experiments in experiments/ (or $BNLAB_EXPERIMENTS_DIR).");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;

  const auto dir = experiments::experiments_dir();
  const auto all = experiments::load_all_experiments(dir);
  std::cout << fmt::format("{} experiments in {}\n\n", all.size(), dir.string());
  for (const auto& experiment : all) {
    std::vector<std::string> variants;
    for (const auto& v : experiment.variants) variants.push_back(v.name);
    const std::string first_line = experiment.description.substr(0, experiment.description.find('\n'));
    std::cout << fmt::format("{}\n  {}\n  variants ({}): {}\n  seeds: {}  ->  {} runs\n\n", experiment.name,
                             first_line, variants.size(), fmt::join(variants, ", "),
                             fmt::join(experiment.seeds, ", "), variants.size() * experiment.seeds.size());
  }
  return kExitOk;
}

}  // namespace bnlab::cli
