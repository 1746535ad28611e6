// bnlab fold RUN_DIR [--overwrite] [--data-dir DIR]
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/errors.h"
#include "data/data_dir.h"
#include "sweep/fold_run.h"

namespace bnlab::cli {

int run_fold(const Args& args) {
  cxxopts::Options parser("bnlab fold",
                          "Fold every BatchNorm layer of a finished run's model into the Linear or Conv next to it\n"
                          "(docs/fold.md), check the folded model against the unfolded one on the test split\n"
                          "(logits within 1e-5 relative, identical accuracy) and write RUN_DIR/model-folded.pt,\n"
                          "which a model of the same config with model.norm = \"none\" loads. Prints eval ms per\n"
                          "batch before and after. Exit 2 when a layer cannot be folded (it is named).");
  parser.add_options()("overwrite", "Replace an existing model-folded.pt")(
      "data-dir", "Data directory (default: $BNLAB_DATA_DIR, else data/ in the bnlab source tree)",
      cxxopts::value<std::string>(), "DIR")("run", "Run folder", cxxopts::value<std::string>());
  parser.parse_positional({"run"});
  parser.positional_help("RUN_DIR");
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  if (!parsed->count("run")) throw UsageError("missing run folder (results/<experiment>/<variant>/seed-<s>)");

  sweep::FoldRunOptions options;
  options.run_dir = (*parsed)["run"].as<std::string>();
  options.overwrite = parsed->count("overwrite") > 0;
  options.data_dir = data::resolve_data_dir(parsed->count("data-dir")
                                                ? std::optional<std::string>((*parsed)["data-dir"].as<std::string>())
                                                : std::nullopt)
                         .path;
  const sweep::FoldRunReport report = sweep::fold_run(options);
  for (const auto& step : report.steps) std::cout << "folded " << step << "\n";
  std::cout << fmt::format(
      "test split ({} samples): max |logit difference| {:.3g} ({:.3g} of the largest |logit|); accuracy {:.4f} "
      "unfolded, "
      "{:.4f} folded\n",
      report.test_samples, report.max_abs_logit_difference, report.max_relative_logit_difference,
      report.accuracy_unfolded, report.accuracy_folded);
  std::cout << fmt::format("eval ms per batch of {} (median): {:.3f} unfolded, {:.3f} folded ({:.2f}x)\n",
                           options.eval_batch, report.ms_per_batch_unfolded, report.ms_per_batch_folded,
                           report.ms_per_batch_unfolded / report.ms_per_batch_folded);
  std::cout << fmt::format("wrote {}\n", report.written.string());
  return kExitOk;
}

}  // namespace bnlab::cli
