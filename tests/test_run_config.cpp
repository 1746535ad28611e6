#include <catch2/catch.hpp>

#include "experiments/config_keys.h"
#include "experiments/resolve.h"

using namespace bnlab::experiments;
using Catch::Matchers::Contains;

TEST_CASE("defaults are the tutorial's and PyTorch's", "[config]") {
  const RunConfig config = resolved(RunConfig{});
  CHECK(config.data.dataset == "mnist");
  CHECK(config.model.hidden == std::vector<int64_t>{128, 64});
  CHECK(config.model.placement == bnlab::models::Placement::kBefore);
  CHECK(config.bn.eps == 1e-5);
  CHECK(config.bn.momentum == std::optional<double>(0.1));
  CHECK(config.train.optimizer == OptimizerKind::kAdam);
  CHECK(config.train.lr == 1e-3);
  CHECK(config.train.batch_size == 32);
}

TEST_CASE("the cnn resolves its own defaults", "[config]") {
  RunConfig config;
  apply_overrides(config, {{"model.arch", std::string("cnn")}});
  config = resolved(config);
  CHECK(config.model.hidden == std::vector<int64_t>{64});
  CHECK(config.model.placement == bnlab::models::Placement::kAfter);
}

TEST_CASE("unknown keys are rejected with a suggestion", "[config]") {
  REQUIRE_THROWS_WITH(find_config_key("model.nrom"), Contains("unknown key 'model.nrom'") &&
                                                        Contains("did you mean 'model.norm'"));
  REQUIRE_THROWS_WITH(find_config_key("lr"), Contains("did you mean 'train.lr'"));
  REQUIRE_THROWS_WITH(find_config_key("zzzzzzzzzzzz"), Contains("bnlab show --keys"));
}

TEST_CASE("values are type-checked and range-checked", "[config]") {
  RunConfig config;
  const auto [key, value, message] = GENERATE(table<std::string, ConfigValue, std::string>({
      {"train.lr", ConfigValue(-1.0), "train.lr: must be > 0, got -1"},
      {"train.lr", ConfigValue(std::string("fast")), "train.lr: expected a number, got \"fast\""},
      {"model.norm", ConfigValue(std::string("batch")),
       "must be one of none, native, custom, group, layer, instance, native-group, native-layer, native-instance, got "
       "\"batch\""},
      {"train.epochs", ConfigValue(int64_t(0)), "must be >= 1, got 0"},
      {"bn.momentum", ConfigValue(1.5), "must be in [0, 1] or \"none\", got 1.5"},
      {"model.dropout", ConfigValue(1.0), "must be in [0, 1), got 1"},
      {"model.hidden", ConfigValue(std::vector<int64_t>{128, 0}), "sizes must be >= 1, got 0"},
      {"bn.affine", ConfigValue(int64_t(1)), "expected true or false"},
  }));
  CAPTURE(key);
  REQUIRE_THROWS_WITH(apply_overrides(config, {{key, value}}), Contains(message));
}

namespace {
ConfigValue from_text(const std::string& key, const std::string& text) {
  return to_config_value(find_config_key(key), TextLiteral(text));
}
}  // namespace

TEST_CASE("command-line values parse by the key's type", "[config]") {
  CHECK(from_text("train.lr", "0.01") == ConfigValue(0.01));
  CHECK(from_text("bn.momentum", "none") == ConfigValue(NoneValue{}));
  CHECK(from_text("model.hidden", "256,128") == ConfigValue(std::vector<int64_t>{256, 128}));
  CHECK(from_text("model.hidden", "[8]") == ConfigValue(std::vector<int64_t>{8}));
  CHECK(from_text("bn.affine", "false") == ConfigValue(false));
  REQUIRE_THROWS_WITH(from_text("train.epochs", "ten"), Contains("expected an integer, got 'ten'"));
}

TEST_CASE("each key checks its own values as they are read, before any config is made", "[config]") {
  REQUIRE_THROWS_WITH(from_text("train.lr", "-1"), Contains("must be > 0, got -1"));
  REQUIRE_THROWS_WITH(from_text("model.norm", "batch"), Contains("must be one of none, native, custom, group"));
  REQUIRE_THROWS_WITH(from_text("model.placement", "middle"), Contains("must be one of auto, before, after"));
  CHECK(from_text("model.norm", "custom") == ConfigValue(std::string("custom")));
}

TEST_CASE("string choices become enums in the config, and read back as their names", "[config]") {
  RunConfig config;
  apply_overrides(config, {{"model.norm", ConfigValue(std::string("native"))},
                           {"train.schedule", ConfigValue(std::string("cosine"))}});
  CHECK(config.model.norm == bnlab::models::NormKind::kNative);
  CHECK(config.train.schedule == Schedule::kCosine);
  CHECK(find_config_key("model.norm").get(config) == ConfigValue(std::string("native")));
  CHECK(find_config_key("model.placement").get(config) == ConfigValue(std::string("auto")));
  CHECK(find_config_key("model.placement").get(resolved(config)) == ConfigValue(std::string("before")));
}

