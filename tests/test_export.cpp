// bnlab export: the state_dict PyTorch-Python loads. The oracle is Debian's
// python3-torch (the same PyTorch 1.13): scripts/bnlab_torch.py builds the
// run's nn.Sequential, loads the file strictly and evaluates it on the test
// split; its accuracy must be the run's final val_accuracy to 1e-4 (one
// image in 10,000: float32 sums in another order could flip a near-tie).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/process.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

const std::string kPython = "/usr/bin/python3";  // Debian's, with python3-torch (not a user's own python3)
const std::string kChecker = std::string(BNLAB_SOURCE_DIR) + "/scripts/bnlab_torch.py";

bnlab::ProcessResult check_in_python(const fs::path& run, const fs::path& pth) {
  return bnlab::run_process({kPython, kChecker, run.string(), pth.string()});
}

}  // namespace

TEST_CASE("bnlab export writes a state_dict that PyTorch-Python loads and evaluates to the run's accuracy",
          "[export][python][cli]") {
  REQUIRE(bnlab::run_process({kPython, "-c", "import torch"}).exit_code == 0);  // scripts/setup.sh installs it
  bnlab::test::TempDir out;
  // One epoch on 6000 MNIST images: a real model in seconds. The CNN runs
  // BatchNorm2d, max-pool and Dropout-free Keras layout; the MLP both BNs.
  const auto [experiment, variant] = GENERATE(table<std::string, std::string>(
      {{"keras-mlp", "bn-custom"}, {"keras-mlp", "bn-native"}, {"keras-cnn", "bn-custom"}}));
  CAPTURE(experiment, variant);
  auto run = bnlab::test::run_bnlab({"run", experiment, "--variant", variant, "--epochs", "1", "--set",
                                     "data.train_subset=6000", "--out", out.path().string()});
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const fs::path run_dir = out / experiment / variant / "seed-0";
  const fs::path pth = out / "model.pth";
  auto exported = bnlab::test::run_bnlab({"export", run_dir.string(), "-o", pth.string()});
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  CHECK_THAT(exported.output, Contains("wrote") && Contains("tensors"));
  const auto python = check_in_python(run_dir, pth);
  INFO(python.output);
  CHECK(python.exit_code == 0);
  CHECK_THAT(python.output, Contains("within 0.0001"));
}

TEST_CASE("the Python check is seen to fail, and export keeps an existing file", "[export][python][cli]") {
  bnlab::test::TempDir out;
  auto train = [&](const std::string& epochs, const fs::path& root) {
    return bnlab::test::run_bnlab({"run", "keras-mlp", "--variant", "bn-custom", "--epochs", epochs, "--set",
                                   "data.train_subset=6000", "--out", root.string()});
  };
  REQUIRE(train("1", out / "one").exit_code == 0);
  REQUIRE(train("2", out / "two").exit_code == 0);
  const fs::path one = out / "one" / "keras-mlp" / "bn-custom" / "seed-0";
  const fs::path two = out / "two" / "keras-mlp" / "bn-custom" / "seed-0";
  const fs::path pth = out / "one.pth";
  REQUIRE(bnlab::test::run_bnlab({"export", one.string(), "-o", pth.string()}).exit_code == 0);
  // The one-epoch model checked against the two-epoch run's recorded accuracy.
  const auto wrong = check_in_python(two, pth);
  INFO(wrong.output);
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.output, Contains("beyond"));
  CHECK(bnlab::test::run_bnlab({"export", one.string(), "-o", pth.string()}).exit_code == 2);
  CHECK(bnlab::test::run_bnlab({"export", one.string(), "-o", pth.string(), "--overwrite"}).exit_code == 0);
}

TEST_CASE("bnlab export refuses what is not a completed run, with exit 2", "[export][cli]") {
  bnlab::test::TempDir out;
  const auto missing = bnlab::test::run_bnlab({"export", (out / "nowhere").string(), "-o", (out / "x.pth").string()});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Contains("no run.json"));
  const auto no_output = bnlab::test::run_bnlab({"export", out.path().string()});
  CHECK(no_output.exit_code == 2);
  CHECK_THAT(no_output.output, Contains("-o FILE.pth"));
  CHECK_FALSE(fs::exists(out / "x.pth"));
}

TEST_CASE("bnlab export names run.json and the field of a damaged last stage, with exit 1", "[export][cli]") {
  bnlab::test::TempDir out;
  const auto [stage, message] = GENERATE(table<std::string, std::string>({
      {"", "stages: none listed"},
      {"3", "stages' last entry: expected an object, got 3"},
      {R"({"name": "a"})", "stages' last entry has no config"},
      {R"({"name": 7, "config": {}})", "name: expected a string, got 7"},
      {R"({"config": {"model.conv_channels": [2.5]}})", "model.conv_channels: expected an integer"},
  }));
  std::ofstream(out / "run.json") << R"({"status": "completed", "stages": [)" << stage << "]}";
  const auto result = bnlab::test::run_bnlab({"export", out.path().string(), "-o", (out / "x.pth").string()});
  CHECK(result.exit_code == 1);  // a corrupt file (README, exit codes)
  CHECK_THAT(result.output, Contains("run.json: not a bnlab run record: " + message));
  CHECK_FALSE(fs::exists(out / "x.pth"));
}
