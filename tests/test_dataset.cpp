#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "data/catalog.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/synthetic.h"
#include "support/temp_dir.h"
#include "support/tensor_matchers.h"

using namespace bnlab::data;
using Catch::Matchers::Contains;

namespace {

// Writes an MNIST-named data set of `count` train and test samples.
void write_fake_mnist(const std::filesystem::path& data_dir, int64_t count, int64_t max_label = 9) {
  const auto& spec = find_dataset("mnist");
  const auto dir = data_dir / "mnist";
  std::filesystem::create_directories(dir);
  for (const auto* images : {&spec.train_images, &spec.test_images})
    write_idx_u8(dir / images->filename, torch::randint(0, 256, {count, 28, 28}, torch::kUInt8));
  for (const auto* labels : {&spec.train_labels, &spec.test_labels})
    write_idx_u8(dir / labels->filename, torch::randint(0, max_label + 1, {count}, torch::kUInt8));
}

}  // namespace

TEST_CASE("make_split keeps the pixels as bytes and gives float images in [0,1]", "[data][dataset]") {
  auto images = torch::tensor({0, 255, 51}, torch::kUInt8).repeat({2, 28 * 28 / 3 + 1}).slice(1, 0, 784);
  auto split = make_split(images.view({2, 28, 28}), torch::tensor({3, 9}, torch::kUInt8), 10, "t");
  CHECK(split.pixels.scalar_type() == torch::kUInt8);
  CHECK(split.images().sizes() == torch::IntArrayRef{2, 1, 28, 28});
  CHECK(split.images().scalar_type() == torch::kFloat32);
  CHECK(split.images().min().item<float>() == 0.0f);
  CHECK(split.images().max().item<float>() == 1.0f);
  CHECK(split.images()[0][0][0][2].item<float>() == 51.0f / 255.0f);  // pixel / 255 in float, as before
  CHECK(torch::equal(split.images(1, 2), split.images().slice(0, 1, 2)));
  CHECK(torch::equal(split.images_at(torch::tensor({1, 0}), pixel_values(split.scale)), split.images().flip(0)));
  CHECK_THROWS_WITH(split.images_at(torch::tensor({2}), pixel_values(split.scale)),
                    Catch::Contains("index 2 out of range for 2 rows"));
  CHECK(split.labels.scalar_type() == torch::kInt64);
}

TEST_CASE("make_split rejects bad labels and counts, naming the origin", "[data][dataset]") {
  auto images = torch::zeros({4, 28, 28}, torch::kUInt8);
  SECTION("label out of range") {
    auto labels = torch::tensor({1, 2, 3, 12}, torch::kUInt8);
    REQUIRE_THROWS_WITH(make_split(images, labels, 10, "origin-x"),
                        Contains("origin-x") && Contains("label out of range: label 12 at index 3"));
  }
  SECTION("count mismatch") {
    REQUIRE_THROWS_WITH(make_split(images, torch::zeros({3}, torch::kUInt8), 10, "origin-x"),
                        Contains("count mismatch: 4 images but 3 labels"));
  }
  SECTION("wrong image size") {
    REQUIRE_THROWS_WITH(make_split(torch::zeros({4, 14, 14}, torch::kUInt8),
                                   torch::zeros({4}, torch::kUInt8), 10, "o"),
                        Contains("expected (N, 28, 28)"));
  }
}

TEST_CASE("load_dataset refuses files that do not match the data set", "[data][dataset]") {
  bnlab::test::TempDir dir;
  SECTION("missing files name the fetch command") {
    REQUIRE_THROWS_WITH(load_dataset("mnist", dir.path()),
                        Contains("missing file") && Contains("bnlab data fetch mnist"));
  }
  SECTION("a structurally valid file with the wrong count") {
    write_fake_mnist(dir.path(), 10);
    REQUIRE_THROWS_WITH(load_dataset("mnist", dir.path()),
                        Contains("10 images, but mnist has 60000"));
  }
}

