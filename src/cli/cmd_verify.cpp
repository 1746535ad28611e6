// bnlab verify [--cases N] [--seed S] [--dtype float32|float64|both] [--kernels K] [--isa ISA|all]
//              [--norm NORM|all]
// bnlab launch --nproc N -- verify --sync-bn
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "cli/errors.h"
#include "core/cpu.h"
#include "core/denormals.h"
#include "verify/equivalence.h"
#include "verify/tables.h"

namespace bnlab::cli {
namespace {

struct VerifyOptions {
  int cases = 24;
  uint64_t seed = 0;
  std::optional<torch::Dtype> dtype;  // nullopt: both
  std::vector<bn::Kernels> kernels = {bn::Kernels::kReference, bn::Kernels::kFused};
  std::vector<Isa> isas = supported_isas();  // the fused kernels' copies to run
  bool sync_bn = false;
  // Every norm, in enum_names order.
  std::vector<verify::NormUnderTest> norms = all_values<verify::NormUnderTest>();
};

constexpr const char* kShownQuantities[] = {"y", "dx", "dweight", "dbias", "running_mean", "running_var", "renorm_std"};

void print_header() {
  std::cout << fmt::format("{:>3}  {:<80} ", "#", "case (errors vs native: max abs/max rel)");
  for (const char* name : kShownQuantities) std::cout << fmt::format("{:<17} ", name);
  std::cout << fmt::format("{:<13} {}\n", "tol atol/rtol", "result");
}

void print_row(int index, const verify::CaseReport& report) {
  std::cout << fmt::format("{:>3}  {:<80} ", index, report.test_case.describe());
  for (const char* name : kShownQuantities) {
    const auto* q = report.find(name);
    const std::string cell =
        q->compared_steps == 0
            ? "-"
            : fmt::format("{:.1e}/{:.1e}{}", q->max_abs, q->max_rel, q->passed_by_accuracy() ? "*" : "");
    std::cout << fmt::format("{:<17} ", cell);
  }
  const auto tol = report.find("y")->tolerance;
  std::cout << fmt::format("{:<13} {}\n", fmt::format("{:.0e}/{:.0e}", tol.atol, tol.rtol),
                           report.pass() ? "PASS" : "FAIL");
}

// The quantities that differ from float32 native beyond tolerance but are
// closer to the float64 truth: say so, with the figures.
std::string accuracy_notes(int index, const verify::CaseReport& report) {
  std::string notes;
  for (const auto& q : report.quantities)
    if (q.passed_by_accuracy())
      notes +=
          fmt::format("  #{} {}: max abs distance to the float64 reference: ours {:.2e}, float32 reference {:.2e}\n",
                      index, q.name, *q.ours_vs_float64, *q.native_vs_float64);
  return notes;
}

// One report per case of the table, printed as a table; returns the exit code.
template <typename Compare>
int run_table(const std::vector<verify::EquivalenceCase>& table, uint64_t seed, bool print,
              const std::string& reference, Compare compare) {
  if (print) print_header();
  int failures = 0, index = 0;
  std::string failure_details, notes;
  for (const auto& test_case : table) {
    const auto report = compare(test_case, seed + index);
    ++index;
    if (print) print_row(index, report);
    notes += accuracy_notes(index, report);
    if (!report.pass()) {
      ++failures;
      failure_details += report.failure_summary();
    }
  }
  if (!print) return failures ? kExitFailure : kExitOk;
  std::cout << fmt::format("\n{} cases, {} passed, {} failed (reference: {})\n", index, index - failures, failures,
                           reference);
  if (!notes.empty())
    std::cout << "\n* beyond tolerance of the float32 reference, but closer than it to the reference run in\n"
                 "  float64 on the same inputs (the reference's own float32 rounding; counted as PASS):\n"
              << notes;
  if (failures) std::cout << "\nFailures:\n" << failure_details;
  return failures ? kExitFailure : kExitOk;
}

std::string isa_list(const std::vector<Isa>& isas) {
  std::vector<std::string> names;
  for (Isa isa : isas) names.push_back(to_name(isa));
  return fmt::format("{}", fmt::join(names, ", "));
}

// --isa: auto (BNLAB_ISA's copy when it is set, else all), all (every copy
// this CPU runs) or one copy's name, which the CPU must run.
std::vector<Isa> parse_isas(const std::string& text) {
  if (text == "auto") {
    if (const auto forced = isa_from_environment()) return {*forced};
    return supported_isas();
  }
  if (text == "all") return supported_isas();
  const auto isa = from_name<Isa>(text);
  if (!isa)
    throw UsageError(fmt::format("--isa: expected {}, all or auto, got '{}'", fmt::join(all_names<Isa>(), ", "), text));
  if (!cpu_supports(*isa))
    throw UsageError(fmt::format("--isa {}: this CPU lacks its instructions; it runs {}", text, supported_isa_list()));
  return {*isa};
}

int verify_sync_bn(const VerifyOptions& options, const cxxopts::ParseResult& parsed) {
  const auto group = parallel::Group::join(group_options(parsed));
  if (group->size() < 2)
    throw UsageError("--sync-bn compares across ranks: run it in a job, e.g. "
                     "`bnlab launch --nproc 2 -- verify --sync-bn`");
  if (group->is_root())
    std::cout << fmt::format(
        "sync BatchNorm on {} ranks vs bnlab BatchNorm in one process on the whole batch "
        "(fused kernel copies: {})\n",
        group->size(), isa_list(options.isas));
  return run_table(verify::for_each_kernels(verify::sync_cases(), options.kernels, options.isas), options.seed,
                   group->is_root(), "bnlab BatchNorm, one process, whole batch",
                   [&](const verify::EquivalenceCase& c, uint64_t seed) {
                     return verify::compare_sync_with_single(c, seed, group);
                   });
}

}  // namespace

int run_verify(const Args& args) {
  cxxopts::Options parser("bnlab verify",
                          "Compare bnlab's BatchNorm with torch::nn::BatchNorm1d/2d on random cases: outputs,\n"
                          "input/weight/bias gradients and running statistics, over several steps. Exits 1 on\n"
                          "any failure. A float32 quantity beyond tolerance still passes when it is closer to\n"
                          "float64 native BN than float32 native is (marked *): native's own rounding, e.g.\n"
                          "for the large-offset cases (mean 1e4, std 1e-2) that always run. The edge cases\n"
                          "always run too: NaN and Inf inputs, magnitudes up to the float maximum, empty\n"
                          "batches and channels-last input.");
  // clang-format off
  parser.add_options()
      ("cases", "Number of random cases", cxxopts::value<int>()->default_value("24"), "N")
      ("seed", "Seed of the case table and the data", cxxopts::value<uint64_t>()->default_value("0"), "S")
      ("dtype", "float32, float64 or both", cxxopts::value<std::string>()->default_value("both"), "T")
      ("kernels", "reference, fused or both", cxxopts::value<std::string>()->default_value("both"), "K")
      ("isa", "The fused kernels' compiled copies to run: avx512, avx2, portable, all (every copy this CPU "
              "runs) or auto (BNLAB_ISA's copy when it is set, else all)",
              cxxopts::value<std::string>()->default_value("auto"), "ISA")
      ("norm", "batch (BatchNorm against native), ghost (virtual batches against native BatchNorm on each "
               "in turn), renorm (Batch Renormalization against its tensor-op reference), group, layer, instance "
               "(bnlab's GroupNorm against LibTorch's GroupNorm, layer_norm, InstanceNorm) or all",
               cxxopts::value<std::string>()->default_value("all"), "NORM")
      ("sync-bn", "Instead: sync BatchNorm across the ranks of a job against one-process BatchNorm on the "
                  "whole batch (run under `bnlab launch --nproc N`)");
  // clang-format on
  add_dist_options(parser);
  auto parsed = parse_command(parser, args);
  if (!parsed) return kExitOk;
  // Equality with native includes its edge cases (magnitudes near float's
  // limits, whose steps pass through denormals): IEEE arithmetic unless the
  // user asks otherwise. Flushed, native and ours round those cases apart.
  if (!parsed->count("denormals")) set_denormals(Denormals::kKeep);

  VerifyOptions options;
  options.cases = (*parsed)["cases"].as<int>();
  options.seed = (*parsed)["seed"].as<uint64_t>();
  const auto dtype = (*parsed)["dtype"].as<std::string>();
  if (options.cases < 0) throw UsageError(fmt::format("--cases must be >= 0, got {}", options.cases));
  if (dtype == "float32") options.dtype = torch::kFloat32;
  else if (dtype == "float64") options.dtype = torch::kFloat64;
  else if (dtype != "both")
    throw UsageError(fmt::format("--dtype: expected float32, float64 or both, got '{}'", dtype));

  const auto kernels = (*parsed)["kernels"].as<std::string>();
  if (kernels != "both") {
    try {
      options.kernels = {bn::parse_kernels(kernels)};
    } catch (const std::invalid_argument& error) {
      throw UsageError(fmt::format("--kernels: {}", error.what()));
    }
  }
  options.isas = parse_isas((*parsed)["isa"].as<std::string>());
  const auto norm = (*parsed)["norm"].as<std::string>();
  if (norm != "all") {
    const auto chosen = from_name<verify::NormUnderTest>(norm);
    if (!chosen)
      throw UsageError(fmt::format("--norm: expected {} or all, got '{}'",
                                   fmt::join(all_names<verify::NormUnderTest>(), ", "), norm));
    options.norms = {*chosen};
  }
  if (parsed->count("sync-bn")) return verify_sync_bn(options, *parsed);
  std::cout << fmt::format("CPU: {}\nfused kernel copies: {} (this CPU runs {})\n", cpu_description(),
                           isa_list(options.isas), supported_isa_list());
  int exit_code = kExitOk;
  std::string verdicts;
  for (const auto which : options.norms) {
    const auto table =
        verify::verify_table(which, options.cases, options.seed, options.dtype, options.kernels, options.isas);
    std::cout << fmt::format("\n== {}: ours against {} ==\n", to_name(which), table.reference);
    const int code =
        run_table(table.cases, options.seed, true, table.reference,
                  [](const verify::EquivalenceCase& c, uint64_t seed) { return verify::compare_with_native(c, seed); });
    verdicts +=
        fmt::format("  {:<8} {} ({} cases)\n", to_name(which), code == kExitOk ? "PASS" : "FAIL", table.cases.size());
    if (code != kExitOk) exit_code = code;
  }
  std::cout << "\nverdict per norm:\n" << verdicts;
  return exit_code;
}

}  // namespace bnlab::cli
