#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "bn/batch_norm.h"
#include "experiments/model_options.h"
#include "experiments/resolve.h"
#include "models/model.h"
#include "models/norm.h"

using namespace bnlab;
using experiments::ConfigValue;

namespace {

experiments::RunConfig config_with(const experiments::Overrides& overrides) {
  experiments::RunConfig config;
  experiments::apply_overrides(config, overrides);
  return experiments::resolved(config);
}

models::ModelOptions options_with(const experiments::Overrides& overrides) {
  return experiments::model_options(config_with(overrides));
}

torch::nn::Sequential model_with(const experiments::Overrides& overrides) {
  return models::build_model(options_with(overrides));
}

std::vector<std::string> layer_names(torch::nn::Sequential& model) {
  std::vector<std::string> names;
  for (const auto& child : model->named_children()) names.push_back(child.key());
  return names;
}

// The model as configured (a fusion switch on, its default) and with the
// boolean config key `off` set to false, from the same seed.
std::pair<torch::nn::Sequential, torch::nn::Sequential> built_with_and_without(experiments::Overrides overrides,
                                                                               const std::string& off) {
  const auto on_config = options_with(overrides);
  overrides.emplace_back(off, false);
  const auto off_config = options_with(overrides);
  torch::manual_seed(5);
  auto on = models::build_model(on_config);
  torch::manual_seed(5);
  return {on, models::build_model(off_config)};
}

// The model's layer names but those starting with prefix.
std::vector<std::string> names_without(torch::nn::Sequential& model, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& name : layer_names(model))
    if (name.rfind(prefix, 0) != 0) names.push_back(name);
  return names;
}

int count_batch_norms(torch::nn::Sequential& model) {
  int count = 0;
  for (const auto& m : model->modules(false)) count += models::is_batch_norm(*m);
  return count;
}

// Five SGD steps of two models built alike (same seed), on the same
// batches: every parameter and buffer stays bit-identical.
void check_train_alike(torch::nn::Sequential& fused, torch::nn::Sequential& separate) {
  torch::optim::SGD fused_sgd(fused->parameters(), 0.1), separate_sgd(separate->parameters(), 0.1);
  for (int step = 0; step < 5; ++step) {
    auto images = torch::rand({16, 1, 28, 28});
    auto labels = torch::randint(10, {16});
    for (auto [model, sgd] : {std::pair{&fused, &fused_sgd}, std::pair{&separate, &separate_sgd}}) {
      sgd->zero_grad();
      torch::nn::functional::cross_entropy((*model)->forward(images), labels).backward();
      sgd->step();
    }
  }
  const auto fused_params = fused->named_parameters(), separate_params = separate->named_parameters();
  REQUIRE(fused_params.size() == separate_params.size());
  for (const auto& item : separate_params) {
    CAPTURE(item.key());
    CHECK(torch::equal(fused_params[item.key()], item.value()));
  }
  for (const auto& item : separate->named_buffers()) {
    CAPTURE(item.key());
    CHECK(torch::equal(fused->named_buffers()[item.key()], item.value()));
  }
}

}  // namespace

TEST_CASE("every switch combination builds a model with 10 logits", "[models]") {
  const std::string arch = GENERATE("mlp", "cnn");
  const std::string norm = GENERATE("none", "native", "custom");
  const std::string placement = GENERATE("before", "after");
  const std::string activation = GENERATE("relu", "sigmoid", "tanh");
  const double dropout = GENERATE(0.0, 0.3);
  const std::string init = GENERATE("pytorch", "glorot");
  const auto options = options_with({{"model.arch", arch},
                                     {"model.norm", norm},
                                     {"model.placement", placement},
                                     {"model.activation", activation},
                                     {"model.dropout", dropout},
                                     {"model.init", init}});
  auto model = models::build_model(options);
  auto logits = model->forward(torch::rand({4, 1, 28, 28}));
  CHECK(logits.sizes() == torch::IntArrayRef{4, 10});
  // One normalisation layer per block: a block per conv layer (cnn) and per hidden Dense layer.
  const size_t blocks = options.hidden.size() + (arch == "cnn" ? options.conv_channels.size() : 0);
  CHECK(blocks == 2);  // the tutorials' defaults: mlp Dense 128, 64; cnn Conv 32, Dense 64
  CHECK(count_batch_norms(model) == (norm == "none" ? 0 : int(blocks)));
}

