// bnlab export RUN_DIR -o FILE.pth [--overwrite]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "sweep/export_run.h"

namespace bnlab::cli {

int run_export(const Args& args) {
  cxxopts::Options parser(
      "bnlab export",
      "Write a finished run's trained model as a PyTorch state_dict that Python's torch.load reads,\n"
      "keyed as the torch.nn.Sequential scripts/bnlab_torch.py builds from the run's run.json\n"
      "(docs/export.md). Batch Renorm's training-time averages are left out (named).");
  parser.add_options()("o,output", "The .pth file to write", cxxopts::value<std::string>(), "FILE")(
      "overwrite", "Replace an existing FILE")("run", "Run folder", cxxopts::value<std::string>());
  parser.parse_positional({"run"});
  parser.positional_help("RUN_DIR -o FILE.pth");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  if (!parsed->count("run")) throw UsageError("missing run folder (results/<experiment>/<variant>/seed-<s>)");
  if (!parsed->count("output")) throw UsageError("missing -o FILE.pth (the file to write)");

  sweep::ExportRunOptions options;
  options.run_dir = (*parsed)["run"].as<std::string>();
  options.output = (*parsed)["output"].as<std::string>();
  options.overwrite = parsed->count("overwrite") > 0;
  const sweep::ExportRunReport report = sweep::export_run(options);
  for (const auto& dropped : report.dropped) std::cout << "left out " << dropped << "\n";
  std::cout << fmt::format("wrote {}: {} tensors, {} values, {} bytes\n", report.written.string(), report.keys.size(),
                           report.values, report.bytes);
  return kExitOk;
}

}  // namespace bnlab::cli
