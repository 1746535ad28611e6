#include <catch2/catch.hpp>
#include <fstream>

#include "experiments/catalog.h"
#include "experiments/experiment.h"
#include "support/temp_dir.h"
#include "sweep/plan.h"

using namespace bnlab::experiments;
using bnlab::sweep::plan_runs;
using bnlab::sweep::RunRequest;
using Catch::Matchers::Contains;

namespace {

std::filesystem::path write_toml(const bnlab::test::TempDir& dir, const std::string& text,
                                 const std::string& name = "exp") {
  const auto path = dir / (name + ".toml");
  std::ofstream(path) << text;
  return path;
}

const char* kValid = R"(
description = "two variants"
seeds = [1, 2]
[base]
train.epochs = 3
model.hidden = [16]
[variants.a]
model.norm = "none"
[variants.b]
model.norm = "custom"
train.lr = 0.01
)";

}  // namespace

TEST_CASE("an experiment file loads with base, variants and seeds", "[experiments]") {
  bnlab::test::TempDir dir;
  const auto experiment = load_experiment_file(write_toml(dir, kValid));
  CHECK(experiment.name == "exp");
  CHECK(experiment.seeds == std::vector<int64_t>{1, 2});
  REQUIRE(experiment.variants.size() == 2);
  const auto b = experiment.config_for(experiment.variant("b"));
  CHECK(b.model.norm == bnlab::models::NormKind::kCustom);
  CHECK(b.train.lr == 0.01);
  CHECK(b.train.epochs == 3);
  CHECK(b.model.hidden == std::vector<int64_t>{16});
  REQUIRE_THROWS_WITH(experiment.variant("c"), Contains("no variant 'c'") && Contains("a, b"));
}

TEST_CASE("bad experiment files name file, line, key and reason", "[experiments]") {
  bnlab::test::TempDir dir;
  const auto [text, message] = GENERATE(table<std::string, std::string>({
      {"description = \"x\"\n[base]\nmodel.nrom = \"none\"\n", "exp.toml:3: base: unknown key 'model.nrom' (did you mean 'model.norm'?)"},
      {"description = \"x\"\n[variants.a]\ntrain.lr = \"fast\"\n", "exp.toml:3: variants.a: train.lr: expected a number, got \"fast\""},
      {"description = \"x\"\n[variants.a]\ntrain.lr = -0.1\n", "exp.toml:3: variants.a: train.lr: must be > 0, got -0.1"},
      {"description = \"x\"\n[base]\ntrain.epochs = 2.5\n", "train.epochs: expected an integer, got 2.5"},
      {"description = \"x\"\nseeds = [1, 1]\n", "seed 1 listed twice"},
      {"description = \"x\"\nseeds = []\n", "seeds: expected a non-empty list"},
      {"description = \"x\"\nvariant = 1\n", "unknown top-level key"},
      {"[base]\ntrain.epochs = 2\n", "description: missing"},
      {"description = \"x\"\n[base\n", "TOML syntax error"},
      {"description = \"x\"\n[base]\nmodel.norm = \"custom\"\ntrain.batch_size = 1\n", "base: train.batch_size: BatchNorm"},
  }));
  CAPTURE(text);
  REQUIRE_THROWS_WITH(load_experiment_file(write_toml(dir, text)), Contains(message));
}

TEST_CASE("run planning: variants x seeds with --set applied last", "[experiments]") {
  bnlab::test::TempDir dir;
  const auto experiment = load_experiment_file(write_toml(dir, kValid));
  RunRequest request;
  request.results_root = "/r";
  SECTION("everything") {
    const auto runs = plan_runs(experiment, request);
    REQUIRE(runs.size() == 4);
    CHECK(runs[3].dir == "/r/exp/b/seed-2");
  }
  SECTION("selected, with overrides") {
    request.variants = {"b"};
    request.seeds = {7};
    request.sets = {{"train.lr", ConfigValue(0.5)}};
    const auto runs = plan_runs(experiment, request);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].seed == 7);
    CHECK(runs[0].config.train.lr == 0.5);
  }
  SECTION("a bad override names the variant") {
    request.sets = {{"train.batch_size", ConfigValue(int64_t(1))}};
    REQUIRE_THROWS_WITH(plan_runs(experiment, request), Contains("variant b: train.batch_size"));
  }
}

TEST_CASE("every shipped experiment loads, and the tutorial pair compares the same variants", "[experiments]") {
  // What the files hold is theirs to say; what the code promises of them is
  // that they load, that the MLP and CNN tutorials can be read side by side,
  // and that the test suite's smoke experiment exists.
  const auto all = load_all_experiments(experiments_dir());
  std::map<std::string, const Experiment*> by_name;
  for (const auto& e : all) by_name[e.name] = &e;
  REQUIRE(by_name.count("keras-mlp"));
  REQUIRE(by_name.count("keras-cnn"));
  REQUIRE(by_name.count("smoke"));
  auto names = [&](const char* experiment) {
    std::vector<std::string> variants;
    for (const auto& v : by_name[experiment]->variants) variants.push_back(v.name);
    return variants;
  };
  CHECK(names("keras-mlp") == names("keras-cnn"));
}