TEST_CASE("the default MLP is the tutorial's 784-128-64-10 with BN before ReLU", "[models]") {
  auto model = model_with({{"model.norm", std::string("native")}});
  CHECK(layer_names(model) == std::vector<std::string>{"flatten", "dense1", "norm1", "act1", "dense2",
                                                       "norm2", "act2", "logits"});
  // 784*128+128 + 2*128 + 128*64+64 + 2*64 + 64*10+10
  CHECK(models::count_parameters(*model) == 100480 + 256 + 8256 + 128 + 650);
}

TEST_CASE("bnlab's BN next to a ReLU is one layer, with the same results", "[models][relu]") {
  // bn.fuse_relu (default on) folds each block's ReLU into its BatchNorm
  // layer: the ReLU after BN (placement before) or before it (placement
  // after). The Function-level tests show the two compute bit-identical
  // values, so training the two models must stay bit-identical too.
  const auto [arch, placement] = GENERATE(table<std::string, std::string>({
      {"mlp", "before"},  // Linear-BN-ReLU
      {"mlp", "after"},   // Linear-ReLU-BN
      {"cnn", "after"},   // Conv-ReLU-BN-MaxPool, the tutorial's CNN
  }));
  CAPTURE(arch, placement);
  experiments::Overrides overrides = {
      {"model.norm", std::string("custom")}, {"model.arch", arch}, {"model.placement", placement}};
  REQUIRE(models::fuses_relu(options_with(overrides)));
  auto [fused, separate] = built_with_and_without(overrides, "bn.fuse_relu");
  const auto without_act = names_without(separate, "act");
  CHECK(layer_names(fused) == without_act);
  CHECK(without_act.size() < layer_names(separate).size());
  for (const auto& child : fused->named_children()) {
    const auto* norm = child.value()->as<bn::BatchNormImpl>();
    if (!norm) continue;
    CAPTURE(child.key());
    CHECK(norm->options.relu() == (placement == "before"));
    CHECK(norm->options.relu_input() == (placement == "after"));
  }

  check_train_alike(fused, separate);
}

TEST_CASE("BN and a ReLU stay separate layers where they are not next to each other", "[models][relu]") {
  CHECK_FALSE(models::fuses_relu(options_with({{"model.norm", std::string("native")}})));
  CHECK_FALSE(models::fuses_relu(
      options_with({{"model.norm", std::string("custom")}, {"model.activation", std::string("tanh")}})));
  // Linear-ReLU-Dropout-BN: the dropout sits between them.
  const auto between = options_with({{"model.norm", std::string("custom")},
                                     {"model.placement", std::string("after")},
                                     {"model.dropout", 0.25},
                                     {"model.dropout_placement", std::string("before-norm")}});
  CHECK_FALSE(models::fuses_relu(between));
  auto model = models::build_model(between);
  CHECK(layer_names(model) == std::vector<std::string>{"flatten", "dense1", "act1", "dropout1", "norm1", "dense2",
                                                       "act2", "dropout2", "norm2", "logits"});
  // Logging BatchNorm internals does not change the architecture.
  CHECK(models::fuses_relu(options_with({{"model.norm", std::string("custom")}, {"log.bn_stats_every", int64_t(4)}})));
}

TEST_CASE("the default CNN is Conv-ReLU-BN-MaxPool-Flatten-Dense-ReLU-BN-Dense", "[models]") {
  auto model = model_with({{"model.arch", std::string("cnn")}, {"model.norm", std::string("native")}});
  CHECK(layer_names(model) == std::vector<std::string>{"conv1", "act1", "norm1", "pool1", "flatten",
                                                       "dense2", "act2", "norm2", "logits"});
  CHECK(model->named_children()[2].value()->as<torch::nn::BatchNorm2dImpl>() != nullptr);
  CHECK(model->named_children()[7].value()->as<torch::nn::BatchNorm1dImpl>() != nullptr);
  const auto summary = models::model_summary(model);
  CHECK_THAT(summary[4], Catch::Matchers::Contains("(5408)"));  // 32 x 13 x 13
}

