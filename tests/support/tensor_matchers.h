#pragma once
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <sstream>

namespace bnlab::test {

// Catch2 matcher: elementwise |actual - expected| <= atol + rtol * |expected|,
// same shape; the description reports the largest deviation.
class AllCloseMatcher : public Catch::MatcherBase<torch::Tensor> {
 public:
  AllCloseMatcher(torch::Tensor expected, double rtol, double atol)
      : expected_(std::move(expected)), rtol_(rtol), atol_(atol) {}

  bool match(const torch::Tensor& actual) const override {
    if (!actual.defined() || actual.sizes() != expected_.sizes()) {
      worst_ = -1;
      return false;
    }
    auto diff = (actual.to(torch::kFloat64) - expected_.to(torch::kFloat64)).abs();
    worst_ = diff.numel() ? diff.max().item<double>() : 0.0;
    return torch::allclose(actual.to(torch::kFloat64), expected_.to(torch::kFloat64), rtol_, atol_);
  }

  std::string describe() const override {
    std::ostringstream text;
    text << "is all-close (rtol " << rtol_ << ", atol " << atol_ << ") to the expected tensor of shape "
         << expected_.sizes();
    if (worst_ < 0)
      text << "; shape differs or tensor undefined";
    else
      text << "; max abs difference " << worst_;
    return text.str();
  }

 private:
  torch::Tensor expected_;
  double rtol_, atol_;
  mutable double worst_ = 0;
};

inline AllCloseMatcher AllClose(torch::Tensor expected, double rtol, double atol) {
  return AllCloseMatcher(std::move(expected), rtol, atol);
}

}  // namespace bnlab::test

// Catch2 prints tensors in failure messages through this.
namespace Catch {
template <>
struct StringMaker<torch::Tensor> {
  static std::string convert(const torch::Tensor& t) {
    if (!t.defined()) return "<undefined tensor>";
    std::ostringstream text;
    text << "tensor of shape " << t.sizes() << " dtype " << t.scalar_type();
    return text.str();
  }
};
}  // namespace Catch
