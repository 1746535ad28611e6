#pragma once
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace bnlab::data {

// How a split's stored pixels become the images models see:
// image = (pixel / 255 - mean) / std, mean 0 and std 1 unless standardised.
struct PixelScale {
  double mean = 0, std = 1;
};

// The float32 image value of each of the 256 pixel bytes under a scale,
// computed by the very tensor operations Split::images applies, so equal to
// them bit for bit: a batch is then gathered through it in one pass.
using PixelValues = std::array<float, 256>;
PixelValues pixel_values(const PixelScale& scale);

// One split held in memory: its pixels as stored, a byte each, converted to
// float32 images a batch at a time. MNIST's training images take 47 MB so,
// instead of 188 MB as float32 (and 188 MB of page faults before the first
// step).
struct Split {
  torch::Tensor pixels;  // (N, 1, 28, 28) uint8
  torch::Tensor labels;  // (N) int64, in [0, num_classes)
  PixelScale scale;
  int64_t size() const { return labels.size(0); }
  // (B, 1, 28, 28) float32 images: of rows [begin, end), of the rows at
  // `indices` (int64; through `values`, pixel_values(scale)), or of every row.
  torch::Tensor images(int64_t begin, int64_t end) const;
  torch::Tensor images_at(const torch::Tensor& indices, const PixelValues& values) const;
  torch::Tensor images() const { return images(0, size()); }
  // Keeps rows [0, count) (data.train_subset).
  void keep_first(int64_t count);
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

// Builds a split from raw IDX tensors (uint8 images (N, 28, 28), labels
// (N)), validating shapes and labels; `origin` names the files in error
// messages.
Split make_split(const torch::Tensor& images_u8, const torch::Tensor& labels_u8,
                 int64_t num_classes, const std::string& origin);

// Both splits' images standardised with the training split's pixel mean and
// (unbiased) standard deviation, computed exactly from its histogram.
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

// Batches of `split` in `order` (int64 indices), gathered row by row (one
// pass from bytes to images: index_select and a conversion took ~30 us of a
// 0.45 ms keras-mlp step); the last batch holds the remainder.
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
  PixelValues values_;
  torch::Tensor order_;
  int64_t batch_size_;
  int64_t count_;
};

}  // namespace bnlab::data
