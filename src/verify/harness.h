#pragma once
// The machinery behind the equivalence comparisons (equivalence.cpp,
// sync_equivalence.cpp): BatchNorm modules driven through identical steps,
// their starting state, inputs, and the per-quantity error bookkeeping.
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "verify/equivalence.h"

namespace bnlab::verify::detail {

// What one forward/backward step produced, from either implementation.
struct StepOutputs {
  torch::Tensor y, dx, dweight, dbias, running_mean, running_var, num_batches_tracked;
  torch::Tensor renorm_mean, renorm_std;  // renorm's separate averages, when the module has them
  torch::Tensor y_channels_last;  // 0-dim: 1 when y came back in channels-last memory format
};

// A BatchNorm module (ours, native, or one under test) driven through identical steps.
class Runner {
 public:
  explicit Runner(Candidate candidate) : candidate_(std::move(candidate)) {}

  torch::nn::Module& module() { return *candidate_.module; }

  // x_base is the step's input, or, for a non-contiguous case, a tensor whose
  // every other element along the last dimension is the input; channels_last
  // hands it over in that memory format.
  StepOutputs step(const torch::Tensor& x_base, bool non_contiguous, const torch::Tensor& dy, bool train,
                   bool channels_last = false);

  // Copies parameters and buffers by name from `source`, converting dtype.
  void copy_state_from(torch::nn::Module& source);

 private:
  Candidate candidate_;
};

// The case's reference in `dtype`, after torch::relu on its input when the
// case has relu_input and then torch::relu when it has relu:
// torch::nn::BatchNorm1d/2d (per virtual batch with Ghost BatchNorm), or the
// renorm reference; `name` says which.
Runner make_native(const EquivalenceCase& c, torch::Dtype dtype, std::string& name);

// Non-default starting state, so that eval steps and the momentum update are
// exercised away from the trivial weight 1 / bias 0 / mean 0 / var 1.
void randomize_state(torch::nn::Module& module, at::Generator& gen);

// The case's input of one step (twice as wide along the last dimension for
// non-contiguous cases; Runner::step takes every other element).
torch::Tensor make_input_base(const EquivalenceCase& c, at::Generator& gen);

// One QuantityError per compared quantity, in kQuantities order, with the
// case dtype's default tolerance.
std::vector<QuantityError> fresh_quantities(const EquivalenceCase& c);

// Folds one step's comparison of `ours` against `reference` into `into`
// (which keeps the maximum over steps); fold_steps does it for every quantity.
// NaN matches NaN and an infinity the same infinity (as native propagates
// them); a non-finite value against a finite one is a failure; shapes must match.
void accumulate(QuantityError& into, const torch::Tensor& ours, const torch::Tensor& reference);
void fold_steps(std::vector<QuantityError>& into, const StepOutputs& ours, const StepOutputs& reference);

// Folds the distances of ours and native to the float64 truth into `into`.
void fold_truth(std::vector<QuantityError>& into, const StepOutputs& ours, const StepOutputs& native,
                const StepOutputs& truth);

}  // namespace bnlab::verify::detail
