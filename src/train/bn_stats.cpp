#include "train/bn_stats.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "bn/batch_norm.h"
#include "models/norm.h"
#include "pool/max_pool.h"
#include "train/rng_state.h"

namespace bnlab::train {
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// Per-layer inputs and outputs of one forward pass, by layer name.
struct Capture {
  std::map<std::string, torch::Tensor> inputs, outputs;
};

// bnlab's BatchNorm computing a ReLU inside, after or before it
// (models::fuses_relu), or the max-pool after it (models::fuses_pool), or null.
bn::BatchNormImpl* fused_norm(torch::nn::AnyModule& layer) {
  auto* norm = dynamic_cast<bn::BatchNormImpl*>(layer.ptr().get());
  return norm && (norm->options.relu() || norm->options.relu_input() || norm->options.max_pool_2x2()) ? norm : nullptr;
}

// Turns a layer's fused ReLUs and max-pool off until destroyed.
class FusedOpsOff {
 public:
  explicit FusedOpsOff(bn::BatchNormImpl& norm)
      : norm_(norm),
        relu_(norm.options.relu()),
        relu_input_(norm.options.relu_input()),
        max_pool_(norm.options.max_pool_2x2()) {
    norm_.options.relu(false).relu_input(false).max_pool_2x2(false);
  }
  ~FusedOpsOff() { norm_.options.relu(relu_).relu_input(relu_input_).max_pool_2x2(max_pool_); }
  FusedOpsOff(const FusedOpsOff&) = delete;
  FusedOpsOff& operator=(const FusedOpsOff&) = delete;

 private:
  bn::BatchNormImpl& norm_;
  bool relu_, relu_input_, max_pool_;
};

// A layer's output, where a BatchNorm layer's output is BN's alone, of its
// input as a separate act layer would pass it: a fused ReLU or max-pool is
// left out, so that the statistics read the same values fused as not.
torch::Tensor norm_output(torch::nn::AnyModule& layer, const torch::Tensor& x) {
  auto* norm = fused_norm(layer);
  if (!norm) return layer.forward(x);
  const FusedOpsOff off(*norm);
  return norm->forward(x);
}

// Inputs and outputs of every layer; a BatchNorm layer normK with a ReLU
// or max-pool fused shows as normK, a ReLU actK and a pool poolK, in their
// order, as the separate layers would.
Capture forward_capturing(torch::nn::Sequential& model, torch::Tensor x) {
  Capture capture;
  const auto children = model->named_children();
  size_t index = 0;
  auto record = [&](const std::string& name, const auto& layer_forward) {
    capture.inputs[name] = x;
    x = layer_forward(x);
    capture.outputs[name] = x;
  };
  auto relu = [](const torch::Tensor& input) { return torch::relu(input); };
  for (auto& layer : *model) {
    const std::string& name = children[index++].key();
    const auto* fused = fused_norm(layer);
    const std::string block = fused ? name.substr(std::string("norm").size()) : "";
    if (fused && fused->options.relu_input()) record("act" + block, relu);
    record(name, [&](const torch::Tensor& input) { return norm_output(layer, input); });
    if (fused && fused->options.relu()) record("act" + block, relu);
    if (fused && fused->options.max_pool_2x2()) record("pool" + block, pool::max_pool_2x2);
  }
  return capture;
}

torch::Tensor forward_layer(torch::nn::Sequential& model, const std::string& wanted, const torch::Tensor& x) {
  const auto children = model->named_children();
  size_t index = 0;
  for (auto& layer : *model)
    if (children[index++].key() == wanted) return norm_output(layer, x);
  throw std::logic_error("no layer " + wanted);
}

// Per-channel values of a (N,C) or (N,C,H,W) activation, averaged over all
// but C: over this rank's x, or with `group` over every rank's (the batch
// sync BN normalises; float64 sums, then E[x^2] - mean^2).
std::pair<torch::Tensor, torch::Tensor> channel_mean_var(const torch::Tensor& x, const parallel::Group* group) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  if (!group || group->size() == 1) return {x.mean(dims), x.var(dims, /*unbiased=*/false)};
  const auto x64 = x.to(torch::kFloat64);
  const double count = double(x.numel() / x.size(1));
  auto sums = torch::stack(
      {x64.sum(dims), x64.square().sum(dims), torch::full({x.size(1)}, count, torch::kFloat64)});  // (3, C)
  group->all_reduce_sum(sums);
  const auto mean = sums[0] / sums[2];  // (C,)
  return {mean, sums[1] / sums[2] - mean.square()};
}

std::pair<double, double> avg_spread(const torch::Tensor& per_channel) {
  if (!per_channel.defined()) return {kMissing, kMissing};
  auto values = per_channel.to(torch::kFloat64);
  return {values.mean().item<double>(), values.numel() > 1 ? values.std().item<double>() : 0.0};
}