TEST_CASE("dropout follows each hidden block", "[models]") {
  auto model = model_with(
      {{"model.dropout", 0.5}, {"model.placement", std::string("after")}, {"model.norm", std::string("native")}});
  CHECK(layer_names(model) == std::vector<std::string>{"flatten", "dense1", "act1", "norm1", "dropout1",
                                                       "dense2", "act2", "norm2", "dropout2", "logits"});
}

TEST_CASE("glorot init and BN gamma/beta init are applied", "[models]") {
  auto model = model_with({{"model.init", std::string("glorot")},
                           {"model.norm", std::string("custom")},
                           {"bn.gamma_init", 0.25},
                           {"bn.beta_init", -1.0}});
  auto dense = model->named_children()[1].value()->as<torch::nn::LinearImpl>();
  CHECK(dense->bias.abs().max().item<float>() == 0.0f);
  // glorot_uniform bound sqrt(6 / (784 + 128)) = 0.0811
  CHECK(dense->weight.abs().max().item<float>() <= 0.0812f);
  CHECK(dense->weight.abs().max().item<float>() > 0.07f);
  auto norm = model->named_children()[2].value()->as<bn::BatchNormImpl>();
  CHECK(torch::equal(norm->weight, torch::full({128}, 0.25)));
  CHECK(torch::equal(norm->bias, torch::full({128}, -1.0)));
}

TEST_CASE("BN options reach both implementations", "[models]") {
  auto norm = options_with({{"bn.preset", std::string("keras")}, {"bn.affine", false}}).norm;
  norm.kind = models::NormKind::kCustom;
  auto custom = std::dynamic_pointer_cast<bn::BatchNormImpl>(models::make_norm(norm, 8, 0).ptr());
  REQUIRE(custom);
  CHECK(custom->options.eps() == 1e-3);
  CHECK(custom->options.momentum() == c10::optional<double>(0.01));
  CHECK_FALSE(custom->options.affine());
  norm.kind = models::NormKind::kNative;
  auto native = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(models::make_norm(norm, 8, 2).ptr());
  REQUIRE(native);
  CHECK(native->options.eps() == 1e-3);
  CHECK(native->options.momentum() == c10::optional<double>(0.01));
}

TEST_CASE("bnlab's BN before a max-pool is one layer, with the same results", "[models][pool]") {
  // bn.fuse_pool (default on) puts each conv block's max-pool inside its
  // BatchNorm layer when BN is the last thing before it: after the ReLU
  // (placement after), or with the ReLU after it fused (placement before).
  const auto placement = GENERATE(as<std::string>{}, "after", "before");
  CAPTURE(placement);
  experiments::Overrides overrides = {{"model.norm", std::string("custom")},
                                      {"model.arch", std::string("cnn")},
                                      {"model.placement", placement},
                                      {"model.conv_channels", std::vector<int64_t>{8, 16}}};
  REQUIRE(models::fuses_pool(options_with(overrides)));
  auto [fused, separate] = built_with_and_without(overrides, "bn.fuse_pool");
  const auto without_pool = names_without(separate, "pool");
  CHECK(layer_names(fused) == without_pool);
  CHECK(without_pool.size() + 2 == layer_names(separate).size());
  CHECK(fused->named_children()[1].value()->as<bn::BatchNormImpl>()->options.max_pool_2x2());
  CHECK_THAT(models::model_summary(fused)[1], Catch::Matchers::Contains("(8, 13, 13)"));
  check_train_alike(fused, separate);
}

TEST_CASE("BN and a max-pool stay separate layers where they are not next to each other", "[models][pool]") {
  // Conv-BN-tanh-MaxPool: the activation sits between them; native BN has no pool inside.
  CHECK_FALSE(models::fuses_pool(options_with({{"model.norm", std::string("custom")},
                                               {"model.arch", std::string("cnn")},
                                               {"model.placement", std::string("before")},
                                               {"model.activation", std::string("tanh")}})));
  auto model = model_with({{"model.norm", std::string("native")}, {"model.arch", std::string("cnn")}});
  CHECK(layer_names(model)[3] == "pool1");
}
