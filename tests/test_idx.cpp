#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <fstream>

#include "data/idx.h"
#include "support/temp_dir.h"
#include "support/tensor_matchers.h"

using bnlab::data::read_idx_u8;
using bnlab::data::write_idx_u8;
using Catch::Matchers::Contains;

namespace {

torch::Tensor random_bytes(std::vector<int64_t> shape) {
  return torch::randint(0, 256, shape, torch::kUInt8);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST_CASE("IDX files round-trip for images and labels", "[data][idx]") {
  bnlab::test::TempDir dir;
  const auto shape = GENERATE(std::vector<int64_t>{5, 28, 28}, std::vector<int64_t>{300},
                              std::vector<int64_t>{1, 3, 2});
  auto values = random_bytes(shape);
  write_idx_u8(dir / "file.idx", values);
  auto read = read_idx_u8(dir / "file.idx", static_cast<int64_t>(shape.size()));
  CHECK(read.sizes() == values.sizes());
  CHECK(torch::equal(read, values));  // bytes: exact
  CHECK(std::filesystem::file_size(dir / "file.idx") == 4 + 4 * shape.size() + values.numel());
}

TEST_CASE("IDX reader names the file and the problem for every corruption", "[data][idx]") {
  bnlab::test::TempDir dir;
  const auto path = dir / "train-images-idx3-ubyte";
  write_idx_u8(path, random_bytes({4, 28, 28}));
  std::string bytes = read_all(path);

  SECTION("missing file") {
    std::filesystem::remove(path);
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains(path.string()) && Contains("missing"));
  }
  SECTION("truncated data") {
    write_all(path, bytes.substr(0, bytes.size() - 100));
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains(path.string()) && Contains("truncated"));
  }
  SECTION("dimensions whose product overflows int64 (found by fuzz_idx: undefined behaviour before)") {
    // 0x08000002 x 0xfdfffe00 x 0x03000000: about 2^90 bytes promised.
    write_all(path, std::string("\x00\x00\x08\x03\x08\x00\x00\x02\xfd\xff\xfe\x00\x03\x00\x00\x00\xfc\x00", 18));
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3),
                        Contains(path.string()) && Contains("more than 2^63 bytes") && Contains("134217730x"));
  }
  SECTION("truncated header") {
    write_all(path, bytes.substr(0, 6));
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains("truncated"));
  }
  SECTION("empty file") {
    write_all(path, "");
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains("truncated"));
  }
  SECTION("trailing bytes") {
    write_all(path, bytes + "xyz");
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains("3 trailing bytes"));
  }
  SECTION("wrong magic (e.g. a gzip file)") {
    bytes[0] = '\x1f';
    bytes[1] = '\x8b';
    write_all(path, bytes);
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains(path.string()) && Contains("wrong magic"));
  }
  SECTION("wrong element type") {
    bytes[2] = '\x0d';  // float32 IDX
    write_all(path, bytes);
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains("wrong magic"));
  }
  SECTION("wrong rank: a label file read as images") {
    REQUIRE_THROWS_WITH(read_idx_u8(path, 1), Contains("wrong rank 3") && Contains("expected 1"));
  }
  SECTION("zero dimension") {
    bytes[4] = bytes[5] = bytes[6] = bytes[7] = '\0';
    write_all(path, bytes);
    REQUIRE_THROWS_WITH(read_idx_u8(path, 3), Contains("dimension 0 is zero"));
  }
}
