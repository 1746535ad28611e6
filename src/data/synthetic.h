#pragma once
#include <cstdint>

#include "data/dataset.h"

namespace bnlab::data {

constexpr int64_t kSyntheticClasses = 10;

// A small MNIST-shaped data set generated from a seed, for tests and smoke
// runs that must not need a download: each of the 10 classes is a fixed
// random smooth 28x28 pattern, and every sample is its class pattern plus
// noise, clipped to [0,1]. Learnable to high accuracy in a few epochs.
Dataset make_synthetic_dataset(int64_t train_size, int64_t test_size, uint64_t seed);

}  // namespace bnlab::data