TEST_CASE("the keras preset is Keras' defaults", "[experiments][config]") {
  bnlab::test::TempDir dir;
  const auto e = load_experiment_file(write_toml(dir, "description = \"k\"\n[base]\nbn.preset = \"keras\"\n"));
  const auto keras = e.config_for(e.variants.front());
  CHECK(keras.bn.eps == 1e-3);
  CHECK(keras.bn.momentum == std::optional<double>(0.01));
}

TEST_CASE("a grid expands into readable variants, crossed with named ones", "[experiments][grid]") {
  bnlab::test::TempDir dir;
  SECTION("grid alone: first key outermost") {
    const auto e = load_experiment_file(write_toml(dir, R"(
description = "g"
[grid]
train.lr = [0.1, 0.01]
model.norm = ["none", "custom"]
"model.hidden" = [[8], [16, 8]]
)"));
    REQUIRE(e.variants.size() == 8);
    CHECK(e.variants[0].name == "lr=0.1,norm=none,hidden=8");
    CHECK(e.variants[7].name == "lr=0.01,norm=custom,hidden=16-8");
    CHECK(e.config_for(e.variants[7]).model.hidden == std::vector<int64_t>{16, 8});
  }
  SECTION("named variants x grid") {
    const auto e = load_experiment_file(write_toml(dir, R"(
description = "g"
[variants.sgd]
train.optimizer = "sgd"
[variants.adam]
[grid]
"train.momentum" = [0.0, 0.9]
"bn.momentum" = [0.1, "none"]
)"));
    REQUIRE(e.variants.size() == 8);
    // "momentum" is ambiguous (train., bn.), so the full key names the axis.
    CHECK(e.variants[0].name == "sgd,train.momentum=0,bn.momentum=0.1");
    CHECK(e.variants[7].name == "adam,train.momentum=0.9,bn.momentum=none");
  }
  SECTION("bad grid values name the line") {
    REQUIRE_THROWS_WITH(load_experiment_file(write_toml(dir, "description = \"g\"\n[grid]\ntrain.lr = [0.1, -1]\n")),
                        Contains("exp.toml:3: grid: train.lr: must be > 0, got -1"));
    REQUIRE_THROWS_WITH(load_experiment_file(write_toml(dir, "description = \"g\"\n[grid]\ntrain.lr = 0.1\n")),
                        Contains("expected a non-empty list"));
  }
}

TEST_CASE("stages parse with their actions and accumulate overrides", "[experiments][stages]") {
  bnlab::test::TempDir dir;
  const auto e = load_experiment_file(write_toml(dir, R"(
description = "s"
[base]
train.epochs = 4
[[variants.v.stages]]
name = "a"
dataset = "mnist"
[[variants.v.stages]]
name = "b"
dataset = "fashion-mnist"
trainable = "bn"
bn_stats = "frozen"
[[variants.v.stages]]
name = "c"
action = "recalibrate"
)"));
  const auto stages = e.stages_for(e.variant("v"), {{"train.lr", ConfigValue(0.5)}});
  REQUIRE(stages.size() == 3);
  CHECK(stages[1].spec.trainable == bnlab::models::ParamGroup::kBn);
  CHECK(stages[1].spec.freeze_bn_stats);
  CHECK(stages[2].spec.action == StageAction::kRecalibrate);
  CHECK(stages[2].config.data.dataset == "fashion-mnist");  // inherited from b
  CHECK(stages[2].config.train.lr == 0.5);                  // --set reaches every stage
  const auto [text, message] = GENERATE(table<std::string, std::string>({
      {"[[variants.v.stages]]\nname = \"a\"\naction = \"dance\"\n",
       "action: must be one of train, recalibrate, evaluate"},
      {"[[variants.v.stages]]\nname = \"a\"\n[[variants.v.stages]]\nname = \"a\"\n", "stage name 'a' used twice"},
      {"[[variants.v.stages]]\ndataset = \"mnist\"\n", "every stage needs a name"},
      // Stage names label metrics.csv rows: a comma would split the row.
      {"[[variants.v.stages]]\nname = \"a,b\"\n", "every stage needs a name (letters, digits, - _ .)"},
      {"[[variants.v.stages]]\nname = \"a\"\nmodel.nrom = \"x\"\n", "unknown key 'model.nrom'"},
  }));
  REQUIRE_THROWS_WITH(load_experiment_file(write_toml(dir, "description = \"s\"\n" + text)), Contains(message));
}