TEST_CASE("a preset applies before the keys set beside it", "[config]") {
  RunConfig config;
  // Listed after bn.eps, the preset still must not undo it.
  apply_overrides(config, {{"bn.eps", ConfigValue(1e-2)}, {"bn.preset", ConfigValue(std::string("keras"))}});
  CHECK(config.bn.eps == 1e-2);
  CHECK(config.bn.momentum == std::optional<double>(0.01));
  apply_overrides(config, {{"bn.momentum", ConfigValue(NoneValue{})}});
  CHECK_FALSE(config.bn.momentum.has_value());
}

TEST_CASE("cross-key validation: BatchNorm needs two samples per batch", "[config]") {
  RunConfig config;
  apply_overrides(config, {{"model.norm", ConfigValue(std::string("custom"))}, {"train.batch_size", ConfigValue(int64_t(1))}});
  REQUIRE_THROWS_WITH(validate(resolved(config)), Contains("needs at least 2 samples per batch, got 1"));
}

TEST_CASE("cross-key validation: Ghost BatchNorm's virtual batches", "[config][ghost]") {
  const auto config_with = [](std::string norm, int64_t virtual_batch, int64_t batch, std::string arch = "mlp") {
    RunConfig config;
    apply_overrides(config, {{"model.norm", ConfigValue(std::move(norm))},
                             {"model.arch", ConfigValue(std::move(arch))},
                             {"bn.virtual_batch_size", ConfigValue(virtual_batch)},
                             {"train.batch_size", ConfigValue(batch)}});
    return resolved(config);
  };
  CHECK_NOTHROW(validate(config_with("custom", 32, 256)));
  CHECK_NOTHROW(validate(config_with("none", 32, 256)));         // no BatchNorm: moot
  CHECK_NOTHROW(validate(config_with("custom", 1, 64, "cnn")));  // one sample still has H*W values
  REQUIRE_THROWS_WITH(validate(config_with("native", 32, 256)),
                      Contains("bn.virtual_batch_size = 32 needs bnlab's BatchNorm") && Contains("\"native\""));
  REQUIRE_THROWS_WITH(validate(config_with("custom", 32, 65)),
                      Contains("bn.virtual_batch_size = 32 with train.batch_size = 65 leaves a virtual batch of one"));
  REQUIRE_THROWS_WITH(validate(config_with("custom", 1, 64)), Contains("leaves a virtual batch of one sample"));
  auto sync = config_with("custom", 32, 256);
  apply_overrides(sync, {{"bn.mode", ConfigValue(std::string("sync"))}});
  REQUIRE_THROWS_WITH(validate(sync), Contains("virtual batches are one rank's") && Contains("choose one"));
  REQUIRE_THROWS_WITH(apply_overrides(sync, {{"bn.virtual_batch_size", ConfigValue(int64_t(-1))}}),
                      Contains("bn.virtual_batch_size"));
}

TEST_CASE("cross-key validation: Batch Renormalization", "[config][renorm]") {
  const auto config_with = [](std::string norm, Overrides more = {}) {
    RunConfig config;
    apply_overrides(config, {{"model.norm", ConfigValue(std::move(norm))}, {"bn.renorm", ConfigValue(true)}});
    apply_overrides(config, more);
    return resolved(config);
  };
  CHECK_NOTHROW(validate(config_with("custom")));
  CHECK_NOTHROW(validate(config_with("none")));  // no BatchNorm: moot
  REQUIRE_THROWS_WITH(validate(config_with("native")),
                      Contains("bn.renorm = true needs bnlab's BatchNorm") && Contains("\"native\""));
  REQUIRE_THROWS_WITH(validate(config_with("custom", {{"bn.virtual_batch_size", ConfigValue(int64_t(8))}})),
                      Contains("bn.renorm = true with bn.virtual_batch_size = 8 is not supported"));
  RunConfig config;
  REQUIRE_THROWS_WITH(apply_overrides(config, {{"bn.renorm_rmax", ConfigValue(0.5)}}),
                      Contains("bn.renorm_rmax") && Contains("must be a finite number >= 1, got 0.5"));
  REQUIRE_THROWS_WITH(apply_overrides(config, {{"bn.renorm_rmin", ConfigValue(0.0)}}),
                      Contains("must be in (0, 1] or \"none\", got 0"));
  REQUIRE_THROWS_WITH(apply_overrides(config, {{"bn.renorm_averages", ConfigValue(std::string("moving"))}}),
                      Contains("must be one of inference, separate, got \"moving\""));
  apply_overrides(config, {{"bn.renorm_rmin", ConfigValue(NoneValue{})}});
  CHECK_FALSE(config.bn.renorm_rmin);
}
