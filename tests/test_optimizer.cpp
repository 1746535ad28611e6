#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "core/cpu.h"
#include "support/tensor_matchers.h"
#include "train/fused_adam.h"
#include "train/optimizer.h"

using namespace bnlab;
using bnlab::test::AllClose;

namespace {

// Parameters of a few shapes, including one whose length is not a multiple
// of the vector width (the loops' scalar tails) and one left without a
// gradient (skipped, as torch::optim::Adam skips it).
std::vector<torch::Tensor> make_parameters(torch::ScalarType dtype) {
  torch::manual_seed(7);
  return {torch::randn({37, 11}, dtype).requires_grad_(), torch::randn({5}, dtype).requires_grad_(),
          torch::randn({64}, dtype).requires_grad_()};
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// The same gradient sequence for both optimisers: a fixed function of the
// parameters, so that differences would compound if the updates differed.
void set_gradients(const std::vector<torch::Tensor>& parameters, int step) {
  for (size_t i = 0; i + 1 < parameters.size(); ++i) {
    const auto& p = parameters[i];
    p.mutable_grad() = (p.detach() * 0.3 + std::sin(double(step + int(i)))).sin();
  }
}

}  // namespace

TEST_CASE("FusedAdam follows torch::optim::Adam step for step", "[optim]") {
  const auto isa = GENERATE(from_range(supported_isas()));  // every compiled copy this CPU runs
  const auto dtype = GENERATE(torch::kFloat32, torch::kFloat64);
  const double weight_decay = GENERATE(0.0, 0.01);
  const bool amsgrad = GENERATE(false, true);
  CAPTURE(to_name(isa), dtype, weight_decay, amsgrad);
  const ScopedIsa copy(isa);
  const auto options = torch::optim::AdamOptions(3e-3).weight_decay(weight_decay).amsgrad(amsgrad);
  auto ours = make_parameters(dtype);
  auto theirs = copies(ours);
  train::FusedAdam fused(ours, options);
  torch::optim::Adam reference(theirs, options);
  for (int step = 0; step < 30; ++step) {
    set_gradients(ours, step);
    set_gradients(theirs, step);
    fused.step();
    reference.step();
  }
  // 30 updates of lr 3e-3 move each value by up to ~0.1; ATen fuses some of
  // the same operations into FMAs and divides where we multiply, a few
  // roundings per step: float32 agrees to ~1e-6 relative, float64 to ~1e-14.
  const double rtol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
  for (size_t i = 0; i < ours.size(); ++i) REQUIRE_THAT(ours[i], AllClose(theirs[i], rtol, rtol));
  CHECK(torch::equal(ours.back(), theirs.back()));  // never had a gradient
}

TEST_CASE("FusedAdam state saves and loads as torch::optim::Adam's", "[optim]") {
  auto ours = make_parameters(torch::kFloat32);
  auto theirs = copies(ours);
  train::FusedAdam fused(ours, torch::optim::AdamOptions(1e-3));
  for (int step = 0; step < 3; ++step) {
    set_gradients(ours, step);
    fused.step();
  }
  std::stringstream saved;
  torch::save(fused, saved);
  torch::optim::Adam reference(theirs, torch::optim::AdamOptions(1e-3));
  torch::load(reference, saved);
  for (const auto& p : theirs) {
    const auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
    if (!reference.state().count(key)) continue;
    CHECK(static_cast<torch::optim::AdamParamState&>(*reference.state().at(key)).step() == 3);
  }
  CHECK(reference.state().size() == 2);
}

TEST_CASE("clear_gradients drops every gradient", "[optim]") {
  auto parameters = make_parameters(torch::kFloat32);
  set_gradients(parameters, 0);
  auto optimizer = train::make_optimizer(experiments::TrainConfig{}, parameters);
  train::clear_gradients(*optimizer);
  for (const auto& p : parameters) CHECK_FALSE(p.grad().defined());
}
