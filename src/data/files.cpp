#include "data/files.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/durable_file.h"

namespace bnlab::data {

std::string md5_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open for hashing", path.string()));

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise MD5");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error(fmt::format("{}: read error while hashing", path.string()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);

  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

void gunzip_file(const std::filesystem::path& source, const std::filesystem::path& destination) {
  gzFile in = gzopen(source.c_str(), "rb");
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", source.string()));
  std::unique_ptr<gzFile_s, decltype(&gzclose)> closer(in, gzclose);
  AtomicFile out(destination);

  std::vector<char> buffer(1 << 20);
  for (;;) {
    int n = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (n < 0) {
      int code = 0;
      throw std::runtime_error(
          fmt::format("{}: not valid gzip data ({})", source.string(), gzerror(in, &code)));
    }
    if (n == 0) break;
    out.write(buffer.data(), size_t(n));
  }
  // gzread stops quietly at a truncated stream; gzerror tells it apart from a clean end.
  int code = 0;
  gzerror(in, &code);
  if (code != Z_OK && code != Z_STREAM_END)
    throw std::runtime_error(fmt::format("{}: truncated or corrupt gzip stream", source.string()));
  out.commit();
}

}  // namespace bnlab::data
