// Folding BatchNorm for inference (models/fold.h, bnlab fold): the folded
// model computes what the unfolded one does in eval mode, for every
// placement and BatchNorm variant the models have; the refusals name the
// layer.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "models/fold.h"
#include "models/model.h"
#include "models/norm.h"
#include "support/cli_runner.h"
#include "support/read_files.h"
#include "support/temp_dir.h"
#include "support/tensor_matchers.h"
#include "train/checkpoint.h"

using namespace bnlab::models;
using bnlab::test::AllClose;
using bnlab::test::run_bnlab;
using Catch::Matchers::Contains;

namespace {

// Running statistics and affine parameters away from 1/0, gamma > 0 unless
// asked otherwise (a max-pool after BN needs positive scales).
void randomise_batch_norms(torch::nn::Sequential& model, double gamma_sign = 1) {
  torch::NoGradGuard no_grad;
  for (auto& bn : batch_norm_layers(*model)) {
    bn.running_mean.copy_(torch::randn(bn.running_mean.sizes()));
    bn.running_var.copy_(torch::rand(bn.running_var.sizes()) + 0.3);
    bn.weight.copy_(gamma_sign * (torch::rand(bn.weight.sizes()) + 0.5));
    bn.bias.copy_(torch::randn(bn.bias.sizes()));
  }
}

ModelOptions options_for(Arch arch, NormKind kind, Placement placement) {
  ModelOptions o;
  o.arch = arch;
  o.hidden = {24, 12};
  o.conv_channels = arch == Arch::kCnn ? std::vector<int64_t>{6, 8} : std::vector<int64_t>{};
  o.norm.kind = kind;
  o.placement = placement;
  return o;
}

}  // namespace

TEST_CASE("folded BatchNorm computes what BatchNorm did, for every placement", "[fold]") {
  const auto [arch, kind, placement] = GENERATE(table<Arch, NormKind, Placement>({
      {Arch::kMlp, NormKind::kCustom, Placement::kBefore},  // BN+ReLU fused: into the Linear before it
      {Arch::kMlp, NormKind::kNative, Placement::kAfter},   // into the Linear after it
      {Arch::kCnn, NormKind::kNative, Placement::kAfter},   // through max-pool and flatten
      {Arch::kCnn, NormKind::kCustom, Placement::kBefore},  // into the conv before it
      {Arch::kMlp, NormKind::kCustom, Placement::kAfter},   // ReLU+BN fused: not into the Linear before it
      {Arch::kCnn, NormKind::kCustom,
       Placement::kAfter},  // ReLU+BN+max-pool fused: through its pool, not into the conv
  }));
  CAPTURE(bnlab::to_name(arch), bnlab::to_name(kind), bnlab::to_name(placement));
  torch::manual_seed(3);
  auto options = options_for(arch, kind, placement);
  if (kind == NormKind::kCustom) options.norm.renorm = bnlab::bn::RenormOptions();  // infers like BN
  auto model = build_model(options);
  randomise_batch_norms(model);
  model->eval();
  auto folded = fold_batch_norms(model, options);
  CHECK(folded.steps.size() == batch_norm_layers(*model).size());
  CHECK(batch_norm_layers(*folded.model).empty());
  const auto x = torch::randn({16, 1, 28, 28});
  torch::NoGradGuard no_grad;
  // float32, the same products in another order: a few ulps of O(1) logits.
  CHECK_THAT(folded.model->forward(x), AllClose(model->forward(x), 1e-5, 1e-5));
}

TEST_CASE("folding refuses what it cannot fold exactly, naming the layer", "[fold]") {
  SECTION("a negative scale before a max-pool: a pool layer, or the pool inside bnlab's BN (bn.fuse_pool)") {
    const auto [kind, pool] = GENERATE(table<NormKind, std::string>(
        {{NormKind::kNative, "norm1: followed by the max-pool pool1"},
         {NormKind::kCustom, "norm1: followed by the max-pool inside it"}}));
    auto options = options_for(Arch::kCnn, kind, Placement::kAfter);
    auto model = build_model(options);
    randomise_batch_norms(model, -1);
    REQUIRE_THROWS_WITH(fold_batch_norms(model, options), Contains(pool) && Contains("every scale is positive"));
  }
  SECTION("group norms, whose statistics are each sample's") {
    auto options = options_for(Arch::kMlp, NormKind::kLayer, Placement::kBefore);
    auto model = build_model(options);
    REQUIRE_THROWS_WITH(fold_batch_norms(model, options),
                        Contains("model.norm = \"layer\"") && Contains("only BatchNorm folds"));
  }
}

TEST_CASE("bnlab fold checks and writes model-folded.pt, and never overwrites it unasked", "[fold][cli]") {
  bnlab::test::TempDir out;
  REQUIRE(
      run_bnlab({"run", "smoke", "--variant", "bn-custom", "--epochs", "1", "--out", out.path().string()}).exit_code ==
      0);
  const auto run = out / "smoke" / "bn-custom" / "seed-0";
  auto result = run_bnlab({"fold", run.string()});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("folded norm1 into dense1") && Contains("eval ms per batch"));
  // The folded file loads into the same model without normalisation.
  auto plain = options_for(Arch::kMlp, NormKind::kNone, Placement::kBefore);
  plain.hidden = {32, 16};
  auto model = build_model(plain);
  CHECK_NOTHROW(bnlab::train::load_model(run / "model-folded.pt", *model));
  CHECK(run_bnlab({"fold", run.string()}).exit_code == 2);
  CHECK(run_bnlab({"fold", run.string(), "--overwrite"}).exit_code == 0);
  const auto bad = run_bnlab({"fold", (out / "nowhere").string()});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Contains("no run.json"));
}

TEST_CASE("bnlab fold refuses a group-norm run with exit 2", "[fold][cli]") {
  bnlab::test::TempDir out;
  REQUIRE(run_bnlab({"run", "smoke", "--variant", "bn-custom", "--epochs", "1", "--set", "model.norm=layer", "--out",
                     out.path().string()})
              .exit_code == 0);
  const auto result = run_bnlab({"fold", (out / "smoke" / "bn-custom" / "seed-0").string()});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains("cannot fold") && Contains("only BatchNorm folds"));
}
