// core/zip_integrity: every record of a checkpoint checked against its CRC-32
// before LibTorch reads it.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "core/durable_file.h"
#include "core/zip_integrity.h"

using bnlab::check_zip_integrity;
using Catch::Matchers::Contains;

namespace {

// A real LibTorch archive: a small module's state (stored records only; a
// checkpoint's nested archives also hold deflated TorchScript code).
std::string libtorch_archive() {
  torch::nn::Linear layer(3, 2);
  torch::serialize::OutputArchive archive;
  layer->save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

uint32_t u16_at(const std::string& b, size_t at) {
  return static_cast<uint8_t>(b[at]) | static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8;
}

uint32_t u32_at(const std::string& b, size_t at) { return u16_at(b, at) | u16_at(b, at + 2) << 16; }

// Offset of the first data byte of the first record compressed with `method`
// (0 stored, 8 deflate), from the central directory (LibTorch's local
// headers leave the sizes to a data descriptor).
size_t first_data_of(const std::string& zip, uint32_t method) {
  for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos; at = zip.find("PK\x01\x02", at + 4)) {
    if (u16_at(zip, at + 10) != method || u32_at(zip, at + 20) == 0) continue;
    const size_t local = u32_at(zip, at + 42);
    return local + 30 + u16_at(zip, local + 26) + u16_at(zip, local + 28);
  }
  FAIL("no record with method " << method);
  return 0;
}

}  // namespace

TEST_CASE("zip integrity: LibTorch's own archives pass", "[core][zip]") {
  const auto zip = libtorch_archive();
  CHECK_NOTHROW(check_zip_integrity(zip));
  CHECK_NOTHROW(check_zip_integrity(std::string("PK\x05\x06", 4) + std::string(18, '\0')));  // empty archive
}

TEST_CASE("zip integrity: damage is named, never passed on", "[core][zip]") {
  auto zip = libtorch_archive();
  SECTION("a flipped byte in a stored record (a tensor)") {
    zip[first_data_of(zip, 0)] ^= 0x10;
    REQUIRE_THROWS_WITH(check_zip_integrity(zip), Contains("fails its CRC-32 check"));
  }
  SECTION("a flipped byte in a deflated record (TorchScript code of a real checkpoint)") {
    zip = bnlab::read_whole_file(std::string(BNLAB_SOURCE_DIR) + "/tests/fuzz/corpus/checkpoint/smoke-hidden4.pt");
    REQUIRE_NOTHROW(check_zip_integrity(zip));
    zip[first_data_of(zip, 8) + 1] ^= 0x10;
    REQUIRE_THROWS_WITH(check_zip_integrity(zip),
                        Contains("fails its CRC-32 check") || Contains("does not inflate to its"));
  }
  SECTION("cut short: the end record is gone") {
    zip.resize(zip.size() - 10);
    REQUIRE_THROWS_WITH(check_zip_integrity(zip), Contains("no end-of-central-directory record"));
  }
  SECTION("bytes taken from the middle: offsets point past the records") {
    zip.erase(zip.size() / 2, 64);
    REQUIRE_THROWS_WITH(check_zip_integrity(zip), Contains("no central-directory entry at offset") ||
                                                      Contains("lies outside the file") || Contains("no local header"));
  }
  SECTION("not a zip at all") {
    REQUIRE_THROWS_WITH(check_zip_integrity("hello"), Contains("not a zip archive (5 bytes)"));
    REQUIRE_THROWS_WITH(check_zip_integrity(std::string(100, 'x')), Contains("no end-of-central-directory"));
  }
}

TEST_CASE("zip integrity: an end record that hides records is refused", "[core][zip]") {
  auto zip = libtorch_archive();
  const size_t end = zip.rfind("PK\x05\x06");
  SECTION("the total count says 0 (a fuzz_checkpoint finding: LibTorch read the records nobody checked)") {
    zip[end + 10] = zip[end + 11] = 0;
    REQUIRE_THROWS_WITH(check_zip_integrity(zip),
                        Contains("the end record is inconsistent") && Contains("records on this disk of 0"));
  }
  SECTION("both counts one short of the directory") {
    zip[end + 8] -= 1;
    zip[end + 10] -= 1;
    REQUIRE_THROWS_WITH(check_zip_integrity(zip), Contains("the central directory is") && Contains("but its"));
  }
}
