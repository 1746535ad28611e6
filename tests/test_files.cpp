#include <zlib.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "data/catalog.h"
#include "data/fetch.h"
#include "data/files.h"
#include "support/read_files.h"
#include "support/temp_dir.h"

using bnlab::test::read_text;
using namespace bnlab::data;
using Catch::Matchers::Contains;

namespace {

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

void write_gzip(const std::filesystem::path& path, const std::string& text) {
  gzFile out = gzopen(path.c_str(), "wb");
  gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
  gzclose(out);
}

}  // namespace

TEST_CASE("MD5 of files matches the RFC 1321 test vectors", "[data][md5]") {
  bnlab::test::TempDir dir;
  const auto [text, digest] = GENERATE(table<std::string, std::string>({
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
  }));
  write_text(dir / "f", text);
  CHECK(md5_file(dir / "f") == digest);
}

TEST_CASE("MD5 of a missing file names it", "[data][md5]") {
  REQUIRE_THROWS_WITH(md5_file("/nonexistent/bnlab/file"), Contains("/nonexistent/bnlab/file"));
}

TEST_CASE("gunzip restores the original bytes and rejects corrupt input", "[data][gzip]") {
  bnlab::test::TempDir dir;
  std::string payload(200000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 7919) % 251);
  write_gzip(dir / "a.gz", payload);

  SECTION("round trip") {
    gunzip_file(dir / "a.gz", dir / "a");
    CHECK(read_text(dir / "a") == payload);
  }
  SECTION("truncated stream") {
    std::string gz = read_text(dir / "a.gz");
    write_text(dir / "cut.gz", gz.substr(0, gz.size() / 2));
    REQUIRE_THROWS_WITH(gunzip_file(dir / "cut.gz", dir / "cut"), Contains("cut.gz"));
  }
  SECTION("missing source") {
    REQUIRE_THROWS_WITH(gunzip_file(dir / "none.gz", dir / "none"), Contains("none.gz"));
  }
}

TEST_CASE("check_file tells missing, wrong size, wrong checksum and ok apart", "[data][verify]") {
  bnlab::test::TempDir dir;
  const IdxFileSpec spec{"f", "900150983cd24fb0d6963f7d28e17f72", 3};  // "abc"

  CHECK(check_file(spec, dir / "f").state == FileState::kMissing);
  write_text(dir / "f", "abcd");
  auto wrong_size = check_file(spec, dir / "f");
  CHECK(wrong_size.state == FileState::kWrongSize);
  CHECK_THAT(wrong_size.detail, Contains("4 bytes, expected 3"));
  write_text(dir / "f", "abd");
  auto wrong_md5 = check_file(spec, dir / "f");
  CHECK(wrong_md5.state == FileState::kWrongChecksum);
  CHECK_THAT(wrong_md5.detail, Contains("expected 900150983cd24fb0d6963f7d28e17f72"));
  write_text(dir / "f", "abc");
  CHECK(check_file(spec, dir / "f").state == FileState::kOk);
}

TEST_CASE("the catalog knows both data sets with canonical MNIST checksums", "[data][catalog]") {
  const auto& mnist = find_dataset("mnist");
  CHECK(mnist.train_images.md5 == "6bbc9ace898e44ae57da46a324031adb");
  CHECK(mnist.train_labels.md5 == "a25bea736e30d166cdddb491f175f624");
  CHECK(mnist.test_images.md5 == "2646ac647ad5339dbf082846283269ea");
  CHECK(mnist.test_labels.md5 == "27ae3e4e09519cfbb04c329615203637");
  CHECK(find_dataset("fashion-mnist").train_count == 60000);
  REQUIRE_THROWS_WITH(find_dataset("cifar"), Contains("unknown data set 'cifar'") && Contains("mnist"));
}

TEST_CASE("fetching fashion-mnist from a broken source leaves nothing behind", "[data][fetch]") {
  bnlab::test::TempDir source, data_dir;
  setenv("BNLAB_FASHION_MNIST_SOURCE", source.path().c_str(), 1);
  const auto& spec = find_dataset("fashion-mnist");
  for (const auto* file : spec.files()) write_gzip(source / (file->filename + ".gz"), "not idx");
  std::ostringstream log;
  REQUIRE_THROWS_WITH(fetch_dataset(spec, data_dir.path(), log),
                      Contains("failed verification") && Contains("apt-get install dataset-fashion-mnist"));
  // Nothing unverified was moved into place, and the staging folder is gone.
  CHECK(std::filesystem::is_empty(data_dir / "fashion-mnist"));
  unsetenv("BNLAB_FASHION_MNIST_SOURCE");
}
