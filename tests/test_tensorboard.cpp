// TensorBoard event files: record framing and masked CRC32C checked with a
// reader written here (bit by bit, not the writer's table), the records
// decoded by protoc from the .proto files, and what a run writes.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/durable_file.h"
#include "core/process.h"
#include "runs/layout.h"
#include "runs/tensorboard.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// CRC32C one bit at a time, the polynomial 0x1EDC6F41 reflected.
uint32_t crc32c_bitwise(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u; }

uint64_t little_endian(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes.at(at + i));
  return value;
}

// The records of a TFRecord file; throws naming the record whose length,
// CRCs or size are wrong.
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < file.size()) {
    if (file.size() - at < 12) throw std::runtime_error("record " + std::to_string(records.size()) + ": cut short");
    const uint64_t length = little_endian(file, at, 8);
    if (masked(crc32c_bitwise(file.substr(at, 8))) != little_endian(file, at + 8, 4))
      throw std::runtime_error("record " + std::to_string(records.size()) + ": bad length CRC");
    if (file.size() - at - 12 < length + 4)
      throw std::runtime_error("record " + std::to_string(records.size()) + ": cut short");
    const std::string data = file.substr(at + 12, length);
    if (masked(crc32c_bitwise(data)) != little_endian(file, at + 12 + length, 4))
      throw std::runtime_error("record " + std::to_string(records.size()) + ": bad data CRC");
    records.push_back(data);
    at += 12 + length + 4;
  }
  return records;
}

// protoc --decode tensorboard.Event: the record as text.
std::string decode(const std::string& record, const fs::path& scratch) {
  const fs::path input = scratch / "record.bin";
  bnlab::write_file_atomically(input, record);
  const std::string proto_dir = std::string(BNLAB_SOURCE_DIR) + "/src";
  const auto result = bnlab::run_process({"sh", "-c",
                                          std::string(BNLAB_PROTOC) + " --decode=tensorboard.Event -I " + proto_dir +
                                              " " + proto_dir + "/runs/proto/event.proto < " + input.string()});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  return result.output;
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (bnlab::runs::RunFiles::is_tensorboard_events(entry.path())) files.push_back(entry.path());
  return files;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the test's CRC32C is the standard one", "[tensorboard]") {
  // The check value of CRC-32C (RFC 3720, B.4): "123456789" -> 0xE3069283.
  CHECK(crc32c_bitwise("123456789") == 0xE3069283u);
  CHECK(crc32c_bitwise(std::string(32, '\0')) == 0x8A9136AAu);
}

TEST_CASE("event records are framed with masked CRC32C and decode as tensorboard.Event", "[tensorboard]") {
  bnlab::test::TempDir dir;
  const fs::path file = dir / "events.out.tfevents.1.test";
  {
    bnlab::runs::EventWriter writer(file);
    writer.scalars(7, {{"epoch/loss", 0.25}, {"epoch/val_accuracy", 0.5}});
    writer.histograms(7, {{"bn/block1/gamma", {1.0, 2.0, 2.0, 4.0}}, {"bn/block1/beta", {0.5, 0.5}}});
    writer.session_start(8);
    writer.sync();
  }
  const std::string bytes = bnlab::read_whole_file(file);
  const auto records = read_records(bytes);
  REQUIRE(records.size() == 4);
  CHECK_THAT(decode(records[0], dir.path()), Contains("file_version: \"brain.Event:2\""));
  const std::string scalars = decode(records[1], dir.path());
  CHECK_THAT(scalars, Contains("step: 7") && Contains("tag: \"epoch/loss\"") && Contains("simple_value: 0.25") &&
                          Contains("tag: \"epoch/val_accuracy\"") && Contains("simple_value: 0.5"));
  const std::string histograms = decode(records[2], dir.path());
  CHECK_THAT(histograms, Contains("tag: \"bn/block1/gamma\"") && Contains("min: 1") && Contains("max: 4") &&
                             Contains("num: 4") && Contains("sum: 9") && Contains("sum_squares: 25"));
  // A single value fills one bucket whose limit is that value.
  CHECK_THAT(histograms, Contains("bucket_limit: 0.5") && Contains("bucket: 2"));
  CHECK_THAT(decode(records[3], dir.path()),
             Contains("session_log") && Contains("status: START") && Contains("step: 8"));

  SECTION("the reader is seen to fail: a flipped byte in a record's data, and a cut file") {
    std::string flipped = bytes;
    flipped[bytes.size() - 6] ^= 0x01;
    CHECK_THROWS_WITH(read_records(flipped), Contains("record 3: bad data CRC"));
    std::string bad_length = bytes;
    bad_length[0] ^= 0x01;
    CHECK_THROWS_WITH(read_records(bad_length), Contains("record 0: bad length CRC"));
    CHECK_THROWS_WITH(read_records(bytes.substr(0, bytes.size() - 3)), Contains("cut short"));
  }
  SECTION("an event file is never overwritten") {
    CHECK_THROWS_WITH(bnlab::runs::EventWriter(file), Contains("exists"));
  }
}

TEST_CASE("a run writes TensorBoard events: epoch scalars, step evaluations, BN histograms", "[tensorboard][cli]") {
  bnlab::test::TempDir out;
  auto result = bnlab::test::run_bnlab({"run", "smoke", "--variant", "bn-custom", "--out", out.path().string(), "--set",
                                        "train.eval_every=20", "--set", "log.bn_stats_every=25"});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto run = out / "smoke" / "bn-custom" / "seed-0";
  const auto files = event_files(run);
  REQUIRE(files.size() == 1);
  const auto records = read_records(bnlab::read_whole_file(files[0]));
  std::string text;
  for (const auto& record : records) text += decode(record, out.path());
  // smoke: 1000 samples, batch 32 -> 32 steps an epoch, 2 epochs.
  CHECK(count(text, "tag: \"epoch/val_accuracy\"") == 2);
  CHECK_THAT(text, Contains("step: 32") && Contains("step: 64"));
  CHECK(count(text, "tag: \"step/val_accuracy\"") == 3);      // steps 20, 40, 60
  CHECK(count(text, "tag: \"bn/block1/running_var\"") == 2);  // steps 25, 50
  CHECK(count(text, "tag: \"bn/block2/unit0_input\"") == 2);

  SECTION("log.tensorboard = false writes none") {
    bnlab::test::TempDir quiet;
    REQUIRE(bnlab::test::run_bnlab({"run", "smoke", "--variant", "plain", "--out", quiet.path().string(), "--set",
                                    "log.tensorboard=false"})
                .exit_code == 0);
    CHECK(event_files(quiet / "smoke" / "plain" / "seed-0").empty());
  }
}
