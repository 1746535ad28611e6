#pragma once
#include <filesystem>

namespace bnlab::test {

// CHECKs that two metrics.csv files record the same training up to float32
// rounding: equal steps; loss and val_loss within 1e-5 relative (sums split
// over ranks round in another order: 1e-8 observed after two epochs; 1e-5
// leaves room for growth without hiding a real error); accuracies within one
// sample's flip (0.005: 1 / 200 test samples, 1 / 1000 train).
void check_same_training(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace bnlab::test
