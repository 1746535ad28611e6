#include "core/zip_integrity.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace bnlab {
namespace {

// Record signatures and sizes of the zip format (PKWARE APPNOTE 4.3).
constexpr uint32_t kEndRecordSignature = 0x06054b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr size_t kEndRecordSize = 22, kCentralHeaderSize = 46, kLocalHeaderSize = 30;
constexpr size_t kMaxCommentSize = 65535;
constexpr uint16_t kStored = 0, kDeflated = 8;

[[noreturn]] void damaged(const std::string& what) { throw std::runtime_error(what); }

// `size` bytes at `at`, or an error naming `what` when they are not all in the file.
std::string_view slice(std::string_view bytes, uint64_t at, uint64_t size, const std::string& what) {
  if (at > bytes.size() || size > bytes.size() - at)
    damaged(
        fmt::format("{} lies outside the file ({} bytes at offset {}; the file has {})", what, size, at, bytes.size()));
  return bytes.substr(at, size);
}

uint32_t u16(std::string_view b, size_t at) {
  return static_cast<uint8_t>(b[at]) | static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8;
}
uint32_t u32(std::string_view b, size_t at) { return u16(b, at) | u16(b, at + 2) << 16; }

// The end-of-central-directory record: the last 22 bytes, unless a comment
// of up to 64 KB follows it.
size_t find_end_record(std::string_view bytes) {
  if (bytes.size() < kEndRecordSize) damaged(fmt::format("not a zip archive ({} bytes)", bytes.size()));
  const size_t last = bytes.size() - kEndRecordSize;
  const size_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
  for (size_t at = last + 1; at-- > first;)
    if (u32(bytes, at) == kEndRecordSignature) return at;
  damaged("not a zip archive (no end-of-central-directory record)");
}

uint32_t crc_of(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t done = 0; done < data.size();) {
    const uInt n = static_cast<uInt>(std::min<size_t>(data.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), n);
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

// The CRC-32 of a raw deflate stream's output, which must be `size` bytes.
uint32_t crc_of_inflated(std::string_view compressed, uint64_t size, const std::string& name) {
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) damaged("zlib: cannot start inflating");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());  // records over 4 GB are zip64, refused before
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t produced = 0;
  unsigned char chunk[16384];
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = chunk;
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    const size_t n = sizeof chunk - stream.avail_out;
    crc = crc32(crc, chunk, static_cast<uInt>(n));
    produced += n;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended before the stream did
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END || produced != size)
    damaged(fmt::format("record '{}' does not inflate to its {} bytes", name, size));
  return static_cast<uint32_t>(crc);
}

// One central-directory entry at `at`: its record's bytes checked against
// its CRC-32. Returns the offset of the next entry.
size_t check_entry(std::string_view bytes, size_t at) {
  const auto header = slice(bytes, at, kCentralHeaderSize, "a central-directory entry");
  if (u32(header, 0) != kCentralHeaderSignature) damaged(fmt::format("no central-directory entry at offset {}", at));
  const uint32_t method = u16(header, 10), crc = u32(header, 16);
  const uint64_t compressed_size = u32(header, 20), size = u32(header, 24);
  const size_t name_size = u16(header, 28), extra_size = u16(header, 30), comment_size = u16(header, 32);
  const uint64_t local_at = u32(header, 42);
  const std::string name(slice(bytes, at + kCentralHeaderSize, name_size, "a record's name"));
  if (compressed_size == 0xFFFFFFFF || size == 0xFFFFFFFF || local_at == 0xFFFFFFFF)
    damaged(fmt::format("record '{}' is zip64 (over 4 GB), which is not supported", name));
  const auto local = slice(bytes, local_at, kLocalHeaderSize, fmt::format("record '{}'", name));
  if (u32(local, 0) != kLocalHeaderSignature)
    damaged(fmt::format("record '{}': no local header at offset {}", name, local_at));
  // The data follows the local header's own name and extra field (LibTorch
  // pads the extra field to align tensors), not the central entry's.
  const uint64_t data_at = local_at + kLocalHeaderSize + u16(local, 26) + u16(local, 28);
  const auto data = slice(bytes, data_at, compressed_size, fmt::format("record '{}'", name));
  if (method != kStored && method != kDeflated)
    damaged(fmt::format("record '{}': compression method {} is neither stored (0) nor deflate (8)", name, method));
  if (method == kStored && compressed_size != size)
    damaged(fmt::format("record '{}' is stored, but as {} bytes of {}", name, compressed_size, size));
  const uint32_t actual = method == kStored ? crc_of(data) : crc_of_inflated(data, size, name);
  if (actual != crc)
    damaged(fmt::format("record '{}' fails its CRC-32 check (recorded {:08x}, computed {:08x})", name, crc, actual));
  return at + kCentralHeaderSize + name_size + extra_size + comment_size;
}

}  // namespace

void check_zip_integrity(std::string_view bytes) {
  const size_t end = find_end_record(bytes);
  const uint32_t disk = u16(bytes, end + 4), directory_disk = u16(bytes, end + 6);
  const uint32_t entries_here = u16(bytes, end + 8), entries = u16(bytes, end + 10);
  const uint64_t directory_size = u32(bytes, end + 12), directory_at = u32(bytes, end + 16);
  if (entries == 0xFFFF || directory_size == 0xFFFFFFFF || directory_at == 0xFFFFFFFF)
    damaged("a zip64 archive (over 4 GB or 65535 records), which is not supported");
  // One disk, and the two counts and the size of the directory agree: a
  // reader may trust either count (miniz reads the records of one, and
  // this check would otherwise only see those of the other).
  if (disk != 0 || directory_disk != 0 || entries_here != entries)
    damaged(fmt::format("the end record is inconsistent (disk {}, directory on disk {}, {} records on this disk of {})",
                        disk, directory_disk, entries_here, entries));
  size_t at = directory_at;
  for (uint32_t i = 0; i < entries; ++i) at = check_entry(bytes, at);
  if (at != directory_at + directory_size)
    damaged(fmt::format("the central directory is {} bytes, but its {} records take {}", directory_size, entries,
                        at - directory_at));
}

}  // namespace bnlab
