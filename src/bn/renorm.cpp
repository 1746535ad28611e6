#include "bn/renorm.h"

#include <ATen/Dispatch.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace bnlab::bn {

const EnumNames<RenormAverages>& enum_names(RenormAverages) {
  static const EnumNames<RenormAverages> names = {{RenormAverages::kInference, "inference"},
                                                  {RenormAverages::kSeparate, "separate"}};
  return names;
}

void check_renorm_options(const RenormOptions& o) {
  TORCH_CHECK(std::isfinite(o.rmax()) && o.rmax() >= 1, "BatchNorm: renorm rmax must be at least 1, got ", o.rmax());
  if (o.rmin())
    TORCH_CHECK(*o.rmin() > 0 && *o.rmin() <= 1, "BatchNorm: renorm rmin must be in (0, 1], got ", *o.rmin());
  TORCH_CHECK(std::isfinite(o.dmax()) && o.dmax() >= 0, "BatchNorm: renorm dmax must be at least 0, got ", o.dmax());
  TORCH_CHECK(o.momentum() > 0 && o.momentum() <= 1, "BatchNorm: renorm momentum must be in (0, 1], got ",
              o.momentum());
  TORCH_CHECK(o.warmup_steps() >= 0 && o.rmax_steps() >= 0 && o.dmax_steps() >= 0,
              "BatchNorm: renorm schedule steps must be at least 0, got warmup ", o.warmup_steps(), ", rmax ",
              o.rmax_steps(), ", dmax ", o.dmax_steps());
}

namespace {

// How far a bound has been relaxed at `step`: 0 during the warmup, then
// linearly up to 1 at step `end` (at once when end <= warmup).
double relaxed_fraction(int64_t step, int64_t warmup, int64_t end) {
  if (step < warmup) return 0.0;
  if (end <= warmup) return 1.0;
  return std::min(1.0, double(step - warmup) / double(end - warmup));
}

}  // namespace

RenormBounds renorm_bounds(const RenormOptions& o, int64_t step) {
  const double r_fraction = relaxed_fraction(step, o.warmup_steps(), o.rmax_steps());
  RenormBounds bounds;
  bounds.rmax = 1 + (o.rmax() - 1) * r_fraction;
  bounds.rmin = o.rmin() ? 1 - (1 - *o.rmin()) * r_fraction : 1 / bounds.rmax;
  bounds.dmax = o.dmax() * relaxed_fraction(step, o.warmup_steps(), o.dmax_steps());
  return bounds;
}

namespace {

// Reads a (C) tensor of any floating dtype and stride as double.
template <typename F>
void for_each_channel(const torch::Tensor& t, F&& f) {
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "bnlab_renorm_read", [&] {
    const scalar_t* p = t.data_ptr<scalar_t>();
    for (int64_t c = 0; c < t.numel(); ++c) f(c, double(p[c * t.stride(0)]));
  });
}

// a = (1 - momentum) * a + momentum * value[c], in place through a's strides.
void update_average(const torch::Tensor& average, const double* value, double momentum) {
  AT_DISPATCH_FLOATING_TYPES(average.scalar_type(), "bnlab_renorm_average", [&] {
    scalar_t* a = average.data_ptr<scalar_t>();
    for (int64_t c = 0; c < average.numel(); ++c) {
      scalar_t& v = a[c * average.stride(0)];
      v = scalar_t((1 - momentum) * double(v) + momentum * value[c]);
    }
  });
}

}  // namespace

