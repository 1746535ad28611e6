#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace bnlab::data {

// One split held in memory.
struct Split {
  torch::Tensor images;  // (N, 1, 28, 28) float32, in [0,1] or standardised
  torch::Tensor labels;  // (N) int64, in [0, num_classes)
  int64_t size() const { return labels.size(0); }
};

struct Dataset {
  std::string name;
  Split train, test;
  int64_t num_classes = 10;
};

struct LoadOptions {
  // Standardise images with the training split's mean and std (one scalar
  // each, as torchvision's MNIST recipes do), applied to both splits.
  bool standardize = false;
};

// Loads "mnist" or "fashion-mnist" from <data_dir>/<name>/, validating every
// file (IDX structure, image/label counts against the data set's spec, label
// range). A missing file names the command that fetches it.
Dataset load_dataset(const std::string& name, const std::filesystem::path& data_dir,
                     const LoadOptions& options = {});

// Builds a split from raw IDX tensors, validating shapes and labels; `origin`
// names the files in error messages.
Split make_split(const torch::Tensor& images_u8, const torch::Tensor& labels_u8,
                 int64_t num_classes, const std::string& origin);

void standardize(Dataset& dataset);

// What `bnlab data info` shows of a data set's training split.
struct SplitStatistics {
  double pixel_mean = 0, pixel_std = 0;
  std::vector<int64_t> labels_per_class;
};
SplitStatistics describe_split(const Split& split, int64_t num_classes);

// A batch of one split, in the order of a given permutation.
struct Batch {
  torch::Tensor images;  // (B, 1, 28, 28)
  torch::Tensor labels;  // (B)
};

// The order in which an epoch visits a split: a permutation that depends only
// on (seed, epoch), so a resumed run replays exactly the same batches.
torch::Tensor epoch_order(int64_t split_size, uint64_t seed, int64_t epoch);

// Batches of `split` in `order` (int64 indices), drawn with index_select; the
// last batch holds the remainder.
class Batches {
 public:
  Batches(const Split& split, torch::Tensor order, int64_t batch_size);
  int64_t count() const { return count_; }
  Batch operator[](int64_t index) const;
  // The number of rows of batch `index`, and rows [first, last) of it (a
  // data-parallel rank's share of the global batch).
  int64_t rows(int64_t index) const;
  Batch rows(int64_t index, int64_t first, int64_t last) const;

 private:
  const Split& split_;
  torch::Tensor order_;
  int64_t batch_size_;
  int64_t count_;
};

}  // namespace bnlab::data
