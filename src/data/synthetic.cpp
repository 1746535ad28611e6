#include "data/synthetic.h"

#include <ATen/CPUGeneratorImpl.h>

namespace bnlab::data {
namespace {

constexpr int64_t kClasses = kSyntheticClasses;
constexpr double kNoiseStd = 0.35;

Split sample_split(const torch::Tensor& patterns, int64_t size, at::Generator& generator) {
  auto labels = torch::randint(kClasses, {size}, generator, torch::kInt64);
  auto noise = torch::randn({size, 1, 28, 28}, generator, torch::kFloat32) * kNoiseStd;
  auto images = (patterns.index_select(0, labels) + noise).clamp_(0.0, 1.0);
  // Stored as bytes, as MNIST is: pixel = round(255 * image).
  return {images.mul_(255.0).round_().to(torch::kUInt8), labels, {}};
}

}  // namespace

Dataset make_synthetic_dataset(int64_t train_size, int64_t test_size, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Smooth patterns: 7x7 random grids upsampled to 28x28.
  auto coarse = torch::rand({kClasses, 1, 7, 7}, generator, torch::kFloat32);
  auto patterns = torch::nn::functional::interpolate(
      coarse, torch::nn::functional::InterpolateFuncOptions()
                  .size(std::vector<int64_t>{28, 28})
                  .mode(torch::kBilinear)
                  .align_corners(false));
  Split train = sample_split(patterns, train_size, generator);
  Split test = sample_split(patterns, test_size, generator);
  return {"synthetic", train, test, kClasses};
}

}  // namespace bnlab::data
