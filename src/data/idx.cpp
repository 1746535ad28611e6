#include "data/idx.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

#include "core/durable_file.h"

namespace bnlab::data {
namespace {

constexpr uint8_t kTypeUnsignedByte = 0x08;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw std::runtime_error(fmt::format("{}: {}", path.string(), problem));
}

uint32_t read_big_endian_u32(const unsigned char* bytes) {
  return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) | (uint32_t(bytes[2]) << 8) |
         uint32_t(bytes[3]);
}

void write_big_endian_u32(AtomicFile& out, uint32_t value) {
  const char bytes[4] = {char(value >> 24), char(value >> 16), char(value >> 8), char(value)};
  out.write(bytes, 4);
}

}  // namespace

torch::Tensor read_idx_u8(const std::filesystem::path& path, int64_t expected_rank) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "missing file");
  const auto file_size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  std::ifstream in(path, std::ios::binary);
  if (!in || ec) fail(path, "cannot open");

  unsigned char magic[4] = {0, 0, 0, 0};
  if (!in.read(reinterpret_cast<char*>(magic), 4))
    fail(path, fmt::format("truncated: {} bytes, too short for an IDX header", file_size));
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != kTypeUnsignedByte)
    fail(path, fmt::format("wrong magic number 0x{:02x}{:02x}{:02x}{:02x} (expected 0x0000{:02x}{:02x}, "
                           "unsigned-byte IDX of rank {})",
                           magic[0], magic[1], magic[2], magic[3], kTypeUnsignedByte, expected_rank,
                           expected_rank));
  if (magic[3] != expected_rank)
    fail(path, fmt::format("wrong rank {} in magic number (expected {})", magic[3], expected_rank));

  std::vector<int64_t> dims(expected_rank);
  int64_t payload = 1;
  bool overflow = false;  // three 32-bit dimensions can multiply past int64 (found by fuzz_idx)
  for (int64_t d = 0; d < expected_rank; ++d) {
    unsigned char bytes[4];
    if (!in.read(reinterpret_cast<char*>(bytes), 4))
      fail(path, fmt::format("truncated: header ends inside dimension {}", d));
    dims[d] = read_big_endian_u32(bytes);
    if (dims[d] == 0) fail(path, fmt::format("dimension {} is zero", d));
    overflow = overflow || __builtin_mul_overflow(payload, dims[d], &payload);
  }
  if (overflow)
    fail(path, fmt::format("truncated: header promises more than 2^63 bytes of data ({}), file has {}",
                           fmt::join(dims, "x"), file_size));

  const int64_t header = 4 + 4 * expected_rank;
  const int64_t expected_size = header + payload;
  if (file_size < expected_size)
    fail(path, fmt::format("truncated: header promises {} bytes of data ({}), file has {}", payload,
                           fmt::join(dims, "x"), file_size - header));
  if (file_size > expected_size)
    fail(path, fmt::format("{} trailing bytes after the {} bytes of data the header promises ({})",
                           file_size - expected_size, payload, fmt::join(dims, "x")));

  auto values = torch::empty(dims, torch::kUInt8);
  if (!in.read(reinterpret_cast<char*>(values.data_ptr<uint8_t>()), payload))
    fail(path, "read error in data");
  return values;
}

void write_idx_u8(const std::filesystem::path& path, const torch::Tensor& values) {
  TORCH_CHECK(values.scalar_type() == torch::kUInt8, "write_idx_u8: expected uint8, got ",
              values.scalar_type());
  AtomicFile out(path);
  const char magic[4] = {0, 0, char(kTypeUnsignedByte), char(values.dim())};
  out.write(magic, 4);
  for (int64_t size : values.sizes()) write_big_endian_u32(out, static_cast<uint32_t>(size));
  auto contiguous = values.contiguous();
  out.write(contiguous.data_ptr<uint8_t>(), size_t(contiguous.numel()));
  out.commit();
}

}  // namespace bnlab::data
