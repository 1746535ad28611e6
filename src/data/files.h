#pragma once
#include <filesystem>
#include <string>

namespace bnlab::data {

// Lower-case hex MD5 of a file's bytes (OpenSSL EVP). Throws naming the file
// when it cannot be read.
std::string md5_file(const std::filesystem::path& path);

// Decompresses a gzip file with zlib into `destination`. Throws naming the
// source file when it is not valid gzip or is truncated.
void gunzip_file(const std::filesystem::path& source, const std::filesystem::path& destination);

}  // namespace bnlab::data
