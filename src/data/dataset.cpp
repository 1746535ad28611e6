#include "data/dataset.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include "data/catalog.h"
#include "data/fetch.h"
#include "data/idx.h"

namespace bnlab::data {
namespace fs = std::filesystem;
namespace {

torch::Tensor read_required(const DatasetSpec& spec, const fs::path& dir, const IdxFileSpec& file,
                            int64_t rank) {
  const fs::path path = dir / file.filename;
  if (!fs::exists(path))
    throw std::runtime_error(fmt::format("{}: missing file; fetch it with `{}`", path.string(),
                                         spec.fetch_command()));
  return read_idx_u8(path, rank);
}

Split load_split(const DatasetSpec& spec, const fs::path& dir, const IdxFileSpec& images_file,
                 const IdxFileSpec& labels_file, int64_t expected_count) {
  auto images = read_required(spec, dir, images_file, 3);
  auto labels = read_required(spec, dir, labels_file, 1);
  const std::string origin = (dir / images_file.filename).string();
  if (images.size(0) != expected_count)
    throw std::runtime_error(fmt::format("{}: {} images, but {} has {} in this split", origin,
                                         images.size(0), spec.name, expected_count));
  return make_split(images, labels, spec.num_classes,
                    fmt::format("{} + {}", origin, labels_file.filename));
}

}  // namespace

Split make_split(const torch::Tensor& images_u8, const torch::Tensor& labels_u8,
                 int64_t num_classes, const std::string& origin) {
  if (images_u8.dim() != 3 || images_u8.size(1) != 28 || images_u8.size(2) != 28)
    throw std::runtime_error(fmt::format("{}: images have shape {}, expected (N, 28, 28)", origin,
                                         fmt::join(images_u8.sizes(), "x")));
  if (labels_u8.dim() != 1 || labels_u8.size(0) != images_u8.size(0))
    throw std::runtime_error(fmt::format("{}: count mismatch: {} images but {} labels", origin,
                                         images_u8.size(0), labels_u8.numel()));
  const int64_t max_label = labels_u8.max().item<int64_t>();
  if (max_label >= num_classes) {
    const int64_t at = (labels_u8 >= num_classes).nonzero()[0][0].item<int64_t>();
    throw std::runtime_error(fmt::format("{}: label out of range: label {} at index {} (expected 0..{})",
                                         origin, labels_u8[at].item<int64_t>(), at, num_classes - 1));
  }
  return {images_u8.unsqueeze(1).contiguous(), labels_u8.to(torch::kInt64), {}};
}

namespace {

// pixels as images under `scale` (see PixelScale).
torch::Tensor to_images(const torch::Tensor& pixels, const PixelScale& scale) {
  auto images = pixels.to(torch::kFloat32).div_(255.0);
  if (scale.mean != 0 || scale.std != 1) images.sub_(scale.mean).div_(scale.std);
  return images;
}

// The mean and unbiased standard deviation of pixel / 255 over `pixels`,
// in double from the count of each of the 256 values: exact, and one pass
// over the bytes rather than over a float copy of them.
PixelScale pixel_moments(const torch::Tensor& pixels) {
  std::array<int64_t, 256> counts{};
  const auto bytes = pixels.contiguous();
  const uint8_t* p = bytes.data_ptr<uint8_t>();
  for (int64_t i = 0; i < bytes.numel(); ++i) ++counts[p[i]];
  const double n = double(bytes.numel());
  double sum = 0, sum_sq = 0;
  for (int v = 0; v < 256; ++v) sum += double(counts[v]) * (v / 255.0);
  const double mean = sum / n;
  for (int v = 0; v < 256; ++v) sum_sq += double(counts[v]) * (v / 255.0 - mean) * (v / 255.0 - mean);
  return {mean, n > 1 ? std::sqrt(sum_sq / (n - 1)) : 0.0};
}

}  // namespace

torch::Tensor Split::images(int64_t begin, int64_t end) const { return to_images(pixels.slice(0, begin, end), scale); }

PixelValues pixel_values(const PixelScale& scale) {
  const auto every_byte = torch::arange(256, torch::kInt32).to(torch::kUInt8);
  const auto images = to_images(every_byte, scale);
  PixelValues values;
  std::copy_n(images.data_ptr<float>(), values.size(), values.begin());
  return values;
}

namespace {
// The rows of `table` (N, ...) at `indices` (int64), each value mapped by
// value_of: index_select and the conversion in one pass.
template <typename To, typename From, typename ValueOf>
torch::Tensor gather_rows(const torch::Tensor& table, const torch::Tensor& indices, torch::ScalarType type,
                          ValueOf&& value_of) {
  const auto rows = indices.contiguous();
  TORCH_CHECK(rows.dim() == 1 && rows.scalar_type() == torch::kInt64, "gather_rows: expected int64 indices (B), got ",
              rows.sizes(), " ", rows.scalar_type());
  TORCH_CHECK(table.is_contiguous(), "gather_rows: the table must be contiguous");
  auto sizes = table.sizes().vec();
  sizes[0] = rows.numel();
  auto out = torch::empty(sizes, table.options().dtype(type));
  const int64_t N = table.size(0), row_size = table.numel() / std::max<int64_t>(N, 1);
  const From* from = table.data_ptr<From>();
  To* to = out.data_ptr<To>();
  const int64_t* index = rows.data_ptr<int64_t>();
  const int64_t B = rows.numel();
  for (int64_t b = 0; b < B; ++b)
    TORCH_CHECK(0 <= index[b] && index[b] < N, "gather_rows: index ", index[b], " out of range for ", N, " rows");
  // Rows sit at random places in a table larger than the caches (MNIST's
  // 47 MB), where the hardware cannot guess the next one: its lines are
  // requested while this row converts.
  constexpr int64_t kLine = 64;
  const int64_t row_bytes = row_size * int64_t(sizeof(From));
  for (int64_t b = 0; b < B; ++b, to += row_size) {
    if (b + 1 < B)
      for (int64_t byte = 0; byte < row_bytes; byte += kLine)
        __builtin_prefetch(reinterpret_cast<const char*>(from + index[b + 1] * row_size) + byte);
    const From* row = from + index[b] * row_size;
    for (int64_t i = 0; i < row_size; ++i) to[i] = value_of(row[i]);
  }
  return out;
}
}  // namespace

torch::Tensor Split::images_at(const torch::Tensor& indices, const PixelValues& values) const {
  return gather_rows<float, uint8_t>(pixels, indices, torch::kFloat32, [&](uint8_t byte) { return values[byte]; });
}

void Split::keep_first(int64_t count) {
  pixels = pixels.slice(0, 0, count);
  labels = labels.slice(0, 0, count);
}

void standardize(Dataset& dataset) {
  const PixelScale scale = pixel_moments(dataset.train.pixels);
  for (Split* split : {&dataset.train, &dataset.test}) split->scale = scale;
}

Dataset load_dataset(const std::string& name, const fs::path& data_dir, const LoadOptions& options) {
  const DatasetSpec& spec = find_dataset(name);
  const fs::path dir = dataset_path(spec, data_dir);
  Dataset dataset{spec.name,
                  load_split(spec, dir, spec.train_images, spec.train_labels, spec.train_count),
                  load_split(spec, dir, spec.test_images, spec.test_labels, spec.test_count),
                  spec.num_classes};
  if (options.standardize) standardize(dataset);
  return dataset;
}

torch::Tensor epoch_order(int64_t split_size, uint64_t seed, int64_t epoch) {
  // Mix seed and epoch so that consecutive epochs (and seeds) do not share streams.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + uint64_t(epoch));
  return torch::randperm(split_size, generator, torch::kInt64);
}

Batches::Batches(const Split& split, torch::Tensor order, int64_t batch_size)
    : split_(split), values_(pixel_values(split.scale)), order_(std::move(order)), batch_size_(batch_size) {
  TORCH_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  count_ = (order_.numel() + batch_size - 1) / batch_size;
}

int64_t Batches::rows(int64_t index) const {
  return std::min(batch_size_, order_.numel() - index * batch_size_);
}

Batch Batches::rows(int64_t index, int64_t first, int64_t last) const {
  TORCH_CHECK(0 <= first && first <= last && last <= rows(index), "Batches: rows ", first, "..", last,
              " outside batch ", index, " of ", rows(index), " rows");
  auto indices = order_.slice(0, index * batch_size_ + first, index * batch_size_ + last);
  return {split_.images_at(indices, values_),
          gather_rows<int64_t, int64_t>(split_.labels, indices, torch::kInt64, [](int64_t label) { return label; })};
}

Batch Batches::operator[](int64_t index) const { return rows(index, 0, rows(index)); }

SplitStatistics describe_split(const Split& split, int64_t num_classes) {
  const auto counts = torch::bincount(split.labels, {}, num_classes);
  const PixelScale raw = pixel_moments(split.pixels);  // of pixel / 255; the images are scaled from those
  return {(raw.mean - split.scale.mean) / split.scale.std, raw.std / split.scale.std,
          std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel())};
}

}  // namespace bnlab::data