TEST_CASE("standardize uses the training split's statistics for both splits", "[data][dataset]") {
  auto dataset = make_synthetic_dataset(512, 128, 1);
  const auto train_before = dataset.train.images(), test_before = dataset.test.images();
  standardize(dataset);
  // 512*784 values: the standardised mean is 0 up to float32 summation error.
  CHECK_THAT(dataset.train.images().mean().item<double>(), Catch::Matchers::WithinAbs(0.0, 1e-5));
  CHECK_THAT(dataset.train.images().std().item<double>(), Catch::Matchers::WithinAbs(1.0, 1e-5));
  const auto in_double = train_before.to(torch::kFloat64);
  const double mean = in_double.mean().item<double>(), std = in_double.std().item<double>();
  // float32 images of O(1): a few ulps.
  CHECK_THAT(dataset.train.images(), bnlab::test::AllClose((train_before - mean) / std, 1e-6, 1e-6));
  CHECK_THAT(dataset.test.images(), bnlab::test::AllClose((test_before - mean) / std, 1e-6, 1e-6));
  // Batches gather through a table of the 256 byte values, made by the same
  // tensor operations: bit for bit the images above.
  const auto order = epoch_order(512, 0, 0);
  CHECK(torch::equal(Batches(dataset.train, order, 64)[1].images,
                     dataset.train.images().index_select(0, order.slice(0, 64, 128))));
  // What `bnlab data info` reports follows the scaling.
  const auto described = describe_split(dataset.train, 10);
  CHECK_THAT(described.pixel_mean, Catch::Matchers::WithinAbs(0.0, 1e-12));
  CHECK_THAT(described.pixel_std, Catch::Matchers::WithinAbs(1.0, 1e-12));
}

TEST_CASE("the synthetic data set is deterministic and MNIST-shaped", "[data][synthetic]") {
  auto a = make_synthetic_dataset(200, 50, 7);
  auto b = make_synthetic_dataset(200, 50, 7);
  auto c = make_synthetic_dataset(200, 50, 8);
  CHECK(a.train.images().sizes() == torch::IntArrayRef{200, 1, 28, 28});
  CHECK(a.test.labels.sizes() == torch::IntArrayRef{50});
  CHECK(torch::equal(a.train.pixels, b.train.pixels));
  CHECK(torch::equal(a.test.labels, b.test.labels));
  CHECK_FALSE(torch::equal(a.train.pixels, c.train.pixels));
  CHECK(a.train.images().min().item<float>() >= 0.0f);
  CHECK(a.train.images().max().item<float>() <= 1.0f);
  CHECK(a.train.labels.max().item<int64_t>() <= 9);
}

TEST_CASE("epoch order is a permutation fixed by (seed, epoch)", "[data][batches]") {
  auto order = epoch_order(1000, 3, 0);
  CHECK(torch::equal(std::get<0>(order.sort()), torch::arange(1000)));
  CHECK(torch::equal(order, epoch_order(1000, 3, 0)));
  CHECK_FALSE(torch::equal(order, epoch_order(1000, 3, 1)));
  CHECK_FALSE(torch::equal(order, epoch_order(1000, 4, 0)));
}

TEST_CASE("batches cover the split once, in order, with a remainder batch", "[data][batches]") {
  auto dataset = make_synthetic_dataset(103, 10, 0);
  auto order = epoch_order(103, 0, 0);
  Batches batches(dataset.train, order, 10);
  REQUIRE(batches.count() == 11);
  CHECK(batches[10].labels.size(0) == 3);
  std::vector<torch::Tensor> labels;
  for (int64_t i = 0; i < batches.count(); ++i) labels.push_back(batches[i].labels);
  CHECK(torch::equal(torch::cat(labels), dataset.train.labels.index_select(0, order)));
  CHECK(torch::equal(batches[0].images, dataset.train.images().index_select(0, order.slice(0, 0, 10))));
}