double percentile_of_sorted(const torch::Tensor& sorted, double q) {
  const double position = q * double(sorted.numel() - 1);
  const int64_t below = static_cast<int64_t>(std::floor(position));
  const int64_t above = std::min<int64_t>(below + 1, sorted.numel() - 1);
  const double weight = position - below;
  return (1 - weight) * sorted[below].item<double>() + weight * sorted[above].item<double>();
}

// The i-th per-channel quantity's name: bn_stats.csv's "<name>_avg" column,
// less "_avg" (the columns start with step, epoch, block, then avg/std pairs).
std::string quantity_name(size_t i) {
  const std::string& column = runs::bn_stats_columns().at(3 + 2 * i);
  return column.substr(0, column.size() - std::string("_avg").size());
}

std::vector<double> values_of(const torch::Tensor& tensor) {
  auto flat = tensor.detach().to(torch::kFloat64).contiguous().reshape({-1});
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

// Saves BN buffers and the generator, restores them when destroyed.
class StateGuard {
 public:
  explicit StateGuard(torch::nn::Module& model) : rng_(cpu_rng_state()) {
    for (auto& buffer : model.buffers()) saved_.emplace_back(buffer, buffer.clone());
  }
  ~StateGuard() {
    torch::NoGradGuard no_grad;
    for (auto& [buffer, copy] : saved_) buffer.copy_(copy);
    restore_cpu_rng_state(rng_);
  }

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;
  torch::Tensor rng_;
};

}  // namespace

BnStatsLogger::BnStatsLogger(const std::filesystem::path* csv, int64_t every, bool append) : every_(every) {
  if (csv) csv_.emplace(*csv, runs::bn_stats_columns(), append);
}

void BnStatsLogger::log(torch::nn::Sequential& model, int64_t global_step, int64_t epoch, const data::Batch& batch,
                        runs::EventWriter* events, const parallel::Group* batch_group) {
  std::vector<std::pair<std::string, std::vector<double>>> histograms;
  torch::NoGradGuard no_grad;
  Capture capture;
  std::map<std::string, torch::Tensor> eval_outputs;
  std::map<std::string, models::BatchNormLayer> layers;
  for (auto& layer : models::batch_norm_layers(*model)) layers.emplace(layer.name, layer);
  {
    StateGuard guard(*model);  // the probe's BN updates and dropout draws are undone here
    capture = forward_capturing(model, batch.images);
  }
  for (auto& [name, layer] : layers) {
    // Same input, eval mode: isolates what switching modes does to this layer.
    const bool was_training = layer.module->is_training();
    layer.module->eval();
    eval_outputs[name] = forward_layer(model, name, capture.inputs[name]);
    layer.module->train(was_training);
  }
  for (int block = 1;; ++block) {
    const std::string act = fmt::format("act{}", block), norm = fmt::format("norm{}", block);
    if (!capture.inputs.count(act)) break;
    std::vector<double> row = {double(global_step), double(epoch), double(block)};
    auto found = layers.find(norm);
    if (found != layers.end()) {
      const auto& layer = found->second;
      auto [batch_mean, batch_var] = channel_mean_var(capture.inputs[norm], batch_group);
      const std::vector<torch::Tensor> per_channel = {batch_mean,        batch_var,    layer.running_mean,
                                                      layer.running_var, layer.weight, layer.bias};
      for (size_t i = 0; i < per_channel.size(); ++i) {
        auto [avg, spread] = avg_spread(per_channel[i]);
        row.push_back(avg);
        row.push_back(spread);
        if (per_channel[i].defined())
          histograms.emplace_back(fmt::format("bn/block{}/{}", block, quantity_name(i)), values_of(per_channel[i]));
      }
    } else {
      row.insert(row.end(), 12, kMissing);
    }
    // Unit 0 (channel 0 for convolutions) of the activation's input, over the batch.
    auto unit = std::get<0>(capture.inputs[act].select(1, 0).reshape({-1}).to(torch::kFloat64).sort());
    histograms.emplace_back(fmt::format("bn/block{}/unit0_input", block), values_of(unit));
    row.push_back(percentile_of_sorted(unit, 0.15));
    row.push_back(percentile_of_sorted(unit, 0.50));
    row.push_back(percentile_of_sorted(unit, 0.85));
    row.push_back(found != layers.end() && eval_outputs[norm].defined()
                      ? (capture.outputs[norm] - eval_outputs[norm]).abs().mean().item<double>()
                      : kMissing);
    if (csv_) csv_->write_row(row);
  }
  if (events) events->histograms(global_step, histograms);
}

}  // namespace bnlab::train