RenormCorrection renorm_correction(const RenormInput& renorm, const torch::Tensor& batch_mean,
                                   const torch::Tensor& batch_var, const torch::Tensor& running_mean,
                                   const torch::Tensor& running_var, double eps) {
  const int64_t C = batch_mean.numel();
  const bool separate = renorm.mean.defined();
  const auto f64 = batch_mean.options().dtype(torch::kFloat64);
  auto mu = torch::empty({C}, f64), sigma = torch::empty({C}, f64);  // (C) the averages r, d are taken against
  auto batch_sigma = torch::empty({C}, f64);                         // (C) sigma_B = sqrt(var_B + eps)
  double *pmu = mu.data_ptr<double>(), *psigma = sigma.data_ptr<double>(), *pbs = batch_sigma.data_ptr<double>();
  for_each_channel(separate ? renorm.mean : running_mean, [&](int64_t c, double v) { pmu[c] = v; });
  if (separate)  // Keras floors the average at sqrt(eps) against a division by ~0 early on
    for_each_channel(renorm.std, [&](int64_t c, double v) { psigma[c] = std::max(v, std::sqrt(eps)); });
  else
    for_each_channel(running_var, [&](int64_t c, double v) { psigma[c] = std::sqrt(v + eps); });

  RenormCorrection out{torch::empty({C}, f64), torch::empty({C}, f64)};
  const double* mean_b = batch_mean.data_ptr<double>();
  const double* var_b = batch_var.data_ptr<double>();
  double *r = out.r.data_ptr<double>(), *d = out.d.data_ptr<double>();
  const RenormBounds& b = renorm.bounds;
  for (int64_t c = 0; c < C; ++c) {
    pbs[c] = std::sqrt(var_b[c] + eps);
    r[c] = std::clamp(pbs[c] / psigma[c], b.rmin, b.rmax);
    d[c] = std::clamp((mean_b[c] - pmu[c]) / psigma[c], -b.dmax, b.dmax);
  }
  if (separate) {  // after r and d: they use the averages before this batch
    update_average(renorm.mean, mean_b, renorm.momentum);
    update_average(renorm.std, pbs, renorm.momentum);
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> renormalised_affine(const RenormCorrection& correction,
                                                            const torch::Tensor& weight, const torch::Tensor& bias,
                                                            torch::ScalarType dtype) {
  const int64_t C = correction.r.numel();
  std::vector<double> gamma(C, 1.0), beta(C, 0.0);
  if (weight.defined()) for_each_channel(weight, [&](int64_t c, double v) { gamma[c] = v; });
  if (bias.defined()) for_each_channel(bias, [&](int64_t c, double v) { beta[c] = v; });
  auto scale = torch::empty({C}, correction.r.options().dtype(dtype)), shift = torch::empty_like(scale);
  const double *r = correction.r.data_ptr<double>(), *d = correction.d.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(dtype, "bnlab_renorm_affine", [&] {
    scalar_t *s = scale.data_ptr<scalar_t>(), *t = shift.data_ptr<scalar_t>();
    for (int64_t c = 0; c < C; ++c) {
      s[c] = scalar_t(gamma[c] * r[c]);
      t[c] = scalar_t(gamma[c] * d[c] + beta[c]);
    }
  });
  return {scale, shift};
}

torch::Tensor renormalised_dweight(const RenormCorrection& correction, const torch::Tensor& sum_dy,
                                   const torch::Tensor& sum_dy_xhat, torch::ScalarType dtype) {
  const int64_t C = correction.r.numel();
  auto dweight = torch::empty({C}, correction.r.options().dtype(dtype));
  const double *r = correction.r.data_ptr<double>(), *d = correction.d.data_ptr<double>();
  // The sums come in float64, or in x's dtype from the whole-layer kernels.
  const auto sum_dy_d = sum_dy.to(torch::kFloat64), sum_dy_xhat_d = sum_dy_xhat.to(torch::kFloat64);
  const double *s = sum_dy_d.data_ptr<double>(), *sx = sum_dy_xhat_d.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(dtype, "bnlab_renorm_dweight", [&] {
    scalar_t* out = dweight.data_ptr<scalar_t>();
    for (int64_t c = 0; c < C; ++c) out[c] = scalar_t(r[c] * sx[c] + d[c] * s[c]);  // d(gamma*(xhat*r+d))/dgamma
  });
  return dweight;
}

}  // namespace bnlab::bn
