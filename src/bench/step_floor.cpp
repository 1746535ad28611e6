#include "bench/step_floor.h"

#include "bench/timing.h"

namespace bnlab::bench {
namespace {

// A Linear layer's GEMMs; x: (N, in), W: (out, in), dy: (N, out).
GemmStep::Layer linear_gemms(const torch::nn::LinearImpl& linear, const torch::Tensor& input, bool needs_dx) {
  auto x = torch::randn_like(input);                   // (N, in)
  auto w = torch::randn_like(linear.weight);           // (out, in)
  auto dy = torch::randn({input.size(0), w.size(0)});  // (N, out)
  return {[=] { torch::mm(x, w.t()); },                // y = x W^T
          [=] {
            torch::mm(dy.t(), x);            // dW = dy^T x
            if (needs_dx) torch::mm(dy, w);  // dx = dy W
          }};
}

// The padding of a convolution with numeric padding (bnlab's models have no "same"/"valid" modes).
std::vector<int64_t> padding_of(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto& padding = c10::get<torch::ExpandingArray<2>>(o.padding());
  return {padding->begin(), padding->end()};
}

// A Conv2d layer's convolutions; x: (N, C, H, W), W: (K, C, kh, kw).
GemmStep::Layer conv_gemms(const torch::nn::Conv2dImpl& conv, const torch::Tensor& input, bool needs_dx) {
  const auto& o = conv.options;
  const std::vector<int64_t> stride(o.stride()->begin(), o.stride()->end()),
      padding = padding_of(o), dilation(o.dilation()->begin(), o.dilation()->end());
  auto x = torch::randn_like(input);                                                // (N, C, H, W)
  auto w = torch::randn_like(conv.weight);                                          // (K, C, kh, kw)
  auto dy = torch::randn_like(torch::conv2d(x, w, {}, stride, padding, dilation));  // (N, K, H', W')
  return {[=] { torch::conv2d(x, w, {}, stride, padding, dilation); },
          [=] {
            at::convolution_backward(dy, x, w, c10::nullopt, stride, padding, dilation, false, {0, 0}, o.groups(),
                                     {needs_dx, true, false});
          }};
}

}  // namespace

OptimizerTraffic optimizer_traffic(const experiments::TrainConfig& train, int64_t parameters) {
  // Adam: parameters, gradients and two moments; reads all four, writes
  // three. SGD: parameters and gradients (and momentum), read; parameters
  // (and momentum) written.
  const bool adam = train.optimizer == experiments::OptimizerKind::kAdam;
  const bool momentum = !adam && train.momentum > 0;
  const int arrays = adam ? 4 : momentum ? 3 : 2;
  const int moved = adam ? 7 : momentum ? 5 : 3;
  const double bytes_per_array = double(parameters) * sizeof(float);
  return {arrays * bytes_per_array, moved * bytes_per_array};
}

GemmStep::GemmStep(torch::nn::Sequential& model, const std::vector<int64_t>& input_shape, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> shape = input_shape;
  shape.insert(shape.begin(), batch_size);
  auto x = torch::zeros(shape);
  const bool was_training = model->is_training();
  model->eval();  // shapes only: no BN statistics or dropout draws change
  for (auto& layer : *model) {
    const bool needs_dx = !layers_.empty();  // the data needs no gradient
    if (auto* linear = layer.ptr()->as<torch::nn::Linear>()) layers_.push_back(linear_gemms(*linear, x, needs_dx));
    if (auto* conv = layer.ptr()->as<torch::nn::Conv2d>()) layers_.push_back(conv_gemms(*conv, x, needs_dx));
    x = layer.forward(x);
  }
  model->train(was_training);
}

void GemmStep::run() {
  for (auto& layer : layers_) layer.forward();
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) it->backward();
}

}  // namespace bnlab::bench
